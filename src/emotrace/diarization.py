"""Speaker diarization: who spoke when, on the CPU, with ONNX Runtime and no torch.

Speech regions (the Silero VAD that ships inside faster-whisper) are cut into overlapping
windows; the CAM++ speaker model (``models/speaker``) turns each window into a 192-dim voice
embedding; average-linkage agglomerative clustering on cosine distance groups the windows, with
the distance threshold chosen on dialogues (the model card says how) or to a given number of
speakers; every 10 ms of speech takes the speaker of the nearest window centre, and runs of one
speaker are the turns. Speakers are named ``S1``, ``S2``, … in order of first appearance.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Sequence

import numpy as np

from .audio_source import SAMPLE_RATE
from .config import DiarizationOptions
from .errors import ModelError
from .fbank import fbank, normalise
from .models import load_model
from .progress import Hook, no_progress
from .types import SpeakerTurn

_BATCH = 32
_CHUNK = 256  # windows whose features are held at once
COARSE = 4
"""The first look at a file embeds one window in this many (see :meth:`Diarizer.diarize`)."""
_MAX_CLUSTERED = 3000  # more windows than this: cluster an even sample, assign the rest


@dataclass(frozen=True)
class Diarization:
    """The turns found in one file (in time order, not overlapping), and the speakers who
    hold them."""

    turns: tuple[SpeakerTurn, ...]
    speakers: tuple[str, ...]

    @cached_property
    def _bounds(self) -> tuple[list[float], list[float]]:
        return [t.start for t in self.turns], [t.end for t in self.turns]

    def turn_at(self, start: float, end: float) -> int | None:
        """Index of the turn whose speaker holds most of ``[start, end]`` (the turn of theirs
        that overlaps it most), or of the nearest turn when none overlaps; None without turns."""
        if not self.turns:
            return None
        # the turns that can overlap [start, end]: those ending after start, starting before end
        starts, ends = self._bounds
        first, last = bisect_right(ends, start), bisect_left(starts, end)
        held: dict[str, float] = {}
        best: dict[str, tuple[float, int]] = {}
        for i in range(first, last):
            t = self.turns[i]
            overlap = min(end, t.end) - max(start, t.start)
            if overlap > 0:
                held[t.speaker] = held.get(t.speaker, 0.0) + overlap
                if overlap > best.get(t.speaker, (0.0, -1))[0]:
                    best[t.speaker] = (overlap, i)
        if held:
            who = max(held, key=lambda s: (held[s], -self.speakers.index(s)))
            return best[who][1]
        mid = (start + end) / 2
        near = [i for i in (first - 1, first, last - 1, last) if 0 <= i < len(self.turns)]
        return min(sorted(set(near)), key=lambda i: max(self.turns[i].start - mid, mid - self.turns[i].end, 0.0))

    def speaker_at(self, start: float, end: float) -> str | None:
        """The speaker who holds most of ``[start, end]`` (the nearest turn's when none overlaps)."""
        i = self.turn_at(start, end)
        return None if i is None else self.turns[i].speaker

    def interrupted(self, first: int, last: int) -> bool:
        """Whether another speaker holds a turn between turns ``first`` and ``last``."""
        lo, hi = sorted((first, last))
        return any(t.speaker != self.turns[first].speaker for t in self.turns[lo + 1:hi])


def speech_regions(audio, min_silence: float = 0.15, chunk: float = 600.0) -> list[tuple[float, float]]:
    """Speech spans (seconds) found by faster-whisper's Silero VAD, cut at silences ≥ ``min_silence``.

    ``audio`` is 16 kHz mono samples read by slices (an array or an
    :class:`~emotrace.audio_source.AudioSource`), taken ``chunk`` seconds at a time so that
    memory stays flat with the file's length; a region cut by a chunk's end is joined again.
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    opts = VadOptions(min_silence_duration_ms=int(min_silence * 1000), speech_pad_ms=30,
                      min_speech_duration_ms=200)
    step = int(chunk * SAMPLE_RATE)
    out: list[tuple[float, float]] = []
    for offset in range(0, len(audio), step):
        piece = np.asarray(audio[offset:offset + step], dtype=np.float32)
        for s in get_speech_timestamps(piece, opts, sampling_rate=SAMPLE_RATE):
            a, b = (offset + s["start"]) / SAMPLE_RATE, (offset + s["end"]) / SAMPLE_RATE
            if out and a - out[-1][1] < min_silence and offset and s["start"] < SAMPLE_RATE // 10:
                out[-1] = (out[-1][0], b)
            else:
                out.append((a, b))
    return out


def windows(regions: Sequence[tuple[float, float]], length: float, step: float,
            shortest: float) -> list[tuple[float, float]]:
    """Overlapping windows of ``length`` every ``step`` seconds inside each region.

    The last window of a region ends at the region's end; a region shorter than ``length``
    is one window; regions shorter than ``shortest`` give none (their speech takes the nearest
    window's speaker).
    """
    out: list[tuple[float, float]] = []
    for start, end in regions:
        if end - start < shortest:
            continue
        if end - start <= length:
            out.append((start, end))
            continue
        t = start
        while t + length < end:
            out.append((t, t + length))
            t += step
        out.append((end - length, end))
    return out


def cluster(embeddings: np.ndarray, threshold: float, num_speakers: int | None = None,
            min_speakers: int = 1, max_speakers: int = 8) -> np.ndarray:
    """Cluster labels (0, 1, …) for L2-normalised embeddings: average linkage, cosine distance.

    The dendrogram is cut at ``threshold``, or at ``num_speakers`` clusters when given; a count
    outside ``[min_speakers, max_speakers]`` is brought to the nearest bound.
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    n = len(embeddings)
    if n < 2:
        return np.zeros(n, dtype=int)
    z = linkage(embeddings, method="average", metric="cosine")
    if num_speakers:
        labels = fcluster(z, t=min(num_speakers, n), criterion="maxclust")
    else:
        labels = fcluster(z, t=threshold, criterion="distance")
        found = len(set(labels))
        if found > max_speakers:
            labels = fcluster(z, t=max_speakers, criterion="maxclust")
        elif found < min(min_speakers, n):
            labels = fcluster(z, t=min(min_speakers, n), criterion="maxclust")
    return labels - 1


def absorb_small(labels: np.ndarray, embeddings: np.ndarray, smallest: int, keep: int) -> np.ndarray:
    """Give the windows of clusters with fewer than ``smallest`` windows to the nearest larger
    cluster (by centroid cosine), keeping at least ``keep`` clusters."""
    labels = labels.copy()
    while True:
        ids, counts = np.unique(labels, return_counts=True)
        if len(ids) <= keep:
            return labels
        small = ids[counts < smallest]
        big = ids[counts >= smallest]
        if not len(small) or not len(big):
            return labels
        centroids = {i: _unit(embeddings[labels == i].mean(axis=0)) for i in ids}
        worst = small[np.argmin(counts[counts < smallest])]
        target = max(big, key=lambda j: float(centroids[worst] @ centroids[j]))
        labels[labels == worst] = target


def _unit(x: np.ndarray) -> np.ndarray:
    return x / max(float(np.linalg.norm(x)), 1e-8)


def turns_from_windows(regions: Sequence[tuple[float, float]], spans: Sequence[tuple[float, float]],
                       labels: Sequence[int]) -> list[tuple[float, float, int]]:
    """Label every part of every region with the speaker of the nearest window centre and merge
    runs of one speaker into ``(start, end, label)`` turns."""
    if not len(spans):
        return []
    centres = np.array([(a + b) / 2 for a, b in spans])
    order = np.argsort(centres, kind="stable")
    centres, labels = centres[order], np.asarray(labels)[order]
    out: list[tuple[float, float, int]] = []
    for start, end in regions:
        inside = np.nonzero((centres >= start) & (centres <= end))[0]
        if not len(inside):  # a short region without a window: the nearest centre's speaker
            k = int(np.argmin(np.abs(centres - (start + end) / 2)))
            pieces = [(start, end, int(labels[k]))]
        else:
            cuts = [start] + [float((centres[i] + centres[i + 1]) / 2) for i in inside[:-1]] + [end]
            pieces = [(cuts[j], cuts[j + 1], int(labels[i])) for j, i in enumerate(inside)]
        for a, b, lab in pieces:
            if out and out[-1][2] == lab and a - out[-1][1] < 1e-6:
                out[-1] = (out[-1][0], b, lab)
            elif b > a:
                out.append((a, b, lab))
    return out


class Diarizer:
    """The speaker model, loaded once; :meth:`diarize` is thread-safe.

    Raises:
        ModelError: the speaker model folder or its files are missing or unreadable.
    """

    def __init__(self, options: DiarizationOptions = DiarizationOptions()):
        self.options = options
        model = load_model("speaker", options.model, "speaker", options.threads, emotions=False)
        self.info, self.session, self.model_name = model.info, model.session, model.name
        if "threshold" not in self.info:
            raise ModelError(f"the speaker model's config.json in {model.folder} names no clustering threshold")
        self.threshold = options.threshold if options.threshold is not None else float(self.info["threshold"])

    def embed(self, audio, spans: Sequence[tuple[float, float]],
              hook: Hook = no_progress) -> np.ndarray:
        """L2-normalised embeddings (len(spans), 192) of the audio in each span (``audio``: 16 kHz
        samples read by slices, an array or an :class:`~emotrace.audio_source.AudioSource`)."""
        out = np.zeros((len(spans), 192), dtype=np.float32)
        for first in range(0, len(spans), _CHUNK):  # features of one chunk of windows at a time
            groups: dict[int, list[tuple[int, np.ndarray]]] = {}
            for k in range(first, min(first + _CHUNK, len(spans))):
                a, b = spans[k]
                feats = fbank(np.asarray(audio[int(a * SAMPLE_RATE):int(b * SAMPLE_RATE)]))
                if len(feats) == 0:
                    feats = np.zeros((1, 80), dtype=np.float32)
                groups.setdefault(len(feats), []).append((k, normalise(feats)))
            for items in groups.values():  # windows of one length run as one batch
                for i in range(0, len(items), _BATCH):
                    batch = items[i:i + _BATCH]
                    try:
                        emb = self.session.run(None, {"fbank": np.stack([f for _, f in batch])})[0]
                    except Exception as e:  # onnxruntime raises its own untyped errors
                        raise ModelError(f"the speaker model failed: {e}") from e
                    for (k, _), vec in zip(batch, emb):
                        out[k] = _unit(vec)
            hook("speakers", min(first + _CHUNK, len(spans)), len(spans))
        return out

    def diarize(self, audio, hook: Hook = no_progress, num_speakers: int | None = None) -> Diarization:
        """Find the speaker turns in 16 kHz mono ``audio`` (an array or an
        :class:`~emotrace.audio_source.AudioSource`); ``num_speakers`` overrides the options'.

        A first look embeds every :data:`COARSE`-th window only: when those are all one voice,
        the file is one speaker and the other windows are never embedded (a monologue costs a
        quarter of a conversation); otherwise the rest are embedded and all are clustered.
        """
        o = self.options if num_speakers is None else replace(self.options, num_speakers=num_speakers)
        hook("speakers", 0, 1)
        regions = speech_regions(audio)
        spans = windows(regions, o.window, o.step, shortest=0.3)
        one_voice = o.num_speakers == 1 or o.max_speakers == 1  # nothing to tell apart
        emb = np.zeros((len(spans), 192), np.float32)
        if not one_voice and len(spans) >= 2 * COARSE:
            coarse = list(range(0, len(spans), COARSE))
            emb[coarse] = self.embed(audio, [spans[i] for i in coarse])
            one_voice = o.min_speakers == 1 and not o.num_speakers and \
                len(set(cluster(emb[coarse], self.threshold, max_speakers=o.max_speakers))) == 1
            if not one_voice:
                rest = [i for i in range(len(spans)) if i % COARSE]
                emb[rest] = self.embed(audio, [spans[i] for i in rest], hook)
        elif not one_voice and spans:
            emb = self.embed(audio, spans, hook)
        if one_voice:
            result = _named(turns_from_windows(regions, spans, [0] * len(spans)))
        else:
            result = assign_speakers(regions, spans, emb, o, self.threshold,
                                     float(self.info.get("min_speaker_seconds", 0.0)))
        hook("speakers", 1, 1)
        return result


def assign_speakers(regions: Sequence[tuple[float, float]], spans: Sequence[tuple[float, float]],
                    embeddings: np.ndarray, options: DiarizationOptions, threshold: float,
                    min_speaker_seconds: float = 0.0) -> Diarization:
    """Cluster the windows' embeddings and turn the labels into named speaker turns.

    Clusters holding less than ``min_speaker_seconds`` of windows (step-wise) join the nearest
    larger one, unless the number of speakers was given.
    """
    if not len(spans):
        return Diarization((), ())
    o = options
    pick = np.arange(len(embeddings))
    if len(embeddings) > _MAX_CLUSTERED:  # bounded time and memory on long files
        pick = np.linspace(0, len(embeddings) - 1, _MAX_CLUSTERED).round().astype(int)
    sample = embeddings[pick]
    labels = cluster(sample, threshold, o.num_speakers, o.min_speakers, o.max_speakers)
    if not o.num_speakers and min_speaker_seconds > 0:
        smallest = max(1, int(round(min_speaker_seconds / o.step)))
        labels = absorb_small(labels, sample, smallest, keep=o.min_speakers)
    if len(pick) < len(embeddings):
        ids = np.unique(labels)
        centroids = np.stack([_unit(sample[labels == i].mean(axis=0)) for i in ids])
        labels = ids[np.argmax(embeddings @ centroids.T, axis=1)]
    return _named(turns_from_windows(regions, spans, labels))


def _named(turns: Sequence[tuple[float, float, int]]) -> Diarization:
    """Labelled turns with their speakers named S1, S2, … in order of first appearance."""
    names: dict[int, str] = {}
    for _, _, lab in turns:
        names.setdefault(lab, f"S{len(names) + 1}")
    return Diarization(tuple(SpeakerTurn(round(a, 3), round(b, 3), names[lab]) for a, b, lab in turns),
                       tuple(names.values()))
