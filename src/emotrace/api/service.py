"""What the routes call: analyses now (``/predict``) or as stored jobs (``/jobs``).

The HTTP layer only parses requests and shapes answers; this module owns the loaded models,
the job store and the worker pool, and is where a job is admitted, run, reused, recovered
after a restart and deleted. No analysis logic lives here either: that is the pipeline's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Protocol

from ..cache import result_key
from ..errors import ClusterError, ConfigError, EmotraceError, MediaError, ModelError, WorkerLost
from ..progress import Hook
from ..types import AnalysisResult, ModalityScores, Utterance, UtteranceResult
from .middleware import storage_error
from .runner import Runner, Slot
from .settings import Settings
from .store import Job, JobStore
from .uploads import ReceivedForm, StoredFile

log = logging.getLogger(__name__)

JOB_FILE, JOB_AUDIO = "file", "audio_file"
"""The fixed names job uploads are stored under in their directory."""


class UnsupportedMedia(MediaError):
    """An upload is not media at all (the API answers 415, not 422)."""


class AnalysisPipeline(Protocol):
    """What the service needs from :class:`emotrace.pipeline.Pipeline`."""

    def analyze(self, path: Any, *, audio_path: Any = None, transcript: str | None = None,
                hook: Hook | None = None) -> AnalysisResult:
        """Also takes ``speakers=N`` (passed only when a client gives it)."""

    def describe(self) -> dict[str, Any]: ...


class TextModel(Protocol):
    """What the service needs from :class:`emotrace.modalities.text.TextScorer`."""

    model_name: str

    def score(self, texts: list[str]) -> list[Any]: ...


def error_message(exc: BaseException) -> str:
    """A one-line reason for a client, naming the kind of problem."""
    full = storage_error(exc)
    if full is not None:
        return f"storage error: {full}"
    kind = {MediaError: "media error", ConfigError: "invalid option", ModelError: "model error",
            ClusterError: "cluster error"}
    for cls, name in kind.items():
        if isinstance(exc, cls):
            return f"{name}: {exc}"
    return f"internal error: {type(exc).__name__}: {exc}"


UPLOADED, UPLOADED_AUDIO = "the uploaded file", "the uploaded audio file"
"""How a message names an upload whose client gave no file name."""


def hide_paths(message: str, folder: Path | str | None,
               names: Mapping[Path, str] | None = None) -> str:
    """Name the files in a message as the client did, and drop the server's upload directory.

    Args:
        message: an error message that may hold server paths.
        folder: the upload directory.
        names: each stored file's path → the client's name for it.
    """
    for path, shown in (names or {}).items():
        for form in {str(path), str(Path(path).resolve())}:
            message = message.replace(form, shown)
    if not folder:
        return message
    for form in {str(folder), str(Path(folder).resolve())}:
        message = message.replace(form + "/", "").replace(form, "upload")
    return message


SERVER_PATH_KEYS = ("file", "audio_file")
"""Metadata keys holding the server's upload paths; dropped from what clients see."""


def without_paths(result: AnalysisResult) -> AnalysisResult:
    """The result minus metadata that would show where the server keeps uploads."""
    meta = {k: v for k, v in result.metadata.items() if k not in SERVER_PATH_KEYS}
    return dataclasses.replace(result, metadata=meta)


def render_all(result: AnalysisResult) -> dict[str, str]:
    """The result in every export format; ``json`` holds exactly the ``/predict`` answer."""
    from ..export import FORMATS, render

    return {fmt: render(result, fmt) for fmt in FORMATS}


class TooLong(MediaError):
    """The media lasts longer than the server accepts (the API answers 413)."""


def check_media(form: ReceivedForm, fields: list[str], needs_audio: bool,
                max_duration: float | None = None) -> None:
    """Read the headers of uploaded files before queueing them, so bad input fails at once.

    Args:
        form: the upload.
        fields: the file fields holding media; the last one is where the sound comes from.
        needs_audio: whether the sound track must exist (no transcript was given).
        max_duration: longest media accepted, in seconds (None: no limit).

    Raises:
        UnsupportedMedia: a file is not media.
        TooLong: a file's header says it lasts longer than ``max_duration``.
        MediaError: the file meant to give the sound has no audio track.
    """
    from ..media import probe

    info = None
    for name in fields:
        stored = form.files[name]
        shown = stored.filename or UPLOADED
        try:
            info = probe(stored.path)
        except MediaError as e:
            # Name the file as the client did; never reveal where the server keeps it.
            raise UnsupportedMedia(str(e).replace(str(stored.path), shown)) from e
        if max_duration is not None and info.duration > max_duration:
            raise TooLong(f"{shown}: lasts {info.duration:.0f} s, more than the "
                          f"{max_duration:.0f} s allowed (the server's limit, EMOTRACE_MAX_DURATION)")
    if needs_audio and info is not None and not info.has_audio:
        raise MediaError(f"{shown}: has no audio track; send one as audio_file, or the words as text")


class _ProgressWriter:
    """A progress hook that records a job's progress, at most every ``interval`` seconds
    (and always on a new stage or a finished one), so a chatty stage costs no DB traffic.

    ``cancelled()`` says whether the job has been deleted: a pipeline that can stop a running
    analysis (the Ray one) asks it, and frees its worker for the next job."""

    def __init__(self, store: JobStore, job_id: str, interval: float = 0.25):
        self.store, self.job_id, self.interval = store, job_id, interval
        self._last = 0.0
        self._stage: str | None = None

    def __call__(self, stage: str, done: float, total: float) -> None:
        now = time.monotonic()
        if stage != self._stage or done >= total or now - self._last >= self.interval:
            self._stage, self._last = stage, now
            self.store.progress(self.job_id, stage, done, total)

    def cancelled(self) -> bool:
        """Whether the job is gone (deleted while it ran)."""
        return self.store.get(self.job_id) is None


@dataclass
class Service:
    """The loaded models, the job store and the worker pool of one running app.

    Attributes:
        settings: the service settings.
        pipeline: the loaded analysis pipeline (shared by all worker threads).
        text_scorer: the text model, for ``/predict_text`` and text-only ``/predict``.
        store: the SQLite job store.
        runner: the bounded worker pool.
    """

    settings: Settings
    pipeline: AnalysisPipeline
    text_scorer: TextModel
    store: JobStore
    runner: Runner

    def __post_init__(self) -> None:
        self.description = dict(self.pipeline.describe())
        self.settings.upload_dir.mkdir(parents=True, exist_ok=True)

    def cache_key(self, media: StoredFile | None, audio: StoredFile | None, transcript: str | None,
                  speakers: int | None = None) -> str:
        """The key results are stored under: :func:`emotrace.cache.result_key`, as the command
        line's cache keys them (content hashes, transcript, the pipeline's models and options:
        a server restarted with other settings never serves stale results).

        Files are keyed by role (media, separate sound), not by form field, so ``/predict``
        reuses what a job computed and the other way round.
        """
        return result_key(self.description, getattr(self.pipeline, "config", None),
                          media.sha256 if media else None, audio.sha256 if audio else None, transcript,
                          speakers)

    # immediate analyses ----------------------------------------------------------------

    def score_text(self, text: str) -> dict[str, Any]:
        """``/predict_text``: the two ranked lists for one text."""
        return self.text_scorer.score([text])[0].to_dict()

    def text_only_result(self, text: str) -> dict[str, Any]:
        """Text without media, in ``/predict``'s shape: one utterance from 0 to 0 s."""
        scores = self.text_scorer.score([text])[0]
        utt = UtteranceResult(Utterance(0.0, 0.0, text), scores,
                              {"text": ModalityScores(scores, 1.0)})
        meta = {"source": "text", "models": {"text": self.text_scorer.model_name}}
        return AnalysisResult((utt,), meta).to_dict()

    async def analyze_now(self, slot: Slot, form: ReceivedForm, video: str | None,
                          audio: str | None, transcript: str | None,
                          owner: str | None = None, speakers: int | None = None) -> dict[str, Any]:
        """``/predict`` with media: run in the pool and wait, or reuse a stored result.

        Args:
            slot: the admission slot taken for this request (given back when done).
            form: the received upload; this call owns it and deletes its files when the
                analysis ends (even if the client has gone).
            video, audio: the form fields holding the media and the separate sound track.
            transcript: the text given instead of transcribing.
            owner: the API key's tag; only its own jobs' results are reused.
            speakers: the number of speakers, when the client gave it.
        """
        try:
            key = self.cache_key(form.files.get(video or ""), form.files.get(audio or ""), transcript,
                                 speakers)
            stored = self.store.result(key, "json") if self.store.reusable(key, owner) else None
            if stored is not None:
                form.cleanup()
                slot.release()
                return json.loads(stored)
            video_path = form.files[video].path if video else None
            audio_path = form.files[audio].path if audio else None
            future = self.runner.submit(slot, self._analyze_retrying, video_path,
                                        audio_path=audio_path, transcript=transcript,
                                        **({"speakers": speakers} if speakers is not None else {}))
        except BaseException:
            form.cleanup()
            raise
        future.add_done_callback(lambda _f: form.cleanup())
        try:
            result = await asyncio.wrap_future(future)
        except EmotraceError as e:
            names = {f.path: f.filename or (UPLOADED_AUDIO if f.field == audio else UPLOADED)
                     for f in form.files.values()}
            raise type(e)(hide_paths(str(e), form.directory, names)) from e
        return without_paths(result).to_dict()

    def _analyze_retrying(self, path: Path | None, **kwargs: Any) -> AnalysisResult:
        """``pipeline.analyze``, run again when its worker died, up to ``max_attempts`` starts."""
        for attempt in range(1, self.settings.max_attempts + 1):
            try:
                return self.pipeline.analyze(path, **kwargs)
            except EmotraceError as e:
                # WorkerLost: the process analysing it died (a Ray actor, emotrace.distributed);
                # another may succeed. The local pipeline never raises it.
                if not isinstance(e, WorkerLost) or attempt == self.settings.max_attempts:
                    raise
                log.warning("%s; running it again (attempt %d of %d)", e, attempt + 1,
                            self.settings.max_attempts)
        raise AssertionError("unreachable")

    # jobs ------------------------------------------------------------------------------

    def create_job(self, slot: Slot, form: ReceivedForm, transcript: str | None,
                   owner: str | None = None, speakers: int | None = None) -> Job:
        """Store a job for an upload and queue it (or finish it at once from a stored result).

        The upload directory becomes the job's: kept while the job is (the web page plays it,
        ``GET /jobs/{id}/media``), removed if the job fails, when it is deleted, or when it
        passes ``keep_days``. ``owner``: the API key's tag (see
        :func:`~emotrace.api.security.owner_of`).
        """
        media, audio = form.files[JOB_FILE], form.files.get(JOB_AUDIO)
        options = {"transcript": transcript, "separate_audio": audio is not None,
                   **({"speakers": speakers} if speakers is not None else {})}
        job = self.store.create(filename=media.filename, options=options, content_hash=media.sha256,
                                cache_key=self.cache_key(media, audio, transcript, speakers),
                                upload_dir=str(form.directory), owner=owner)
        if job.reused:
            if not job.upload_dir:  # a store that does not keep a reused job's upload
                form.cleanup()
            slot.release()
            return job
        self.runner.submit(slot, self._run_job, job.id)
        return job

    def _run_job(self, job_id: str) -> None:
        job = self.store.start(job_id)
        if job is None:  # deleted while it waited
            return
        kept = False
        try:
            if not job.upload_dir:
                raise FileNotFoundError("the job's upload is gone")
            folder = Path(job.upload_dir)
            audio = folder / JOB_AUDIO if job.options.get("separate_audio") else None
            given = {"speakers": job.options["speakers"]} if job.options.get("speakers") else {}
            result = self.pipeline.analyze(folder / JOB_FILE, audio_path=audio,
                                           transcript=job.options.get("transcript"),
                                           hook=_ProgressWriter(self.store, job_id), **given)
            kept = self.store.finish(job_id, render_all(without_paths(result)))
            if not kept:
                log.info("job %s was deleted while running; its result is dropped", job_id)
        except Exception as e:  # every failure is the job's outcome, reported to its client
            if self.store.closed:  # the server is stopping; its upload stays for the next start
                log.info("job %s stopped by the server's shutdown; the next start runs it again",
                         job_id)
                kept = True
                return
            if isinstance(e, WorkerLost) and self.store.get(job_id) is not None:
                if job.attempts < self.settings.max_attempts:  # on another worker, counted
                    log.warning("job %s: %s; running it again (attempt %d of %d)", job_id, e,
                                job.attempts + 1, self.settings.max_attempts)
                    self.store.requeue(job_id)
                    self.runner.submit(self.runner.reserve(force=True), self._run_job, job_id)
                    kept = True
                    return
                e = type(e)(f"{e}; gave up after {job.attempts} attempt(s)")
            if storage_error(e) is not None:  # the operator must act: say so, without a trace
                log.error("job %s failed: %s", job_id, storage_error(e))
            elif not isinstance(e, EmotraceError):
                log.exception("job %s failed unexpectedly", job_id)
            folder = Path(job.upload_dir) if job.upload_dir else None
            names = {folder / JOB_FILE: job.filename or UPLOADED,
                     folder / JOB_AUDIO: UPLOADED_AUDIO} if folder else {}
            try:
                self.store.fail(job_id, hide_paths(error_message(e), folder, names))
            except Exception as again:  # nothing else would ever say why the job is stuck
                log.error("job %s failed (%s) and the job database cannot record it (%s); it "
                          "shows 'running' until the next start, which fails it", job_id,
                          error_message(e), again)
        finally:
            try:
                if not kept:  # failed or deleted meanwhile; a done job keeps its media for playing
                    self._drop_upload(job)
                if not self.store.closed:
                    self.purge_old()
            except Exception:
                log.exception("job %s: cleaning up after it failed", job_id)

    def purge_old(self) -> int:
        """Remove finished jobs older than ``settings.keep_days`` (none when it is 0)."""
        if self.settings.keep_days <= 0:
            return 0
        before = time.time() - self.settings.keep_days * 86_400
        for job in self.store.finished_before(before):  # their uploads go with them
            if job.upload_dir:
                shutil.rmtree(job.upload_dir, ignore_errors=True)
        n = self.store.purge_finished(before)
        if n:
            log.info("removed %d job(s) finished more than %g day(s) ago", n, self.settings.keep_days)
        return n

    def _drop_upload(self, job: Job) -> None:
        if job.upload_dir:
            shutil.rmtree(job.upload_dir, ignore_errors=True)
            self.store.clear_upload(job.id)

    def delete_job(self, job_id: str) -> Job | None:
        """Remove a job; a running one finishes in the background and its result is dropped."""
        job = self.store.delete(job_id)
        if job is not None and job.status != "running" and job.upload_dir:
            shutil.rmtree(job.upload_dir, ignore_errors=True)
        return job

    def recover(self) -> None:
        """After a restart: re-run (or fail) jobs left queued or running, drop stray uploads."""
        # done jobs keep their media (for the web page's player)
        keep = {Path(j.upload_dir).resolve() for j in self.store.with_status("done") if j.upload_dir}
        for job in self.store.with_status("queued", "running"):
            folder = Path(job.upload_dir) if job.upload_dir else None
            if folder is None or not (folder / JOB_FILE).is_file():
                self.store.fail(job.id, "interrupted by a server restart, and its upload is gone")
            elif not self.settings.requeue_interrupted:
                self.store.fail(job.id, "interrupted by a server restart (re-running is switched off)")
            elif job.attempts >= self.settings.max_attempts:
                self.store.fail(job.id, f"interrupted by a server restart after {job.attempts} "
                                        "attempt(s); not run again in case the file itself stops the server")
            else:
                log.info("re-running job %s, interrupted by a restart", job.id)
                self.store.requeue(job.id)
                self.runner.submit(self.runner.reserve(force=True), self._run_job, job.id)
                keep.add(folder.resolve())
                continue
            self._drop_upload(job)
        for folder in self.settings.upload_dir.iterdir():
            if folder.is_dir() and folder.resolve() not in keep:
                shutil.rmtree(folder, ignore_errors=True)
        self.purge_old()

    def close(self) -> None:
        """Stop the pool and close the store, checkpointed (queued jobs stay queued for the
        next start; a running one stops at its next progress report and runs again then)."""
        self.runner.shutdown(wait=False)
        self.store.close()
