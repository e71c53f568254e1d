"""Reading media with PyAV: probing, decoding to 16 kHz mono, sampling frames, clear errors."""

from __future__ import annotations


import numpy as np
import pytest

from emotrace.errors import MediaError
from emotrace.media import decode_audio, frame_sampler, iter_frames, probe
from emotrace.modalities.base import SAMPLE_RATE

from .conftest import FIXTURES, shared_data


def test_probe_video_with_audio():
    info = probe(FIXTURES / "dialogue.mp4")
    assert info.has_audio and info.has_video
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    assert (info.width, info.height) == (160, 120)
    assert info.fps == pytest.approx(10.0)
    assert 22.0 < info.duration < 24.5


def test_probe_audio_only_and_video_only():
    wav = probe(FIXTURES / "dialogue.wav")
    assert wav.has_audio and not wav.has_video and wav.sample_rate == 16000 and wav.channels == 1
    silent = probe(FIXTURES / "no_audio.mp4")
    assert silent.has_video and not silent.has_audio


def test_decode_gives_16k_mono_float32_of_the_right_length():
    for name in ("dialogue.mp4", "dialogue.wav"):
        audio = decode_audio(FIXTURES / name)
        assert audio.dtype == np.float32 and audio.ndim == 1
        assert abs(len(audio) / SAMPLE_RATE - probe(FIXTURES / "dialogue.wav").duration) < 0.1
        assert 0.1 < np.abs(audio).max() <= 1.0


def test_mp4_and_wav_decode_to_the_same_signal():
    a, b = decode_audio(FIXTURES / "dialogue.mp4"), decode_audio(FIXTURES / "dialogue.wav")
    n = min(len(a), len(b))
    # AAC at 32 kb/s is lossy and may shift by its priming samples: compare loudness envelopes.
    env = lambda x: np.sqrt(np.mean(x[: n // 1600 * 1600].reshape(-1, 1600) ** 2, axis=1))  # noqa: E731
    assert np.corrcoef(env(a), env(b))[0, 1] > 0.95


def test_silence_decodes_to_zeros():
    audio = decode_audio(FIXTURES / "silence.wav")
    assert len(audio) == 2 * SAMPLE_RATE and not np.any(audio)


def test_resamples_to_another_rate():
    audio = decode_audio(FIXTURES / "dialogue.wav", sample_rate=8000)
    assert abs(len(audio) / 8000 - 23.3) < 0.1


@pytest.mark.parametrize("name, reason", [
    ("not_media.mp4", "not a readable media file"),
    ("missing.mp4", "no such file"),
])
def test_not_media_and_missing_files_are_refused_with_name_and_reason(name, reason):
    for fn in (probe, decode_audio):
        with pytest.raises(MediaError, match=reason) as e:
            fn(FIXTURES / name)
        assert name in str(e.value)


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(MediaError, match="not a regular file"):
        probe(tmp_path)


def test_video_without_audio_has_no_audio_track():
    with pytest.raises(MediaError, match="no_audio.mp4: has no audio track"):
        decode_audio(FIXTURES / "no_audio.mp4")


def test_truncated_file_is_refused_or_decodes_what_is_there(tmp_path):
    broken = tmp_path / "broken.mp4"
    data = (FIXTURES / "dialogue.mp4").read_bytes()
    broken.write_bytes(data[: len(data) // 3])
    try:
        audio = decode_audio(broken)
    except MediaError as e:
        assert "broken.mp4" in str(e)
    else:
        assert 0 < len(audio) / SAMPLE_RATE < 23.0


def test_garbage_after_a_valid_header_is_refused(tmp_path):
    bad = tmp_path / "garbage.wav"
    data = bytearray((FIXTURES / "silence.wav").read_bytes()[:44])
    bad.write_bytes(bytes(data[:12]) + b"\x00" * 20)
    with pytest.raises(MediaError, match="garbage.wav"):
        decode_audio(bad)


def sampled(path, fps, max_side=0):
    pairs = list(iter_frames(path, fps, max_side))
    return np.array([t for t, _ in pairs]), [f for _, f in pairs]


def test_frames_are_sampled_at_the_requested_rate():
    times, frames = sampled(FIXTURES / "dialogue.mp4", fps=2.0)
    assert len(frames) == len(times) and 44 <= len(frames) <= 48
    assert np.all(np.diff(times) > 0.4)
    f = frames[0]
    assert f.shape == (120, 160, 3) and f.dtype == np.uint8 and f.std() > 5  # a real picture


def test_sampled_frames_scale_down_and_stream():
    times, frames = sampled(FIXTURES / "no_audio.mp4", fps=1.0, max_side=80)
    assert frames[0].shape == (60, 80, 3) and len(frames) == 3
    first = next(iter_frames(FIXTURES / "no_audio.mp4", fps=1.0))
    assert first[0] == 0.0
    # a sampler starts a fresh pass per call, at the smaller of its own and the asked size
    sampler = frame_sampler(FIXTURES / "no_audio.mp4", 1.0, max_side=80)
    assert [f.shape for _, f in sampler(grey=True)] == [(60, 80)] * 3
    assert next(sampler(max_side=40))[1].shape == (30, 40, 3)


def test_audio_file_has_no_frames():
    with pytest.raises(MediaError, match="no video stream"):
        next(iter_frames(FIXTURES / "dialogue.wav", fps=1.0))


def test_other_containers(tmp_path):
    """flac, ogg, mp3, m4a, mkv and webm files made from the fixture's audio with PyAV itself."""
    import av

    src = decode_audio(FIXTURES / "dialogue.wav")[: SAMPLE_RATE * 3]
    for ext, codec, rate in ((".flac", "flac", 16000), (".ogg", "libopus", 48000),
                             (".mp3", "libmp3lame", 16000), (".m4a", "aac", 16000),
                             (".mkv", "aac", 16000), (".webm", "libopus", 48000), (".ts", "mp2", 16000)):
        path = tmp_path / f"clip{ext}"
        with av.open(str(path), "w") as out:
            stream = out.add_stream(codec, rate=rate)
            stream.layout = "mono"
            frame = av.AudioFrame.from_ndarray(src.reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate = SAMPLE_RATE
            for packet in stream.encode(frame):
                out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
        audio = decode_audio(path)
        assert abs(len(audio) / SAMPLE_RATE - 3.0) < 0.1, ext
        assert probe(path).has_audio


def test_jfk_flac_decodes():
    audio = decode_audio(shared_data("media", "jfk.flac"))
    assert 10.5 < len(audio) / SAMPLE_RATE < 11.5


def test_talking_head_videos_probe():
    folder = shared_data("media", "talking-head")
    for mp4 in sorted(folder.glob("*.mp4")):
        info = probe(mp4)
        assert info.has_audio and info.has_video and 3 < info.duration < 10


def test_grey_frames_and_skipped_samples():
    """Grey frames come scaled by FFmpeg; samples refused by ``want`` keep the grid but are not yielded."""
    rgb = list(iter_frames(FIXTURES / "dialogue.mp4", fps=2.0, max_side=80))
    grey = list(iter_frames(FIXTURES / "dialogue.mp4", fps=2.0, max_side=80, grey=True))
    assert [t for t, _ in grey] == [t for t, _ in rgb]
    assert grey[0][1].shape == (60, 80) and grey[0][1].dtype == np.uint8
    # FFmpeg's grey is the luma of the same picture
    luma = rgb[3][1].astype(np.float64) @ [0.299, 0.587, 0.114]
    assert np.abs(luma - grey[3][1]).mean() < 6
    asked = []
    odd = list(iter_frames(FIXTURES / "dialogue.mp4", fps=2.0, max_side=80, grey=True,
                           want=lambda t: asked.append(t) or round(t * 2) % 2 == 1))
    assert asked == [t for t, _ in rgb]
    assert [t for t, _ in odd] == [t for t, _ in rgb if round(t * 2) % 2 == 1]
