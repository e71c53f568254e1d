"""Reading media with PyAV (FFmpeg's libraries, no ``ffmpeg`` program needed).

:func:`probe` says what a file holds, :func:`decode_audio_source` gives its first audio track
as 16 kHz mono float32 read by span (:func:`decode_audio`: as one array, for clips), and
:func:`iter_frames` streams frames at a few per second for modalities that look at faces.
Every failure is a :class:`~emotrace.errors.MediaError` that names the file and the reason:
missing, not media, corrupt, or without the needed stream.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .audio_source import IN_MEMORY_SECONDS, SAMPLE_RATE, AudioSource, AudioWriter
from .errors import MediaError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe` found in a file.

    Attributes:
        path: the file.
        format: the container format FFmpeg detected (``"mov,mp4,m4a,3gp,3g2,mj2"``, ``"wav"`` …).
        duration: seconds (0.0 when the container does not say).
        audio_codec, sample_rate, channels: the first audio stream, or None without one.
        video_codec, width, height, fps: the first video stream, or None without one.
    """

    path: str
    format: str
    duration: float
    audio_codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    video_codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None

    @property
    def has_audio(self) -> bool:
        """Whether the file has an audio stream."""
        return self.audio_codec is not None

    @property
    def has_video(self) -> bool:
        """Whether the file has a (moving picture) video stream."""
        return self.video_codec is not None


def _open(path: str | Path):
    import av

    p = Path(path)
    if not p.exists():
        raise MediaError(f"{p}: no such file")
    if not p.is_file():
        raise MediaError(f"{p}: not a regular file")
    try:
        return av.open(str(p), mode="r")
    except av.FFmpegError as e:
        raise MediaError(f"{p}: not a readable media file ({_reason(e)})") from e


def _reason(e: Exception) -> str:
    # PyAV messages repeat the path; keep FFmpeg's own words only.
    return str(getattr(e, "strerror", None) or e).strip() or type(e).__name__


_ATTACHED_PIC = 0x0400  # FFmpeg's AV_DISPOSITION_ATTACHED_PIC


def _is_still_image(stream) -> bool:
    # Cover art in audio files is a one-frame "video" stream: no video for our purposes.
    return bool(int(stream.disposition) & _ATTACHED_PIC)


def probe(path: str | Path) -> MediaInfo:
    """Read a file's container header and describe its streams.

    Raises:
        MediaError: the file is missing, not media, or has neither audio nor video.
    """
    with _open(path) as c:
        audio = c.streams.audio[0] if c.streams.audio else None
        videos = [s for s in c.streams.video if not _is_still_image(s)]
        video = videos[0] if videos else None
        if audio is None and video is None:
            raise MediaError(f"{path}: holds neither an audio nor a video stream")
        duration = c.duration / 1_000_000 if c.duration else 0.0
        if not duration:
            spans = [float(s.duration * s.time_base) for s in (audio, video)
                     if s is not None and s.duration and s.time_base]
            duration = max(spans, default=0.0)
        fps = float(video.average_rate) if video is not None and video.average_rate else None
        return MediaInfo(
            path=str(path), format=c.format.name, duration=float(duration),
            audio_codec=audio.codec_context.name if audio is not None else None,
            sample_rate=audio.codec_context.sample_rate if audio is not None else None,
            channels=audio.codec_context.channels if audio is not None else None,
            video_codec=video.codec_context.name if video is not None else None,
            width=video.codec_context.width if video is not None else None,
            height=video.codec_context.height if video is not None else None,
            fps=fps)


def decode_audio(path: str | Path, sample_rate: int = SAMPLE_RATE,
                 max_seconds: float | None = None) -> np.ndarray:
    """Decode the first audio track, mixed down to mono float32 in [-1, 1] at ``sample_rate``,
    as one array (for clips; a whole file of any length: :func:`decode_audio_source`).

    Raises:
        MediaError: as :func:`decode_audio_source`.
    """
    return decode_audio_source(path, sample_rate, max_seconds, memory_seconds=math.inf).read()


def decode_audio_source(path: str | Path, sample_rate: int = SAMPLE_RATE,
                        max_seconds: float | None = None,
                        memory_seconds: float = IN_MEMORY_SECONDS) -> AudioSource:
    """Decode the first audio track, mixed down to mono float32 in [-1, 1] at ``sample_rate``.

    Packets that fail to decode are skipped (a damaged stretch becomes a gap, as in a media
    player); a file where nothing decodes is refused. ``max_seconds`` stops decoding as soon as
    the audio passes it: the limit holds even for a container whose header gives no duration.
    Samples are written out as they are decoded: past ``memory_seconds`` they go to a temporary
    file (see :class:`~emotrace.audio_source.AudioSource`), so memory does not grow with the
    file's length.

    Raises:
        MediaError: missing or not media, no audio track, no audio could be decoded, or
            longer than ``max_seconds``.
    """
    import av

    writer = AudioWriter(sample_rate, memory_seconds)
    with _open(path) as c:
        if not c.streams.audio:
            raise MediaError(f"{path}: has no audio track")
        stream = c.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        bad, decoded, started, base = 0, 0, False, _start_time(c)
        room = None if max_seconds is None else int(max_seconds * sample_rate)

        def put(frame) -> None:
            nonlocal decoded
            for out in resampler.resample(frame):
                x = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                writer.append(np.clip(x, -1.0, 1.0))
                decoded += len(x)
                if room is not None and decoded > room:
                    raise MediaError(f"{path}: lasts more than the {max_seconds:.0f} s allowed")

        try:
            for packet in c.demux(stream):
                try:
                    frames = packet.decode()
                except av.FFmpegError:
                    bad += 1
                    continue
                for frame in frames:
                    if not started:
                        started = True
                        offset = max(0.0, frame.time - base) if frame.time is not None else 0.0
                        if offset and offset < 3600:
                            # A track that starts late keeps its place on the file's timeline.
                            writer.append_zeros(int(round(offset * sample_rate)))
                    put(frame)
            put(None)
        except av.FFmpegError as e:  # demuxing itself failed: the container is damaged
            if not decoded:
                raise MediaError(f"{path}: corrupt audio ({_reason(e)})") from e
            log.warning("%s: audio stops early at a damaged spot (%s)", path, _reason(e))
    if not decoded:
        why = f"{bad} damaged packets" if bad else "the track is empty"
        raise MediaError(f"{path}: no audio could be decoded ({why})")
    if bad:
        log.warning("%s: skipped %d audio packets that failed to decode", path, bad)
    return writer.finish()


def _start_time(container) -> float:
    # Times are seconds from the start of the file, whatever the container's own clock says.
    return container.start_time / 1_000_000 if container.start_time else 0.0


def _scaled_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    if not max_side or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    # Even sizes keep FFmpeg's scaler on its fast paths.
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def iter_frames(path: str | Path, fps: float, max_side: int = 0, grey: bool = False,
                want: Callable[[float], bool] | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(seconds, HxWx3 uint8 RGB frame)`` about ``fps`` times per second of video.

    Frames are decoded as they are read and none is kept: a pass over a long video needs the
    memory of one frame. Every frame of the video is decoded (compressed video cannot be read
    otherwise), but only the sampled ones are converted.

    Args:
        path: a file with a video stream.
        fps: samples per second (each is the first decoded frame at or after its time).
        max_side: scale frames down so the longer side is at most this (0: original size).
        grey: yield HxW uint8 grey frames instead (converted and scaled by FFmpeg in one step).
        want: if given, samples at times it refuses are skipped without being converted (the
            sampling grid stays the same).

    Raises:
        MediaError: missing or not media, no video stream, or nothing could be decoded.
    """
    import av

    if not fps > 0:
        raise MediaError(f"{path}: frame rate to sample must be positive, got {fps}")
    step = 1.0 / fps
    with _open(path) as c:
        videos = [s for s in c.streams.video if not _is_still_image(s)]
        if not videos:
            raise MediaError(f"{path}: has no video stream")
        stream = videos[0]
        stream.thread_type = "AUTO"
        size = _scaled_size(stream.codec_context.width, stream.codec_context.height, max_side)
        next_time, count, base = -math.inf, 0, _start_time(c)
        pixels = "gray" if grey else "rgb24"
        try:
            for frame in c.decode(stream):
                if frame.time is None:
                    continue
                t = max(0.0, frame.time - base)
                if t + 1e-6 < next_time:
                    continue
                if want is None or want(t):
                    yield t, frame.to_ndarray(format=pixels, width=size[0], height=size[1])
                count += 1
                # Stay on the fps grid even when the video's own frame rate is irregular.
                next_time = (math.floor(t / step + 1e-6) + 1) * step
        except av.FFmpegError as e:
            if not count:
                raise MediaError(f"{path}: corrupt video ({_reason(e)})") from e
            log.warning("%s: video stops early at a damaged spot (%s)", path, _reason(e))


def frame_sampler(path: str | Path, fps: float, max_side: int = 0
                  ) -> Callable[..., Iterator[tuple[float, np.ndarray]]]:
    """A callable starting a fresh :func:`iter_frames` pass over ``path`` per call, keeping nothing.

    Its keywords: ``grey`` (grey frames), ``max_side`` (a smaller size than this one's: the
    smaller of the two is used) and ``want`` (see :func:`iter_frames`).
    """
    configured = max_side

    def stream(grey: bool = False, max_side: int = 0, want: Callable[[float], bool] | None = None):
        side = min(max_side, configured) if max_side and configured else (max_side or configured)
        return iter_frames(path, fps, side, grey=grey, want=want)

    return stream
