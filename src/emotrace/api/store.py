"""The job store: jobs, their options, progress and results in one SQLite database.

stdlib ``sqlite3`` in WAL mode, so readers never wait for the writer and a crash loses nothing
that was committed. One connection, guarded by a lock, is shared by the event loop and the
worker threads; every statement is tiny (the results are a few kilobytes of text), so the lock
is held for microseconds.

Results are keyed by a *cache key* (content hashes + options + model versions), not by job, so
an identical upload reuses a stored result; a result is dropped when the last job that refers
to it is deleted.

When the server has API keys, each job records its *owner*: a one-way tag of the key that
created it (never the key itself), and the routes show a key only its own jobs and the
unowned ones created while keys were off. Version 1 databases gain the column on opening.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..errors import StorageError
from .walcheck import wal_damage

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
CHECKPOINT_EVERY_S = 60.0
"""Longest time a finished job may live only in the write-ahead log (``-wal``) before it is
copied into the database file itself, which is what a plain file backup holds."""
STATUSES = ("queued", "running", "done", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id           TEXT PRIMARY KEY,
    status       TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    created_at   REAL NOT NULL,
    started_at   REAL,
    finished_at  REAL,
    filename     TEXT NOT NULL DEFAULT '',
    options      TEXT NOT NULL DEFAULT '{}',
    content_hash TEXT NOT NULL,
    cache_key    TEXT NOT NULL,
    upload_dir   TEXT,
    stage        TEXT,
    done         REAL NOT NULL DEFAULT 0,
    total        REAL NOT NULL DEFAULT 0,
    error        TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    reused       INTEGER NOT NULL DEFAULT 0,
    owner        TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS jobs_by_key ON jobs (cache_key);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status);
CREATE TABLE IF NOT EXISTS results (
    cache_key  TEXT NOT NULL,
    format     TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (cache_key, format)
);
"""


def _visible_to(owner: str | None) -> tuple[str, list[str]]:
    """The SQL condition (and its argument) for the jobs ``owner`` may see: its own and the
    unowned ones; every job when ``owner`` is None (keys off)."""
    return ("(owner = ? OR owner IS NULL)", [owner]) if owner is not None else ("", [])


def _damaged(path: str, why: str) -> str:
    return (f"the job database {path} is damaged: {why}. Nothing was changed. Stop any server "
            f"using it, move {path} and its -wal and -shm files aside (keep them), then restore "
            "a backup there, or start without it to begin with no jobs")


@dataclass(frozen=True)
class Job:
    """One row of the ``jobs`` table.

    Attributes:
        id: random hex id.
        status: one of :data:`STATUSES`.
        created_at, started_at, finished_at: UNIX times (the last two None until reached).
        filename: the client's file name, for display only; never used as a path.
        options: what the analysis was asked for (JSON-ready).
        content_hash: SHA-256 of the uploaded bytes.
        cache_key: content + options + model versions; results are stored under it.
        upload_dir: the job's private upload directory, None once removed.
        stage, done, total: the last progress report.
        error: why the job failed.
        attempts: how many times a worker started it.
        reused: whether the result came from an earlier identical job.
        owner: tag of the API key that created the job (None: created while keys were off).
    """

    id: str
    status: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    filename: str
    options: Mapping[str, Any]
    content_hash: str
    cache_key: str
    upload_dir: str | None
    stage: str | None
    done: float
    total: float
    error: str | None
    attempts: int
    reused: bool
    owner: str | None = None

    @property
    def fraction(self) -> float:
        """Progress of the current stage in [0, 1] (1 once done)."""
        if self.status == "done":
            return 1.0
        return min(1.0, max(0.0, self.done / self.total)) if self.total > 0 else 0.0

    @classmethod
    def _from_row(cls, row: sqlite3.Row) -> "Job":
        d = dict(row)
        d["options"] = json.loads(d["options"])
        d["reused"] = bool(d["reused"])
        return cls(**d)


class JobStore:
    """Jobs and results in SQLite; safe to share between threads.

    Args:
        path: the database file (its directory is created). ``":memory:"`` works for tests.
    """

    def __init__(self, path: Path | str):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            # Before SQLite sees it: SQLite would drop a damaged log's jobs without a word.
            damage = wal_damage(f"{self.path}-wal")
            if damage:
                raise StorageError(_damaged(self.path, f"its write-ahead log {self.path}-wal "
                                                       f"is damaged ({damage})"))
        self._lock = threading.RLock()
        self._closed = False
        self._checkpointed = time.monotonic()
        try:
            self._open()
        except sqlite3.DatabaseError as e:
            if getattr(self, "_db", None) is not None:
                self._db.close()
            if isinstance(e, sqlite3.OperationalError):  # permissions, a folder in the way
                raise StorageError(f"the job database {self.path} cannot be opened: {e}") from e
            raise StorageError(_damaged(self.path, str(e))) from e  # "file is not a database"

    def _open(self) -> None:
        # isolation_level=None: autocommit, with explicit BEGIN where several statements
        # must land together.
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                   timeout=30)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            problems = [r[0] for r in self._db.execute("PRAGMA quick_check(5)")]
            if problems != ["ok"]:
                self._db.close()
                raise sqlite3.DatabaseError("; ".join(map(str, problems)))
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
            columns = {r["name"] for r in self._db.execute("PRAGMA table_info(jobs)")}
            if "owner" not in columns:  # a version 1 database: its jobs stay unowned
                self._db.execute("ALTER TABLE jobs ADD COLUMN owner TEXT")
            self._db.execute("CREATE INDEX IF NOT EXISTS jobs_by_owner ON jobs (owner)")
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                             (str(SCHEMA_VERSION),))

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def checkpoint(self, force: bool = False) -> None:
        """Copy what the write-ahead log holds into the database file.

        Without ``force``, only when :data:`CHECKPOINT_EVERY_S` have passed since the last time
        (called after each job ends, so that costs nothing on a busy server); never raises.
        """
        with self._lock:
            now = time.monotonic()
            if self._closed or (not force and now - self._checkpointed < CHECKPOINT_EVERY_S):
                return
            self._checkpointed = now
            try:
                # TRUNCATE leaves an empty log: after a clean stop the file alone is the database.
                self._db.execute(f"PRAGMA wal_checkpoint({'TRUNCATE' if force else 'PASSIVE'})")
            except sqlite3.Error as e:  # a busy or full disk: the log still holds everything
                log.warning("could not checkpoint the job database %s: %s", self.path, e)

    def close(self) -> None:
        """Checkpoint and close the connection (idempotent; the store cannot be used afterwards)."""
        with self._lock:
            if self._closed:
                return
            self.checkpoint(force=True)
            self._closed = True
            self._db.close()

    def _one(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchone()

    def _run(self, sql: str, args: Iterable[Any] = ()) -> int:
        with self._lock:
            return self._db.execute(sql, tuple(args)).rowcount

    # jobs -----------------------------------------------------------------------------

    def create(self, *, filename: str, options: Mapping[str, Any], content_hash: str,
               cache_key: str, upload_dir: str | None, owner: str | None = None) -> Job:
        """Add a queued job; if a result for ``cache_key`` is stored, the job is done at once
        (and keeps ``upload_dir`` all the same: its media is still played back)."""
        job_id = uuid.uuid4().hex
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cached = self.reusable(cache_key, owner)
                self._db.execute(
                    "INSERT INTO jobs (id, status, created_at, finished_at, filename, options,"
                    " content_hash, cache_key, upload_dir, reused, done, total, stage, owner)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (job_id, "done" if cached else "queued", now, now if cached else None,
                     filename, json.dumps(dict(options), sort_keys=True), content_hash, cache_key,
                     upload_dir, int(cached), 1 if cached else 0,
                     1 if cached else 0, "reused" if cached else None, owner))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        job = self.get(job_id)
        assert job is not None
        return job

    def reusable(self, cache_key: str, owner: str | None) -> bool:
        """Whether a result for ``cache_key`` is stored *and* a finished job that ``owner`` may
        see has it: a key never learns (from ``reused`` or from speed) what another key uploaded."""
        where, args = _visible_to(owner)
        return self._one(
            "SELECT 1 FROM jobs WHERE cache_key = ? AND status = 'done'"
            f"{' AND ' + where if where else ''} AND EXISTS (SELECT 1 FROM results"
            " WHERE results.cache_key = jobs.cache_key) LIMIT 1", (cache_key, *args)) is not None

    def get(self, job_id: str, owner: str | None = None) -> Job | None:
        """The job, or None when there is no such id (or, given ``owner``, it is not visible to it)."""
        where, args = _visible_to(owner)
        row = self._one(f"SELECT * FROM jobs WHERE id = ?{' AND ' + where if where else ''}",
                        (job_id, *args))
        return Job._from_row(row) if row else None

    def list(self, limit: int = 20, offset: int = 0, status: str | None = None,
             owner: str | None = None) -> tuple[list[Job], int]:
        """A page of jobs, newest first, and how many there are in all.

        ``owner``: only that owner's jobs and the unowned ones (None: every job).
        """
        owned, args = _visible_to(owner)
        conditions = [c for c in (owned, "status = ?" if status else "") if c]
        args += [status] if status else []
        where = "WHERE " + " AND ".join(conditions) if conditions else ""
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM jobs {where} ORDER BY created_at DESC, id DESC"
                                    " LIMIT ? OFFSET ?", (*args, limit, offset)).fetchall()
            total = self._db.execute(f"SELECT COUNT(*) FROM jobs {where}", args).fetchone()[0]
        return [Job._from_row(r) for r in rows], int(total)

    def with_status(self, *statuses: str) -> list[Job]:
        """Every job in one of ``statuses``, oldest first."""
        marks = ", ".join("?" for _ in statuses)
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM jobs WHERE status IN ({marks})"
                                    " ORDER BY created_at, id", statuses).fetchall()
        return [Job._from_row(r) for r in rows]

    def start(self, job_id: str) -> Job | None:
        """Mark a queued job running and count the attempt; None if it is gone or not queued."""
        n = self._run("UPDATE jobs SET status = 'running', started_at = ?, attempts = attempts + 1,"
                      " stage = NULL, done = 0, total = 0 WHERE id = ? AND status = 'queued'",
                      (time.time(), job_id))
        return self.get(job_id) if n else None

    def progress(self, job_id: str, stage: str, done: float, total: float) -> None:
        """Record the latest progress report of a running job."""
        self._run("UPDATE jobs SET stage = ?, done = ?, total = ? WHERE id = ? AND status = 'running'",
                  (stage, float(done), float(total), job_id))

    def finish(self, job_id: str, results: Mapping[str, str]) -> bool:
        """Store a running job's results (one body per format) and mark it done.

        Returns:
            False when the job was deleted meanwhile (the results are then not kept).
        """
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT cache_key FROM jobs WHERE id = ? AND status = 'running'",
                                       (job_id,)).fetchone()
                if row is None:
                    self._db.execute("ROLLBACK")
                    return False
                self._db.executemany(
                    "INSERT OR REPLACE INTO results (cache_key, format, body, created_at) VALUES (?, ?, ?, ?)",
                    [(row["cache_key"], fmt, body, now) for fmt, body in results.items()])
                self._db.execute("UPDATE jobs SET status = 'done', finished_at = ?, done = total,"
                                 " error = NULL WHERE id = ?", (now, job_id))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        self.checkpoint()
        return True

    def fail(self, job_id: str, error: str) -> None:
        """Mark a job failed with the reason."""
        self._run("UPDATE jobs SET status = 'failed', finished_at = ?, error = ? WHERE id = ?",
                  (time.time(), error, job_id))
        self.checkpoint()

    def requeue(self, job_id: str) -> None:
        """Put an interrupted job back in the queue."""
        self._run("UPDATE jobs SET status = 'queued', stage = NULL, done = 0, total = 0 WHERE id = ?",
                  (job_id,))

    def clear_upload(self, job_id: str) -> None:
        """Note that the job's upload directory has been removed."""
        self._run("UPDATE jobs SET upload_dir = NULL WHERE id = ?", (job_id,))

    def delete(self, job_id: str) -> Job | None:
        """Remove a job (and its results when no other job uses them); the removed job or None."""
        with self._lock:
            job = self.get(job_id)
            if job is None:
                return None
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
                self._db.execute("DELETE FROM results WHERE cache_key = ? AND NOT EXISTS"
                                 " (SELECT 1 FROM jobs WHERE cache_key = ?)",
                                 (job.cache_key, job.cache_key))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return job

    def finished_before(self, before: float) -> list[Job]:
        """The done and failed jobs that finished before ``before`` (what
        :meth:`purge_finished` would remove)."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM jobs WHERE status IN ('done', 'failed')"
                                    " AND finished_at < ?", (before,)).fetchall()
        return [Job._from_row(r) for r in rows]

    def purge_finished(self, before: float) -> int:
        """Remove done and failed jobs that finished before ``before`` (a UNIX time), and the
        results no remaining job uses; how many jobs were removed."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                n = self._db.execute("DELETE FROM jobs WHERE status IN ('done', 'failed')"
                                     " AND finished_at < ?", (before,)).rowcount
                if n:
                    self._db.execute("DELETE FROM results WHERE cache_key NOT IN"
                                     " (SELECT cache_key FROM jobs)")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return n

    # results --------------------------------------------------------------------------

    def result(self, cache_key: str, fmt: str) -> str | None:
        """The stored body of a result in one format, or None."""
        row = self._one("SELECT body FROM results WHERE cache_key = ? AND format = ?", (cache_key, fmt))
        return row["body"] if row else None

    def media_duration(self, cache_key: str) -> float | None:
        """The analysed file's length in seconds, from the stored JSON result's metadata (None
        without one). SQLite reads the one field, so listing jobs parses no JSON in Python."""
        try:
            row = self._one("SELECT json_extract(body, '$.metadata.duration') AS d FROM results"
                            " WHERE cache_key = ? AND format = 'json'", (cache_key,))
        except sqlite3.OperationalError:  # an SQLite built without JSON functions
            return None
        return float(row["d"]) if row and isinstance(row["d"], (int, float)) else None

