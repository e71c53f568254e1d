"""Speaker diarization: features, clustering, turns, the error rate, and the shipped model on
a two-voice dialogue and a one-voice file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emotrace.config import DiarizationOptions
from emotrace.diarization import (BlockVoices, Diarization, Diarizer, absorb_small, assign_speakers, blocks,
                                  cluster, pooled_stats, turns_from_spans)
from emotrace.errors import ConfigError
from emotrace.fbank import fbank, normalise, num_frames
from emotrace.media import decode_audio
from emotrace.metrics import diarization_error_rate
from emotrace.types import SpeakerTurn

from .conftest import FIXTURES


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_fbank_frames_and_shape():
    assert num_frames(399) == 0 and num_frames(400) == 1 and num_frames(16000) == 98
    feats = fbank(np.random.default_rng(0).standard_normal(16000).astype(np.float32))
    assert feats.shape == (98, 80) and feats.dtype == np.float32 and np.isfinite(feats).all()
    assert np.allclose(normalise(feats).mean(axis=0), 0, atol=1e-4)


def test_fbank_puts_a_tone_in_the_right_band():
    t = np.arange(16000) / 16000
    low = fbank(np.sin(2 * np.pi * 200 * t).astype(np.float32)).mean(axis=0)
    high = fbank(np.sin(2 * np.pi * 4000 * t).astype(np.float32)).mean(axis=0)
    assert np.argmax(low) < 20 < np.argmax(high)


def test_blocks_cut_each_region_into_equal_back_to_back_pieces():
    spans = blocks([(0.0, 4.0), (5.0, 5.8), (6.0, 6.1)], longest=1.5, shortest=0.3)
    assert np.allclose(spans[:3], [(0.0, 4 / 3), (4 / 3, 8 / 3), (8 / 3, 4.0)])
    assert spans[3] == (5.0, 5.8) and len(spans) == 4  # 6.0-6.1 is shorter than `shortest`
    assert blocks([(0.0, 3.0)], longest=1.5, shortest=0.3) == [(0.0, 1.5), (1.5, 3.0)]


def test_pooled_stats_of_halves_equal_the_stats_of_all_frames():
    from emotrace.diarization import _moments

    frames = np.random.default_rng(3).standard_normal((37, 512)).astype(np.float32)
    got = pooled_stats((_moments(frames[:19]), _moments(frames[19:])))
    want = np.concatenate([frames.mean(axis=0), frames.std(axis=0, ddof=1)])
    assert np.allclose(got, want, atol=1e-4)
    assert not pooled_stats(()).any()


def test_cluster_finds_two_groups_and_obeys_counts():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(192), rng.standard_normal(192)
    emb = _unit_rows(np.stack([a + 0.1 * rng.standard_normal(192) for _ in range(10)]
                              + [b + 0.1 * rng.standard_normal(192) for _ in range(10)]))
    labels = cluster(emb, threshold=0.5)
    assert len(set(labels[:10])) == 1 and len(set(labels[10:])) == 1 and labels[0] != labels[10]
    assert len(set(cluster(emb, threshold=0.5, num_speakers=1))) == 1
    assert len(set(cluster(emb, threshold=0.5, max_speakers=1))) == 1
    assert len(set(cluster(emb, threshold=1.9, min_speakers=2))) == 2
    assert list(cluster(emb[:1], threshold=0.5)) == [0]


def test_absorb_small_gives_a_tiny_cluster_to_its_nearest_neighbour():
    emb = _unit_rows(np.array([[1, 0, 0]] * 5 + [[0, 1, 0]] * 5 + [[0.9, 0.1, 0]], dtype=float))
    labels = np.array([0] * 5 + [1] * 5 + [2])
    assert list(absorb_small(labels, emb, smallest=2, keep=1)) == [0] * 5 + [1] * 5 + [0]
    assert len(set(absorb_small(labels, emb, smallest=2, keep=3))) == 3
    seconds = np.array([1.0] * 10 + [2.5])  # weighed in seconds, the lone item is big enough
    assert len(set(absorb_small(labels, emb, smallest=2.0, keep=1, weights=seconds))) == 3


def test_turns_split_between_span_centres_and_merge_runs():
    spans = [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (5.0, 6.0)]
    turns = turns_from_spans([(0.0, 3.0), (5.0, 6.0)], spans, [0, 0, 1, 1])
    assert turns == [(0.0, 2.0, 0), (2.0, 3.0, 1), (5.0, 6.0, 1)]


def test_speakers_are_named_in_order_of_first_appearance():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal(192), rng.standard_normal(192)
    emb = _unit_rows(np.stack([b, b, a, a, b]))
    spans = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    d = assign_speakers([(0, 5)], spans, emb, DiarizationOptions(), threshold=0.5)
    assert d.speakers == ("S1", "S2") and [t.speaker for t in d.turns] == ["S1", "S2", "S1"]


def test_the_stretch_between_disagreeing_blocks_moves_the_change():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal(192), rng.standard_normal(192)
    emb = _unit_rows(np.stack([a, a, b, b]))
    spans = [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 4.0)]
    asked = []

    def between(pairs):  # the stretch 1.5-2.5 s sounds like the first voice
        asked.extend(pairs)
        return _unit_rows(np.stack([a for _ in pairs]))

    plain = assign_speakers([(0, 4)], spans, emb, DiarizationOptions(), threshold=0.5)
    finer = assign_speakers([(0, 4)], spans, emb, DiarizationOptions(), threshold=0.5, between=between)
    assert asked == [1]  # only where back-to-back blocks disagree
    assert [(t.start, t.speaker) for t in plain.turns] == [(0.0, "S1"), (2.0, "S2")]
    assert [(t.start, t.speaker) for t in finer.turns] == [(0.0, "S1"), (2.25, "S2")]


def test_speaker_at_takes_the_larger_share_and_else_the_nearest():
    d = Diarization((SpeakerTurn(0, 2, "S1"), SpeakerTurn(2, 3, "S2"), SpeakerTurn(5, 6, "S1")), ("S1", "S2"))
    assert d.speaker_at(1.5, 2.2) == "S1" and d.speaker_at(1.9, 2.8) == "S2"
    assert d.speaker_at(3.5, 3.8) == "S2" and d.speaker_at(4.6, 4.8) == "S1"
    assert Diarization((), ()).speaker_at(0, 1) is None


def test_options_are_checked():
    with pytest.raises(ConfigError):
        DiarizationOptions(min_speakers=3, max_speakers=2)
    with pytest.raises(ConfigError):
        DiarizationOptions(num_speakers=0)
    with pytest.raises(ConfigError):
        DiarizationOptions(block=3.0)  # longer than the speaker model computes exactly


def test_der_is_zero_for_a_relabelled_match_and_counts_each_error():
    ref = [(0.0, 2.0, "a"), (2.0, 4.0, "b")]
    assert diarization_error_rate(ref, [(0.0, 2.0, "x"), (2.0, 4.0, "y")], collar=0)["der"] == 0.0
    one = diarization_error_rate(ref, [(0.0, 4.0, "x")], collar=0)
    assert one["der"] == pytest.approx(0.5) and one["confusion"] == pytest.approx(2.0)
    missed = diarization_error_rate(ref, [(0.0, 2.0, "x")], collar=0)
    assert missed["der"] == pytest.approx(0.5) and missed["missed"] == pytest.approx(2.0)
    extra = diarization_error_rate(ref, [(0.0, 2.0, "x"), (2.0, 5.0, "y")], collar=0)
    assert extra["false_alarm"] == pytest.approx(1.0)
    late = [(0.2, 2.0, "x"), (2.0, 4.0, "y")]  # 0.2 s late: forgiven inside the 0.25 s collar
    assert diarization_error_rate(ref, late, collar=0.25)["der"] == 0.0
    assert diarization_error_rate(ref, late, collar=0)["der"] == pytest.approx(0.05)


@pytest.fixture(scope="module")
def diarizer() -> Diarizer:
    return Diarizer(DiarizationOptions())


def test_shipped_model_separates_two_voices(diarizer):
    reference = [tuple(t) for t in json.loads((FIXTURES / "two_speakers.json").read_text())["turns"]]
    found = diarizer.diarize(decode_audio(FIXTURES / "two_speakers.ogg"))
    assert found.speakers == ("S1", "S2")
    hyp = [(t.start, t.end, t.speaker) for t in found.turns]
    assert diarization_error_rate(reference, hyp)["der"] < 0.1
    assert diarizer.model_name.startswith("campplus")


def test_block_embeddings_pool_the_trunk_like_the_network(diarizer):
    """The head over pooled halves gives the block's embedding; a stretch across two blocks is
    close to that of the audio cut there (the network hears it with its own context)."""
    audio = decode_audio(FIXTURES / "two_speakers.ogg")[:16000 * 6]
    spans = [(0.5, 2.0), (2.0, 3.5), (1.25, 2.75)]
    voices = BlockVoices.empty(3)
    diarizer.hear(audio, spans, voices)
    assert np.allclose(np.linalg.norm(voices.embeddings, axis=1), 1.0, atol=1e-5)
    across = diarizer.between(voices, [0])[0]
    assert float(across @ voices.embeddings[2]) > 0.8


def test_one_voice_stays_one_speaker(diarizer):
    found = diarizer.diarize(decode_audio(FIXTURES / "dialogue.wav"))
    assert found.speakers == ("S1",) and len(found.turns) >= 5


def test_a_given_count_is_obeyed():
    d = Diarizer(DiarizationOptions(num_speakers=3))
    assert len(d.diarize(decode_audio(FIXTURES / "two_speakers.ogg")).speakers) == 3


def test_silence_gives_no_turns(diarizer):
    found = diarizer.diarize(np.zeros(16000 * 2, dtype=np.float32))
    assert found.turns == () and found.speakers == ()


@pytest.mark.slow
def test_the_pipeline_names_speakers_and_takes_a_count_per_file():
    from emotrace import DiarizationOptions as Options
    from emotrace import Pipeline, PipelineConfig

    pipeline = Pipeline(PipelineConfig(modalities=("text",)))
    result = pipeline.analyze(FIXTURES / "two_speakers.ogg")
    said = [r.utterance.speaker for r in result.utterances]
    assert set(said) == {"S1", "S2"} and said[0] == "S1"
    summary = result.metadata["speakers"]
    assert list(summary) == ["S1", "S2"] and summary["S1"]["talk_time"] > summary["S2"]["talk_time"] > 0
    assert sum(s["utterances"] for s in summary.values()) == len(result.utterances)
    assert abs(sum(summary["S2"]["emotions"].values()) - 1) < 1e-3
    assert result.metadata["models"]["speakers"].startswith("campplus")
    three = pipeline.analyze(FIXTURES / "two_speakers.ogg", speakers=3)
    assert len(three.metadata["speakers"]) == 3
    with pytest.raises(ConfigError):
        pipeline.analyze(FIXTURES / "two_speakers.ogg", speakers=0)
    off = Pipeline(PipelineConfig(modalities=("text",), diarization=Options(enabled=False)),
                   transcriber=pipeline.transcriber, scorers=pipeline.scorers)
    plain = off.analyze(FIXTURES / "two_speakers.ogg")
    assert all(r.utterance.speaker is None for r in plain.utterances) and "speakers" not in plain.metadata
    with pytest.raises(ConfigError):
        off.analyze(FIXTURES / "two_speakers.ogg", speakers=2)
