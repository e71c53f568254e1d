"""The job database: a damaged one stops the server with one clear line and drops nothing;
a clean stop leaves every row in the database file itself (so a copy of it is a backup)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the REST service needs the 'api' extra")

from emotrace import pipeline as pipeline_module  # noqa: E402
from emotrace.api import Settings, create_app  # noqa: E402
from emotrace.api.store import JobStore  # noqa: E402
from emotrace.api.walcheck import wal_damage  # noqa: E402
from emotrace.cli import main  # noqa: E402
from emotrace.errors import StorageError  # noqa: E402

from .apihelpers import FakePipeline, FakeTextScorer  # noqa: E402


def _add_jobs(store: JobStore, n: int) -> list[str]:
    return [store.create(filename=f"f{i}.mp4", options={}, content_hash=str(i), cache_key=str(i),
                         upload_dir=None).id for i in range(n)]


def _as_if_killed(tmp_path: Path, n: int = 5) -> tuple[Path, list[str]]:
    """A database and its write-ahead log as a kill -9 leaves them: copied while still open."""
    live = tmp_path / "live" / "jobs.sqlite3"
    store = JobStore(live)
    ids = _add_jobs(store, n)
    copy = tmp_path / "copy" / "jobs.sqlite3"
    copy.parent.mkdir()
    for suffix in ("", "-wal"):
        shutil.copyfile(f"{live}{suffix}", f"{copy}{suffix}")
    store.close()
    assert Path(f"{copy}-wal").stat().st_size > 32, "the jobs should still be in the log"
    return copy, ids


def test_an_intact_log_left_by_a_crash_keeps_every_job(tmp_path):
    copy, ids = _as_if_killed(tmp_path)
    assert wal_damage(f"{copy}-wal") is None
    store = JobStore(copy)
    assert sorted(j.id for j in store.list(100)[0]) == sorted(ids)
    store.close()


@pytest.mark.parametrize("where, why", [(0, "header"), (20, "header"), (32 + 24 + 100, "frame 1")])
def test_a_damaged_log_is_refused_not_dropped(tmp_path, where, why):
    copy, _ = _as_if_killed(tmp_path)
    wal = Path(f"{copy}-wal")
    data = bytearray(wal.read_bytes())
    data[where] ^= 0xFF
    wal.write_bytes(bytes(data))
    with pytest.raises(StorageError) as e:
        JobStore(copy)
    message = str(e.value)
    assert why in message and str(copy) in message and "move" in message and "backup" in message
    assert wal.read_bytes() == bytes(data), "the damaged log must be left as it was"


def test_a_database_that_is_not_one_is_refused_with_what_to_do(tmp_path):
    db = tmp_path / "jobs.sqlite3"
    db.write_bytes(b"this is not a database" * 500)
    with pytest.raises(StorageError, match="file is not a database") as e:
        JobStore(db)
    assert str(db) in str(e.value) and "move" in str(e.value)
    assert db.read_bytes() == b"this is not a database" * 500


class _Pipeline(FakePipeline):
    def __init__(self, config=None):
        super().__init__()
        self.scorers = {"text": FakeTextScorer()}


def test_serve_refuses_a_damaged_database_with_one_line(tmp_path, capsys, monkeypatch):
    pytest.importorskip("uvicorn")
    data = tmp_path / "data"
    data.mkdir()
    (data / "jobs.sqlite3").write_bytes(b"\x00garbage" * 1000)
    monkeypatch.setattr(pipeline_module, "Pipeline", _Pipeline)
    assert main(["serve", "--data-dir", str(data), "--port", "0"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("emotrace: error: the job database ")
    assert str(data / "jobs.sqlite3") in err[0] and "Traceback" not in err[0]
    # the refusal let go of the server lock: once the file is moved aside, a server starts
    (data / "jobs.sqlite3").rename(data / "jobs.sqlite3.damaged")
    app = create_app(Settings(data_dir=data), FakePipeline(), text_scorer=FakeTextScorer())
    assert app.state.service.store.list()[1] == 0
    app.state.service.store.close()


def test_finished_jobs_reach_the_database_file_while_the_server_runs(tmp_path, monkeypatch):
    from emotrace.api import store as store_module

    monkeypatch.setattr(store_module, "CHECKPOINT_EVERY_S", 0.0)
    db = tmp_path / "jobs.sqlite3"
    store = JobStore(db)
    job_id = _add_jobs(store, 1)[0]
    assert store.start(job_id) is not None and store.finish(job_id, {"json": "{}"})
    backup = tmp_path / "backup.sqlite3"  # the file alone, as a naive backup copies it
    shutil.copyfile(db, backup)
    copy = sqlite3.connect(backup)
    assert copy.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone() == ("done",)
    copy.close()
    store.close()
    store.close()  # idempotent
    assert not Path(f"{db}-wal").exists() or Path(f"{db}-wal").stat().st_size == 0
