"""Speaker diarization: who spoke when, on the CPU, with ONNX Runtime and no torch.

Speech regions (the Silero VAD that ships inside faster-whisper) are cut into blocks of at most
1.5 s; the CAM++ speaker model (``models/speaker``) turns each block's frames into features and
those into a 192-dim voice embedding, so every frame of speech goes through the network once.
Average-linkage agglomerative clustering on cosine distance groups the blocks, with the distance
threshold chosen on dialogues (the model card says how) or to a given number of speakers. Where
two neighbouring blocks disagree, the stretch from one's middle to the other's is embedded from
the frames already computed and given to the nearest speaker, which places the change to within a
quarter of a block. Every 10 ms of speech takes the speaker of the nearest block or stretch
centre, and runs of one speaker are the turns. Speakers are named ``S1``, ``S2``, … in order of
first appearance.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Callable, Sequence

import numpy as np

from .audio_source import SAMPLE_RATE
from .config import DiarizationOptions
from .errors import ModelError
from .fbank import fbank, normalise
from .models import load_model
from .onnx_runtime import onnx_session
from .progress import Hook, no_progress
from .types import SpeakerTurn

_BATCH = 32
_CHUNK = 256  # blocks whose filterbanks are held at once
COARSE = 2
"""The first look at a file embeds one block in this many (see :meth:`Diarizer.diarize`)."""
_MAX_CLUSTERED = 3000  # more blocks than this: cluster an even sample, assign the rest


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


def blocks(regions: Sequence[tuple[float, float]], longest: float,
           shortest: float) -> list[tuple[float, float]]:
    """Each region cut into the fewest equal, back-to-back blocks of at most ``longest`` seconds.

    Regions shorter than ``shortest`` give none (their speech takes the nearest block's speaker).
    """
    out: list[tuple[float, float]] = []
    for start, end in regions:
        if end - start < shortest:
            continue
        n = max(1, math.ceil((end - start) / longest - 1e-9))
        edges = np.linspace(start, end, n + 1)
        out += [(float(a), float(b)) for a, b in zip(edges[:-1], edges[1:])]
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


def absorb_small(labels: np.ndarray, embeddings: np.ndarray, smallest: float, keep: int,
                 weights: np.ndarray | None = None) -> np.ndarray:
    """Give the items of clusters weighing less than ``smallest`` to the nearest heavier cluster
    (by centroid cosine), keeping at least ``keep`` clusters. ``weights`` (default: one per
    item) are the blocks' seconds in the diarizer."""
    labels = labels.copy()
    weights = np.ones(len(labels)) if weights is None else np.asarray(weights, dtype=float)
    while True:
        ids = np.unique(labels)
        if len(ids) <= keep:
            return labels
        mass = np.array([weights[labels == i].sum() for i in ids])
        small, big = ids[mass < smallest], ids[mass >= smallest]
        if not len(small) or not len(big):
            return labels
        centroids = {i: _unit(embeddings[labels == i].mean(axis=0)) for i in ids}
        worst = ids[np.argmin(np.where(mass < smallest, mass, np.inf))]
        target = max(big, key=lambda j: float(centroids[worst] @ centroids[j]))
        labels[labels == worst] = target


def _unit(x: np.ndarray) -> np.ndarray:
    return x / max(float(np.linalg.norm(x)), 1e-8)


def turns_from_spans(regions: Sequence[tuple[float, float]], spans: Sequence[tuple[float, float]],
                       labels: Sequence[int]) -> list[tuple[float, float, int]]:
    """Label every part of every region with the speaker of the nearest span centre (blocks and
    the stretches between them) and merge runs of one speaker into ``(start, end, label)`` turns."""
    if not len(spans):
        return []
    centres = np.array([(a + b) / 2 for a, b in spans])
    order = np.argsort(centres, kind="stable")
    centres, labels = centres[order], np.asarray(labels)[order]
    out: list[tuple[float, float, int]] = []
    for start, end in regions:
        inside = np.nonzero((centres >= start) & (centres <= end))[0]
        if not len(inside):  # a short region without a block: the nearest centre's speaker
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


@dataclass(frozen=True)
class BlockVoices:
    """What the speaker model heard in each block.

    Attributes:
        embeddings: ``(blocks, 192)`` L2-normalised voice embeddings (zeros for blocks not heard).
        halves: ``(blocks, 2, 3, 512)``: for each block's first and second half, the number of
            trunk frames (repeated), and the mean and the mean square of their features; enough
            to embed any stretch made of halves without keeping the frames.
    """

    embeddings: np.ndarray
    halves: np.ndarray

    @classmethod
    def empty(cls, n: int) -> "BlockVoices":
        return cls(np.zeros((n, 192), np.float32), np.zeros((n, 2, 3, 512), np.float32))


def _moments(frames: np.ndarray) -> np.ndarray:
    """``(3, 512)``: frame count, mean and mean square of ``(time, 512)`` features."""
    return np.stack([np.full(frames.shape[1], len(frames), np.float32),
                     frames.mean(axis=0), (frames * frames).mean(axis=0)]) if len(frames) else \
        np.zeros((3, frames.shape[1]), np.float32)


def pooled_stats(parts: Sequence[np.ndarray]) -> np.ndarray:
    """The head's input ``(1024,)``, mean and unbiased standard deviation over time, of the
    frames summarised by ``parts`` (each ``(3, 512)`` as in :attr:`BlockVoices.halves`)."""
    n = sum(float(p[0, 0]) for p in parts)
    if n <= 0:
        return np.zeros(1024, np.float32)
    mean = sum(p[0, 0] * p[1].astype(np.float64) for p in parts) / n
    square = sum(p[0, 0] * p[2].astype(np.float64) for p in parts) / n
    var = np.maximum(square - mean * mean, 0.0) * (n / max(n - 1.0, 1.0))
    return np.concatenate([mean, np.sqrt(var)]).astype(np.float32)


class Diarizer:
    """The speaker model, loaded once; :meth:`diarize` is thread-safe.

    Raises:
        ModelError: the speaker model folder or its files are missing or unreadable.
    """

    def __init__(self, options: DiarizationOptions = DiarizationOptions()):
        self.options = options
        model = load_model("speaker", options.model, "speaker", options.threads, emotions=False,
                           required=("config.json", "model.onnx", "head.onnx"))
        self.info, self.session, self.model_name = model.info, model.session, model.name
        self.head = onnx_session(model.folder / "head.onnx", options.threads)
        if "threshold" not in self.info:
            raise ModelError(f"the speaker model's config.json in {model.folder} names no clustering threshold")
        longest = float(self.info.get("longest_block", options.block))
        if options.block > longest + 1e-9:
            raise ModelError(f"the speaker model in {model.folder} takes blocks of at most {longest:g} s; "
                             f"DiarizationOptions.block is {options.block:g}")
        self.threshold = options.threshold if options.threshold is not None else float(self.info["threshold"])
        self.min_speaker_seconds = float(self.info.get("min_speaker_seconds", 0.0))

    def _run(self, session, inputs: dict[str, np.ndarray]) -> np.ndarray:
        try:
            return session.run(None, inputs)[0]
        except Exception as e:  # onnxruntime raises its own untyped errors
            raise ModelError(f"the speaker model failed: {e}") from e

    def embed_stats(self, stats: np.ndarray) -> np.ndarray:
        """L2-normalised embeddings ``(n, 192)`` from pooled statistics ``(n, 1024)``."""
        if not len(stats):
            return np.zeros((0, 192), np.float32)
        emb = self._run(self.head, {"stats": np.asarray(stats, dtype=np.float32)})
        return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-8)

    def hear(self, audio, spans: Sequence[tuple[float, float]], into: BlockVoices,
             which: Sequence[int] | None = None, hook: Hook = no_progress) -> None:
        """Run the speaker model on blocks ``which`` (default: all) of ``spans`` and store their
        embeddings and half-block moments in ``into`` (``audio``: 16 kHz samples read by slices,
        an array or an :class:`~emotrace.audio_source.AudioSource`)."""
        which = list(range(len(spans))) if which is None else list(which)
        for first in range(0, len(which), _CHUNK):  # filterbanks of one chunk of blocks at a time
            feats: dict[int, np.ndarray] = {}
            for k in which[first:first + _CHUNK]:
                a, b = spans[k]
                f = fbank(np.asarray(audio[int(a * SAMPLE_RATE):int(b * SAMPLE_RATE)]))
                feats[k] = normalise(f) if len(f) else np.zeros((1, 80), dtype=np.float32)
            order = sorted(feats, key=lambda k: len(feats[k]))  # similar lengths share a batch
            for i in range(0, len(order), _BATCH):
                batch = order[i:i + _BATCH]
                longest = len(feats[batch[-1]])
                x = np.zeros((len(batch), longest, 80), np.float32)
                mask = np.zeros((len(batch), longest), np.float32)
                for j, k in enumerate(batch):
                    x[j, :len(feats[k])], mask[j, :len(feats[k])] = feats[k], 1.0
                frames = self._run(self.session, {"fbank": x, "mask": mask}).transpose(0, 2, 1)
                stats = []
                for k, f in zip(batch, frames):
                    f = f[:(len(feats[k]) + 1) // 2]  # the block's own frames (the trunk halves time)
                    mid = (len(f) + 1) // 2
                    into.halves[k] = (_moments(f[:mid]), _moments(f[mid:]))
                    stats.append(pooled_stats(into.halves[k]))
                into.embeddings[batch] = self.embed_stats(np.stack(stats))
            hook("speakers", min(first + _CHUNK, len(which)), len(which))

    def between(self, voices: BlockVoices, pairs: Sequence[int]) -> np.ndarray:
        """Embeddings of the stretches from the middle of block ``i`` to the middle of block
        ``i + 1``, for each ``i`` in ``pairs``, from the moments already heard."""
        return self.embed_stats(np.stack([pooled_stats((voices.halves[i, 1], voices.halves[i + 1, 0]))
                                          for i in pairs])) if len(pairs) else np.zeros((0, 192), np.float32)

    def diarize(self, audio, hook: Hook = no_progress, num_speakers: int | None = None) -> Diarization:
        """Find the speaker turns in 16 kHz mono ``audio`` (an array or an
        :class:`~emotrace.audio_source.AudioSource`); ``num_speakers`` overrides the options'.

        A first look hears every :data:`COARSE`-th block only: when those are all one voice,
        the file is one speaker and the other blocks are never heard (a monologue costs half
        as much as a conversation); otherwise the rest are heard and all are clustered.
        """
        o = self.options if num_speakers is None else replace(self.options, num_speakers=num_speakers)
        hook("speakers", 0, 1)
        regions = speech_regions(audio)
        spans = blocks(regions, o.block, shortest=0.3)
        one_voice = o.num_speakers == 1 or o.max_speakers == 1  # nothing to tell apart
        voices = BlockVoices.empty(len(spans))
        if not one_voice and len(spans) >= 2 * COARSE:
            coarse = range(0, len(spans), COARSE)
            self.hear(audio, spans, voices, coarse)
            seconds = [COARSE * (spans[i][1] - spans[i][0]) for i in coarse]  # each stands for COARSE
            one_voice = o.min_speakers == 1 and not o.num_speakers and len(set(cluster_blocks(
                voices.embeddings[coarse], seconds, o, self.threshold, self.min_speaker_seconds))) == 1
            if not one_voice:
                self.hear(audio, spans, voices, [i for i in range(len(spans)) if i % COARSE], hook)
        elif not one_voice and spans:
            self.hear(audio, spans, voices, hook=hook)
        if one_voice:
            result = _named(turns_from_spans(regions, spans, [0] * len(spans)))
        else:
            result = assign_speakers(regions, spans, voices.embeddings, o, self.threshold,
                                     self.min_speaker_seconds, between=lambda pairs: self.between(voices, pairs))
        hook("speakers", 1, 1)
        return result


def cluster_blocks(embeddings: np.ndarray, seconds: Sequence[float], options: DiarizationOptions,
                   threshold: float, min_speaker_seconds: float = 0.0) -> np.ndarray:
    """Cluster labels of blocks (:func:`cluster`); unless the number of speakers was given,
    clusters holding less than ``min_speaker_seconds`` of blocks join the nearest larger one."""
    o = options
    labels = cluster(embeddings, threshold, o.num_speakers, o.min_speakers, o.max_speakers)
    if not o.num_speakers and min_speaker_seconds > 0:
        labels = absorb_small(labels, embeddings, min_speaker_seconds, keep=o.min_speakers,
                              weights=np.asarray(seconds, dtype=float))
    return labels


def assign_speakers(regions: Sequence[tuple[float, float]], spans: Sequence[tuple[float, float]],
                    embeddings: np.ndarray, options: DiarizationOptions, threshold: float,
                    min_speaker_seconds: float = 0.0,
                    between: Callable[[Sequence[int]], np.ndarray] | None = None) -> Diarization:
    """Cluster the blocks' embeddings and turn the labels into named speaker turns.

    Clusters holding less than ``min_speaker_seconds`` of blocks join the nearest larger one,
    unless the number of speakers was given. Where back-to-back blocks ``i`` and ``i + 1``
    disagree, ``between([i, …])`` embeds the stretches from one's middle to the next's, and each
    goes to the nearest speaker's centroid (finer turn changes); without it the change falls
    between the two blocks' centres.
    """
    if not len(spans):
        return Diarization((), ())
    o = options
    pick = np.arange(len(embeddings))
    if len(embeddings) > _MAX_CLUSTERED:  # bounded time and memory on long files
        pick = np.linspace(0, len(embeddings) - 1, _MAX_CLUSTERED).round().astype(int)
    sample = embeddings[pick]
    seconds = np.array([spans[i][1] - spans[i][0] for i in pick]) * (len(spans) / len(pick))
    labels = cluster_blocks(sample, seconds, o, threshold, min_speaker_seconds)
    ids = np.unique(labels)
    centroids = np.stack([_unit(sample[labels == i].mean(axis=0)) for i in ids])
    if len(pick) < len(embeddings):
        labels = ids[np.argmax(embeddings @ centroids.T, axis=1)]
    spans, labels = list(spans), [int(x) for x in labels]
    if between is not None and len(ids) > 1:
        pairs = [i for i in range(len(labels) - 1)
                 if labels[i] != labels[i + 1] and abs(spans[i][1] - spans[i + 1][0]) < 1e-6]
        if pairs:
            found = ids[np.argmax(between(pairs) @ centroids.T, axis=1)]
            for i, lab in zip(pairs, found):
                spans.append(((spans[i][0] + spans[i][1]) / 2, (spans[i + 1][0] + spans[i + 1][1]) / 2))
                labels.append(int(lab))
    return _named(turns_from_spans(regions, spans, labels))


def _named(turns: Sequence[tuple[float, float, int]]) -> Diarization:
    """Labelled turns with their speakers named S1, S2, … in order of first appearance."""
    names: dict[int, str] = {}
    for _, _, lab in turns:
        names.setdefault(lab, f"S{len(names) + 1}")
    return Diarization(tuple(SpeakerTurn(round(a, 3), round(b, 3), names[lab]) for a, b, lab in turns),
                       tuple(names.values()))
