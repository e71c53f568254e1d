"""REST service, the job store across restarts: finished results kept, interrupted jobs run
again or failed, old jobs purged, older databases upgraded."""

from __future__ import annotations


import pytest

pytest.importorskip("fastapi", reason="the REST service needs the 'api' extra")

from fastapi.testclient import TestClient  # noqa: E402
from emotrace.api import Settings, create_app  # noqa: E402
from emotrace.api.store import JobStore  # noqa: E402

from .apihelpers import FakePipeline, FakeTextScorer, make_settings, upload, wait_for  # noqa: E402
from .conftest import FIXTURES  # noqa: E402

# restart -----------------------------------------------------------------------------------

def test_restart_keeps_finished_results(tmp_path):
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings, FakePipeline(), text_scorer=FakeTextScorer())) as c1:
        job = c1.post("/jobs", files=upload("dialogue.mp4")).json()
        assert wait_for(c1, job["id"])["status"] == "done"
        csv_before = c1.get(f"/jobs/{job['id']}/result?format=csv").text
    fresh = FakePipeline()
    with TestClient(create_app(settings, fresh, text_scorer=FakeTextScorer())) as c2:
        assert c2.get(f"/jobs/{job['id']}").json()["status"] == "done"
        assert c2.get(f"/jobs/{job['id']}/result?format=csv").text == csv_before
        assert fresh.calls == []


def _leave_interrupted_job(settings: Settings, status: str, attempts: int) -> str:
    """What a killed server leaves behind: a job row still queued/running and its upload."""
    folder = settings.upload_dir / "interrupted"
    folder.mkdir(parents=True)
    (folder / "file").write_bytes((FIXTURES / "dialogue.wav").read_bytes())
    store = JobStore(settings.database)
    job = store.create(filename="x.wav", options={"transcript": None, "separate_audio": False},
                       content_hash="h", cache_key="k", upload_dir=str(folder))
    if status == "running":
        store.start(job.id)
        for _ in range(attempts - 1):
            store.requeue(job.id)
            store.start(job.id)
    store.close()
    return job.id


@pytest.mark.parametrize("status", ["queued", "running"])
def test_restart_runs_interrupted_jobs_again(tmp_path, status):
    settings = make_settings(tmp_path)
    job_id = _leave_interrupted_job(settings, status, attempts=1)
    stray = settings.upload_dir / "stray"
    stray.mkdir()
    fake = FakePipeline()
    with TestClient(create_app(settings, fake, text_scorer=FakeTextScorer())) as client:
        assert not stray.exists(), "uploads of no live job are removed at start-up"
        job = wait_for(client, job_id)
        assert job["status"] == "done" and len(fake.calls) == 1
        # kept as the done job's media (see test_api_media.py)
        assert (settings.upload_dir / "interrupted" / "file").is_file()


@pytest.mark.parametrize("changes, attempts, reason", [
    ({"requeue_interrupted": False}, 1, "re-running is switched off"),
    ({"max_attempts": 2}, 2, "after 2 attempt(s)"),
])
def test_restart_marks_interrupted_jobs_failed_when_told(tmp_path, changes, attempts, reason):
    settings = make_settings(tmp_path, **changes)
    job_id = _leave_interrupted_job(settings, "running", attempts)
    fake = FakePipeline()
    with TestClient(create_app(settings, fake, text_scorer=FakeTextScorer())) as client:
        job = client.get(f"/jobs/{job_id}").json()
        assert job["status"] == "failed" and reason in job["error"]
        assert fake.calls == [] and not (settings.upload_dir / "interrupted").exists()


def test_store_purges_only_old_finished_jobs_and_unshared_results(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    old = store.create(filename="a", options={}, content_hash="h1", cache_key="k1", upload_dir=None)
    shared = store.create(filename="b", options={}, content_hash="h2", cache_key="k2", upload_dir=None)
    for job in (old, shared):
        store.start(job.id)
        store.finish(job.id, {"json": "{}"})
    waiting = store.create(filename="c", options={}, content_hash="h3", cache_key="k3", upload_dir=None)
    reuser = store.create(filename="d", options={}, content_hash="h2", cache_key="k2", upload_dir=None)
    store.start(reuser.id)
    store.finish(reuser.id, {"json": "{}"})
    store._run("UPDATE jobs SET finished_at = 1000 WHERE id IN (?, ?)", (old.id, shared.id))

    assert store.purge_finished(before=2000) == 2
    assert store.get(old.id) is None and store.get(shared.id) is None
    assert store.get(waiting.id).status == "queued"
    assert store.result("k1", "json") is None
    assert store.result("k2", "json") == "{}", "a newer job still uses this result"
    assert store.purge_finished(before=2000) == 0
    store.close()


@pytest.mark.parametrize("keep_days, kept", [(30, False), (0, True)])
def test_start_up_removes_jobs_past_keep_days(tmp_path, keep_days, kept):
    settings = make_settings(tmp_path, keep_days=keep_days)
    with TestClient(create_app(settings, FakePipeline(), text_scorer=FakeTextScorer())) as c1:
        job = c1.post("/jobs", files=upload("dialogue.wav")).json()
        assert wait_for(c1, job["id"])["status"] == "done"
        fresh = c1.post("/jobs", files=upload("silence.wav")).json()
        assert wait_for(c1, fresh["id"])["status"] == "done"
    store = JobStore(settings.database)
    store._run("UPDATE jobs SET finished_at = finished_at - 31 * 86400 WHERE id = ?", (job["id"],))
    store.close()
    with TestClient(create_app(settings, FakePipeline(), text_scorer=FakeTextScorer())) as c2:
        assert (c2.get(f"/jobs/{job['id']}").status_code == 200) is kept
        assert c2.get(f"/jobs/{fresh['id']}").json()["status"] == "done"
