"""Long audio costs the memory of one window: audio read by span from a temporary file, and the
recogniser and the voice's encoder fed a window at a time, cut at silences."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from emotrace.audio_source import AudioSource, AudioWriter
from emotrace.media import SAMPLE_RATE, decode_audio, decode_audio_source
from emotrace.modalities.base import MediaContext
from emotrace.windows import quietest_point, windows

from .conftest import FIXTURES


def spilled(samples: np.ndarray) -> AudioSource:
    writer = AudioWriter(SAMPLE_RATE, memory_seconds=0.5)
    for i in range(0, len(samples), 3000):
        writer.append(samples[i:i + 3000])
    return writer.finish()


def test_a_long_signal_is_read_from_a_file_with_the_same_samples():
    x = np.random.default_rng(0).standard_normal(SAMPLE_RATE * 5).astype(np.float32)
    source = spilled(x)
    assert not source.in_memory and len(source) == len(x) and source.duration == 5.0
    assert np.array_equal(source.read(), x)
    assert np.array_equal(source[1234:56789], x[1234:56789]) and np.array_equal(source[-10:], x[-10:])
    assert np.array_equal(source.span(1.25, 2.5), x[20000:40000])
    assert len(source.span(4.5, 99.0)) == SAMPLE_RATE // 2 and len(source.span(3.0, 2.0)) == 0
    out = {}
    threads = [threading.Thread(target=lambda k=k: out.__setitem__(k, source[k * 1000:k * 1000 + 50000]))
               for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(v, x[k * 1000:k * 1000 + 50000]) for k, v in out.items())


def test_a_short_signal_stays_the_array_it_was():
    x = np.zeros(SAMPLE_RATE, np.float32)
    source = AudioSource(x)
    assert source.in_memory and source.read() is x
    writer = AudioWriter()
    writer.append(x)
    assert writer.finish().in_memory


def test_decoding_into_a_file_gives_the_same_samples():
    whole = decode_audio(FIXTURES / "dialogue.mp4")
    source = decode_audio_source(FIXTURES / "dialogue.mp4", memory_seconds=1.0)
    assert not source.in_memory and np.array_equal(source.read(), whole)
    assert decode_audio_source(FIXTURES / "dialogue.mp4").in_memory


def test_media_context_reads_any_span_of_the_audio():
    x = np.arange(SAMPLE_RATE * 3, dtype=np.float32)
    media = MediaContext.of_file("x.wav", spilled(x))
    assert media.duration == 3.0 and np.array_equal(media.audio_span(1.0, 1.5), x[16000:24000])
    wrapped = MediaContext(path="x.wav", duration=3.0, audio=x)  # an array is wrapped, not copied
    assert isinstance(wrapped.audio, AudioSource) and wrapped.audio.read() is x
    assert len(MediaContext.of_file("x.mp4", None).audio_span(0, 1)) == 0


def test_windows_end_in_the_quietest_stretch_and_cover_everything():
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(SAMPLE_RATE * 100) * 0.3).astype(np.float32)
    pauses = [37.0, 71.5]  # one second of near silence each
    for p in pauses:
        x[int(p * SAMPLE_RATE):int((p + 1) * SAMPLE_RATE)] *= 1e-3
    parts = list(windows(spilled(x), window=40.0, search=10.0))
    cuts = [lo / SAMPLE_RATE for lo, _ in parts[1:]]
    assert [abs(c - (p + 0.5)) < 0.3 for c, p in zip(cuts, pauses)] == [True, True] and len(parts) == 3
    assert np.array_equal(np.concatenate([w for _, w in parts]), x)
    assert all(len(w) <= 40 * SAMPLE_RATE for _, w in parts)
    # a signal up to one window long is one window: itself
    short = AudioSource(x[:SAMPLE_RATE * 40])
    assert [(lo, w is short.read() or np.shares_memory(w, short.read())) for lo, w in windows(short, 40.0)] \
        == [(0, True)]
    assert quietest_point(np.zeros(100, np.float32)) == 50


def test_spilled_rows_read_back_as_an_array_would():
    from emotrace.spill import SpilledRows

    x = np.random.default_rng(2).standard_normal((1000, 6)).astype(np.float16)
    rows = SpilledRows(6, np.float16, "test rows")
    rows.append(x[:300])
    rows.append(x[300:])
    assert rows.shape == (1000, 6) and len(rows) == 1000
    assert np.array_equal(rows[10:500], x[10:500]) and np.array_equal(rows[999], x[999])
    assert np.array_equal(rows[-1], x[-1]) and rows[5:5].shape == (0, 6)
    with pytest.raises(IndexError):
        rows[1000]


@pytest.fixture(scope="module")
def transcriber():
    from emotrace.asr import Transcriber

    return Transcriber()


@pytest.fixture(scope="module")
def long_speech(transcriber):
    """The dialogue alone, and three copies of it with silence between them in a signal
    transcribed in 40 s windows (the copies meet the windows' ends)."""
    import emotrace.asr as asr
    import emotrace.windows

    speech = decode_audio(FIXTURES / "dialogue.wav")
    alone = transcriber.transcribe(speech, keep_states=True)
    n = len(speech) / SAMPLE_RATE
    starts = [5.0, 5.0 + n + 2.0, 5.0 + 2 * n + 4.0]  # 2 s of silence between the copies
    x = np.zeros(int((starts[-1] + n + 5.0) * SAMPLE_RATE), np.float32)
    for s in starts:
        x[int(s * SAMPLE_RATE):int(s * SAMPLE_RATE) + len(speech)] = speech
    calls = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(asr, "WINDOW_SECONDS", 40.0)
        mp.setattr(emotrace.windows, "WINDOW_SECONDS", 40.0)
        heard = transcriber.transcribe(spilled(x), hook=lambda *a: calls.append(a), keep_states=True)
        yield speech, alone, spilled(x), starts, heard, calls


def test_long_speech_is_transcribed_a_window_at_a_time_without_losing_words(long_speech):
    from emotrace.spill import SpilledRows

    speech, alone, x, starts, heard, calls = long_speech
    assert heard.text == " ".join([alone.text] * 3)
    for k, s in enumerate(starts):
        mine = heard.words[k * len(alone.words):(k + 1) * len(alone.words)]
        assert max(abs(a.start - (b.start + s)) for a, b in zip(mine, alone.words)) < 0.15
    assert heard.duration == len(x) / SAMPLE_RATE and heard.language == "en"
    assert 2.5 * alone.speech_duration < heard.speech_duration < 3.5 * alone.speech_duration
    # the states are on the file's timeline, kept in a temporary file
    assert isinstance(heard.encoder.states, SpilledRows) and heard.encoder.states.shape[1] == 384
    assert np.all(np.diff(heard.encoder.times) > 0) and heard.encoder.times[-1] < heard.duration
    assert abs(len(heard.encoder) - 3 * len(alone.encoder)) < 0.1 * len(heard.encoder)
    done = [d for stage, d, total in calls]
    assert all(stage == "asr" and total == heard.duration for stage, _, total in calls)
    assert done == sorted(done) and done[-1] == heard.duration


def test_the_voice_hears_a_long_signal_as_it_hears_each_part(long_speech):
    from emotrace.asr_models import default_model_dir
    from emotrace.modalities.audio import VoiceFeatures

    speech, alone, x, starts, heard, _ = long_speech
    voice = VoiceFeatures(default_model_dir(), "int8")
    spans = [(w.start, w.end) for w in alone.words[:6]]
    own = voice.features(speech, spans, alone.encoder)
    for s in starts:
        shifted = [(a + s, b + s) for a, b in spans]
        for states in (heard.encoder, None):  # the recogniser's states, or computed a window at a time
            got = voice.features(x, shifted, states)
            assert got.shape == own.shape
            # acoustics read from the temporary file: the same samples
            assert np.allclose(got[:, -47:], own[:, -47:], atol=1e-3)
            # encoder states pooled over the same words (chunks glued a little differently)
            assert np.corrcoef(got[:, :768].ravel(), own[:, :768].ravel())[0, 1] > 0.9
