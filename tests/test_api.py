"""REST service: routing, job store, limits and keys, with the real app around stand-in models.

The media checks, the job store, the worker pool and the writers are the real ones; only the
analysis itself is a small fake here (the real models run in ``test_api_real.py``).
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the REST service needs the 'api' extra")

from fastapi import HTTPException  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from starlette.requests import Request  # noqa: E402

from emotrace.api import Settings, create_app  # noqa: E402
from emotrace.api.store import JobStore  # noqa: E402
from emotrace.api.uploads import receive_form  # noqa: E402
from emotrace.errors import ConfigError  # noqa: E402

from .apihelpers import (FakePipeline, FakeTextScorer, check_predict_shape, check_ranked,  # noqa: E402
                         upload, wait_for)
from .conftest import FIXTURES  # noqa: E402


def make_settings(tmp_path: Path, **changes) -> Settings:
    return Settings(data_dir=tmp_path / "data", **{"workers": 2, **changes})


@pytest.fixture
def make_client(tmp_path):
    clients = []

    def make(pipeline=None, **changes):
        pipeline = pipeline or FakePipeline()
        # each server its own folder: two on one folder is refused (see test_a_second_server_...)
        folder = tmp_path / f"server{len(clients)}"
        app = create_app(make_settings(folder, **changes), pipeline, text_scorer=FakeTextScorer())
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return client, pipeline

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def uploads_left(client) -> list[Path]:
    return [p for p in client.app.state.service.settings.upload_dir.rglob("*")]


# the older endpoints ------------------------------------------------------------------------

def test_health_is_open_and_reports_models(make_client):
    client, _ = make_client(api_keys=("k1",))
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "healthy" and body["model_loaded"] is True
    assert body["version"] and body["pipeline"]["models"] == {"text": "fake-text@1"}


def test_predict_video_has_the_older_shape_and_cleans_up(make_client):
    client, fake = make_client()
    r = client.post("/predict", files=upload("dialogue.mp4", "video_file"))
    assert r.status_code == 200, r.text
    utts = check_predict_shape(r.json())
    assert len(utts) == 1 and utts[0]["text"] == f"{(FIXTURES / 'dialogue.mp4').stat().st_size} bytes"
    assert fake.calls[0]["audio_path"] is None and fake.calls[0]["transcript"] is None
    assert uploads_left(client) == []


def test_predict_audio_file_replaces_the_sound_track_and_text_skips_asr(make_client):
    client, fake = make_client()
    files = {**upload("no_audio.mp4", "video_file"), **upload("dialogue.wav", "audio_file")}
    r = client.post("/predict", files=files, data={"text": "hello there"})
    assert r.status_code == 200, r.text
    call = fake.calls[0]
    assert Path(call["path"]).name == "video_file" and Path(call["audio_path"]).name == "audio_file"
    assert call["transcript"] == "hello there"
    # audio alone works too (no video: the pipeline gets path None)
    r = client.post("/predict", files=upload("dialogue.wav", "audio_file"))
    assert r.status_code == 200 and fake.calls[1]["path"] is None


def test_predict_text_alone_is_one_utterance_from_zero_to_zero(make_client):
    client, fake = make_client()
    for send in ({"data": {"text": "I love this!"}},
                 {"files": {"text": (None, "I love this!")}}):  # url-encoded and multipart
        r = client.post("/predict", **send)
        assert r.status_code == 200, r.text
        (u,) = check_predict_shape(r.json())
        assert (u["start_time"], u["end_time"], u["text"]) == (0.0, 0.0, "I love this!")
        expected = FakeTextScorer().score(["I love this!"])[0].to_dict()
        assert u["emotions"] == expected["emotions"] and u["sentiments"] == expected["sentiments"]
    assert fake.calls == []


def test_predict_text_endpoint_shape(make_client):
    client, _ = make_client()
    r = client.post("/predict_text", data={"text": "I am feeling great today!"})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"emotions", "sentiments"}
    check_ranked(body["emotions"], tuple(e["label"] for e in body["emotions"]))
    assert client.post("/predict_text", data={"text": "   "}).status_code == 422
    r = client.post("/predict_text", data={})
    assert r.status_code == 422 and "detail" in r.json()


@pytest.mark.parametrize("files, data, status, words", [
    ({}, {}, 422, "video_file"),
    ("not_media.mp4", {}, 415, "not a readable media file"),
    ("no_audio.mp4", {}, 422, "no audio track"),
])
def test_predict_errors(make_client, files, data, status, words):
    client, fake = make_client()
    files = upload(files, "video_file", filename="clip.mp4") if files else {}
    r = client.post("/predict", files=files or {"text": (None, "")}, data=data)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert words in detail
    assert "uploads" not in detail, "the server's paths must not leak"
    assert fake.calls == [] and uploads_left(client) == []


def test_predict_no_audio_with_a_transcript_goes_to_the_pipeline(make_client):
    client, fake = make_client()
    r = client.post("/predict", files=upload("no_audio.mp4", "video_file"), data={"text": "hi"})
    assert r.status_code == 200 and fake.calls[0]["transcript"] == "hi"


def test_pipeline_media_error_is_422_without_server_paths(make_client):
    client, _ = make_client()
    r = client.post("/predict", files=upload("dialogue.wav", "video_file"), data={"text": "FAIL"})
    assert r.status_code == 422
    assert r.json()["detail"] == "dialogue.wav: corrupt audio (test)"  # the client's name


def test_not_a_form_is_415_and_unknown_routes_are_json(make_client):
    client, _ = make_client()
    r = client.post("/predict", content=b"{}", headers={"content-type": "application/json"})
    assert r.status_code == 415 and "multipart/form-data" in r.json()["detail"]
    r = client.get("/nowhere")
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}


# limits ---------------------------------------------------------------------------------------

def test_upload_over_the_limit_is_413_and_nothing_is_kept(make_client):
    client, fake = make_client(max_upload_bytes=50_000)
    for path in ("/predict", "/jobs"):
        field = "video_file" if path == "/predict" else "file"
        r = client.post(path, files=upload("dialogue.mp4", field))
        assert r.status_code == 413 and "limit" in r.json()["detail"]
    assert fake.calls == [] and uploads_left(client) == []
    assert client.app.state.service.runner.admitted == 0


def test_the_limit_stops_a_stream_of_unknown_length_early(tmp_path):
    """No Content-Length: the body is counted as it arrives and reading stops past the limit."""
    boundary = "XyZ"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    chunks = [head] + [b"\0" * 10_000] * 100
    sent = []

    async def receive():
        chunk = chunks[len(sent)]
        sent.append(chunk)
        return {"type": "http.request", "body": chunk, "more_body": len(sent) < len(chunks)}

    scope = {"type": "http", "method": "POST", "path": "/jobs", "query_string": b"",
             "headers": [(b"content-type", f"multipart/form-data; boundary={boundary}".encode())]}
    with pytest.raises(HTTPException) as err:
        asyncio.run(receive_form(Request(scope, receive), tmp_path, 55_000,
                                 file_fields=("file",), text_fields=()))
    assert err.value.status_code == 413
    assert len(sent) <= 7, "the body must not be read to its end"
    assert list(tmp_path.iterdir()) == [], "the partial file must be removed"


def test_queue_full_is_503_with_retry_after(make_client):
    gate = threading.Event()
    client, fake = make_client(FakePipeline(gate), workers=1, max_queue=1, retry_after_s=7)
    try:
        first = client.post("/jobs", files=upload("dialogue.wav"))
        assert first.status_code == 202
        assert fake.started.acquire(timeout=10)
        second = client.post("/jobs", files=upload("silence.wav"))  # waits in the queue
        assert second.status_code == 202
        for path, field in (("/jobs", "file"), ("/predict", "video_file")):
            r = client.post(path, files=upload("dialogue.mp4", field))
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"] == "7" and "queue is full" in r.json()["detail"]
        # text needs no worker: still answered
        assert client.post("/predict", data={"text": "still here"}).status_code == 200
    finally:
        gate.set()
    assert wait_for(client, first.json()["id"])["status"] == "done"
    assert wait_for(client, second.json()["id"])["status"] == "done"
    assert client.post("/jobs", files=upload("dialogue.mp4")).status_code == 202


# jobs -------------------------------------------------------------------------------------

def test_job_from_upload_to_result_in_every_format(make_client):
    client, _ = make_client()
    r = client.post("/jobs", files=upload("dialogue.mp4", filename="My clip.mp4"))
    assert r.status_code == 202, r.text
    created = r.json()
    assert set(created) == {"id", "status", "status_url"} and created["status"] == "queued"
    assert r.headers["location"] == created["status_url"] == f"/jobs/{created['id']}"
    job = wait_for(client, created["id"])
    assert job["status"] == "done" and job["error"] is None and job["filename"] == "My clip.mp4"
    assert job["progress"]["fraction"] == 1.0 and job["progress"]["stage"] == "asr"
    assert job["result_url"] == f"/jobs/{created['id']}/result"
    expected_types = {"json": "application/json", "csv": "text/csv", "srt": "application/x-subrip",
                      "vtt": "text/vtt", "table": "text/plain"}
    for fmt, ctype in expected_types.items():
        r = client.get(f"/jobs/{created['id']}/result", params={"format": fmt})
        assert r.status_code == 200 and r.headers["content-type"].startswith(ctype), fmt
    body = client.get(f"/jobs/{created['id']}/result").json()
    check_predict_shape(body)
    assert client.get(f"/jobs/{created['id']}/result?format=vtt").text.startswith("WEBVTT")
    # the upload stays as the job's media, for the web page's player (see test_api_media.py)
    assert [p.name for p in uploads_left(client) if p.is_file()] == ["file"]


def test_several_uploads_at_once_all_finish(make_client):
    client, fake = make_client(workers=2, max_queue=8)
    names = ["dialogue.mp4", "dialogue.wav", "silence.wav", "no_audio.mp4"]
    results: dict[str, int] = {}

    def send(name):
        data = {"text": "words"} if name == "no_audio.mp4" else {}
        results[name] = client.post("/jobs", files=upload(name), data=data).status_code

    threads = [threading.Thread(target=send, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results.values()) == {202}
    page = client.get("/jobs").json()
    assert page["total"] == 4
    for job in page["jobs"]:
        assert wait_for(client, job["id"])["status"] == "done"
    assert len(fake.calls) == 4


def test_identical_upload_reuses_the_stored_result(make_client):
    client, fake = make_client()
    a = client.post("/jobs", files=upload("dialogue.wav")).json()
    assert wait_for(client, a["id"])["reused"] is False
    b = client.post("/jobs", files=upload("dialogue.wav", filename="other name.wav"))
    assert b.status_code == 202 and b.json()["status"] == "done"
    assert client.get(b.json()["status_url"]).json()["reused"] is True
    assert len(fake.calls) == 1
    # other options are another result
    c = client.post("/jobs", files=upload("dialogue.wav"), data={"text": "given words"}).json()
    assert wait_for(client, c["id"])["reused"] is False and len(fake.calls) == 2
    # /predict reuses it as well
    r = client.post("/predict", files=upload("dialogue.wav", "video_file"))
    assert r.status_code == 200 and len(fake.calls) == 2
    assert r.json() == client.get(f"/jobs/{a['id']}/result").json()
    # deleting one job keeps the result the other still uses
    assert client.delete(f"/jobs/{a['id']}").status_code == 204
    assert client.get(f"/jobs/{b.json()['id']}/result?format=csv").status_code == 200


def test_failed_job_reports_why(make_client):
    client, _ = make_client()
    r = client.post("/jobs", files=upload("dialogue.wav"), data={"text": "FAIL"})
    job = wait_for(client, r.json()["id"])
    assert job["status"] == "failed"
    assert job["error"] == "media error: dialogue.wav: corrupt audio (test)"  # the client's name
    r = client.get(f"/jobs/{job['id']}/result")
    assert r.status_code == 409 and "failed" in r.json()["detail"]
    assert uploads_left(client) == []


def test_job_errors(make_client):
    client, _ = make_client()
    for method, path in (("get", "/jobs/nope"), ("get", "/jobs/nope/result"), ("delete", "/jobs/nope")):
        r = getattr(client, method)(path)
        assert r.status_code == 404 and r.json() == {"detail": "unknown job: nope"}
    assert client.post("/jobs", files=upload("not_media.mp4")).status_code == 415
    assert client.post("/jobs", files=upload("no_audio.mp4")).status_code == 422
    r = client.post("/jobs", files=upload("dialogue.wav", "video_file"))
    assert r.status_code == 422 and "'file'" in r.json()["detail"]
    job = client.post("/jobs", files=upload("dialogue.wav")).json()
    r = client.get(f"/jobs/{job['id']}/result", params={"format": "docx"})
    assert r.status_code == 400 and "expected one of: json, csv" in r.json()["detail"]
    assert client.get("/jobs", params={"status": "lost"}).status_code == 400
    assert client.get("/jobs", params={"limit": 0}).status_code == 422


def test_result_of_an_unfinished_job_is_409(make_client):
    gate = threading.Event()
    client, fake = make_client(FakePipeline(gate), workers=1)
    try:
        job = client.post("/jobs", files=upload("dialogue.wav")).json()
        assert fake.started.acquire(timeout=10)
        running = client.get(job["status_url"]).json()
        assert running["status"] == "running" and running["result_url"] is None
        r = client.get(f"/jobs/{job['id']}/result")
        assert r.status_code == 409 and "running" in r.json()["detail"]
    finally:
        gate.set()
    assert wait_for(client, job["id"])["status"] == "done"


def test_list_is_newest_first_and_paged(make_client):
    client, _ = make_client()
    ids = [client.post("/jobs", files=upload(n)).json()["id"]
           for n in ("dialogue.wav", "silence.wav", "dialogue.mp4")]
    first = client.get("/jobs", params={"limit": 2}).json()
    assert [j["id"] for j in first["jobs"]] == ids[::-1][:2]
    assert first["total"] == 3 and first["next_offset"] == 2
    rest = client.get("/jobs", params={"limit": 2, "offset": 2}).json()
    assert [j["id"] for j in rest["jobs"]] == ids[:1] and rest["next_offset"] is None


def test_delete_removes_the_job_and_its_result(make_client):
    client, _ = make_client()
    job = client.post("/jobs", files=upload("silence.wav")).json()
    wait_for(client, job["id"])
    assert client.delete(f"/jobs/{job['id']}").status_code == 204
    assert client.get(f"/jobs/{job['id']}").status_code == 404
    store = client.app.state.service.store
    assert store.list()[1] == 0
    assert store._one("SELECT COUNT(*) FROM results")[0] == 0


def test_deleting_a_running_job_drops_its_result(make_client):
    gate = threading.Event()
    client, fake = make_client(FakePipeline(gate), workers=1)
    job = client.post("/jobs", files=upload("dialogue.wav")).json()
    assert fake.started.acquire(timeout=10)
    assert client.delete(f"/jobs/{job['id']}").status_code == 204
    gate.set()
    # a new identical job must be analysed again: nothing was kept
    again = client.post("/jobs", files=upload("dialogue.wav")).json()
    assert wait_for(client, again["id"])["reused"] is False
    assert len(fake.calls) == 2


def test_file_names_are_never_used_as_paths(make_client, tmp_path):
    client, fake = make_client()
    evil = "../../../../escaped.mp4"
    job = client.post("/jobs", files=upload("dialogue.wav", filename=evil)).json()
    done = wait_for(client, job["id"])
    assert done["filename"] == evil
    assert Path(fake.calls[0]["path"]).name == "file"
    assert fake.calls[0]["path"].parent.parent == client.app.state.service.settings.upload_dir
    assert not list(tmp_path.parent.rglob("escaped.mp4"))


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


# keys, CORS, docs ----------------------------------------------------------------------------

def test_api_keys_on(make_client):
    client, _ = make_client(api_keys=("s3cret", "other"))
    assert client.get("/health").status_code == 200
    for method, path, kw in (("post", "/predict_text", {"data": {"text": "hi"}}),
                             ("post", "/predict", {"data": {"text": "hi"}}),
                             ("get", "/jobs", {}), ("get", "/jobs/x", {}), ("delete", "/jobs/x", {}),
                             ("post", "/jobs", {"files": upload("dialogue.wav")})):
        r = getattr(client, method)(path, **kw)
        assert r.status_code == 401, path
        assert "API key" in r.json()["detail"] and r.headers["www-authenticate"] == "Bearer"
        r = getattr(client, method)(path, headers={"Authorization": "Bearer wrong"}, **kw)
        assert r.status_code == 401
    ok = {"data": {"text": "hi"}}
    assert client.post("/predict_text", headers={"Authorization": "Bearer s3cret"}, **ok).status_code == 200
    assert client.post("/predict_text", headers={"X-API-Key": "other"}, **ok).status_code == 200
    assert client.get("/jobs", headers={"X-API-Key": "s3cret"}).status_code == 200


def test_each_key_sees_only_its_own_jobs(make_client):
    client, _ = make_client(api_keys=("alice-key", "bob-key"))
    alice, bob = {"X-API-Key": "alice-key"}, {"Authorization": "Bearer bob-key"}
    a = client.post("/jobs", files=upload("dialogue.mp4"), headers=alice).json()["id"]
    b = client.post("/jobs", files=upload("dialogue.wav"), headers=bob).json()["id"]
    assert wait_for(client, a, headers=alice)["status"] == "done"
    assert wait_for(client, b, headers=bob)["status"] == "done"
    listed = client.get("/jobs", headers=alice).json()
    assert [j["id"] for j in listed["jobs"]] == [a] and listed["total"] == 1
    for method, path in (("get", f"/jobs/{b}"), ("get", f"/jobs/{b}/result"), ("delete", f"/jobs/{b}")):
        r = getattr(client, method)(path, headers=alice)
        assert r.status_code == 404 and r.json()["detail"] == f"unknown job: {b}", path
    # bob's job survived alice's attempt to delete it, and bob can still delete it
    assert client.get(f"/jobs/{b}/result", headers=bob).status_code == 200
    assert client.delete(f"/jobs/{b}", headers=bob).status_code == 204
    # the same file uploaded by bob is analysed again: reusing alice's result would tell bob
    # (by `reused`, or by the speed of the answer) what alice uploaded
    again = client.post("/jobs", files=upload("dialogue.mp4"), headers=bob).json()["id"]
    assert wait_for(client, again, headers=bob)["reused"] is False
    assert client.get(f"/jobs/{again}", headers=alice).status_code == 404
    # the database keeps a one-way tag, never the key
    job = client.app.state.service.store.get(a)
    assert job.owner and "alice" not in job.owner


def test_jobs_made_before_keys_were_switched_on_stay_visible(tmp_path):
    open_settings = make_settings(tmp_path)
    with TestClient(create_app(open_settings, FakePipeline(), text_scorer=FakeTextScorer())) as c1:
        old = c1.post("/jobs", files=upload("dialogue.mp4")).json()["id"]
        assert wait_for(c1, old)["status"] == "done"
    keyed = make_settings(tmp_path, api_keys=("k1",))
    with TestClient(create_app(keyed, FakePipeline(), text_scorer=FakeTextScorer())) as c2:
        r = c2.get("/jobs", headers={"X-API-Key": "k1"}).json()
        assert [j["id"] for j in r["jobs"]] == [old]
        assert c2.get(f"/jobs/{old}/result", headers={"X-API-Key": "k1"}).status_code == 200


def test_a_second_server_on_the_same_folder_is_refused_and_the_first_keeps_its_jobs(tmp_path):
    settings = make_settings(tmp_path)
    pipeline = FakePipeline()
    with TestClient(create_app(settings, pipeline, text_scorer=FakeTextScorer())) as c1:
        job = c1.post("/jobs", files=upload("dialogue.mp4")).json()["id"]
        assert wait_for(c1, job)["status"] == "done"
        with pytest.raises(ConfigError, match="another emotrace server .pid \\d+. is using"):
            create_app(settings, FakePipeline(), text_scorer=FakeTextScorer())
        # another folder but the same database is refused too
        with pytest.raises(ConfigError, match="another emotrace server"):
            create_app(make_settings(tmp_path / "elsewhere", db_path=settings.database),
                       FakePipeline(), text_scorer=FakeTextScorer())
        assert c1.get(f"/jobs/{job}/result").status_code == 200
    # once the first has stopped, a new one starts on the same folder and finds the job
    with TestClient(create_app(settings, FakePipeline(), text_scorer=FakeTextScorer())) as c2:
        assert c2.get(f"/jobs/{job}").json()["status"] == "done"


def test_a_version_1_database_gains_the_owner_column_and_keeps_its_jobs(tmp_path):
    import sqlite3

    from emotrace.api import store as store_module

    path = tmp_path / "v1.sqlite3"
    db = sqlite3.connect(path)
    v1 = store_module._SCHEMA.replace(",\n    owner        TEXT\n", "\n")
    assert "owner" not in v1
    db.executescript(v1)
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    db.execute("INSERT INTO jobs (id, status, created_at, content_hash, cache_key) "
               "VALUES ('old', 'done', 1.0, 'h', 'k')")
    db.commit(); db.close()
    store = JobStore(path)
    job = store.get("old")
    assert job is not None and job.owner is None and job.status == "done"
    assert store.list(owner="someone")[1] == 1
    new = store.create(filename="f", options={}, content_hash="h2", cache_key="k2",
                       upload_dir=None, owner="someone")
    assert store.get(new.id).owner == "someone"
    assert store.list(owner="other")[1] == 1 and store.list()[1] == 2
    assert store._one("SELECT value FROM meta WHERE key = 'schema_version'")["value"] == "2"
    store.close()


def test_api_keys_off(make_client):
    client, _ = make_client()
    assert client.post("/predict_text", data={"text": "hi"}).status_code == 200
    assert client.get("/jobs").status_code == 200


def test_cors_allows_only_the_configured_origins(make_client):
    client, _ = make_client()
    pre = {"Access-Control-Request-Method": "POST"}
    ok = client.options("/predict", headers={"Origin": "http://localhost:3000", **pre})
    assert ok.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert ok.headers["access-control-allow-credentials"] == "true"
    bad = client.options("/predict", headers={"Origin": "https://evil.example", **pre})
    assert "access-control-allow-origin" not in bad.headers
    anywhere, _ = make_client(cors_origins=("*",))
    r = anywhere.get("/health", headers={"Origin": "https://evil.example"})
    assert r.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in r.headers


def test_openapi_documents_every_endpoint_with_an_example(make_client):
    client, _ = make_client()
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    text = json.dumps(spec)
    for path in ("/predict", "/predict_text", "/health", "/jobs", "/jobs/{job_id}",
                 "/jobs/{job_id}/result"):
        assert path in spec["paths"], path
    assert "video_file" in text and "audio_file" in text
    schemas = spec["components"]["schemas"]

    def expand(node, seen=()):
        if isinstance(node, dict):
            if "$ref" in node:
                name = node["$ref"].rsplit("/", 1)[-1]
                return {} if name in seen else expand(schemas[name], seen + (name,))
            return {k: expand(v, seen) for k, v in node.items()}
        return [expand(v, seen) for v in node] if isinstance(node, list) else node

    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            ok = expand(op["responses"].get("200") or op["responses"].get("202") or {})
            if method != "delete":
                assert "example" in json.dumps(ok), f"{method} {path} has no example answer"
    schemes = spec["components"]["securitySchemes"]
    assert {"HTTPBearer", "APIKeyHeader"} <= set(schemes)


def test_web_page_is_served_without_a_key(make_client):
    client, _ = make_client(api_keys=("k",))
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'id="file"' in r.text and 'src="static/app.js"' in r.text
    assert "jobs/${id}" in client.get("/static/app.js").text


# settings ----------------------------------------------------------------------------------

def test_settings_from_environment_and_flags(tmp_path):
    env = {"EMOTRACE_PORT": "9000", "EMOTRACE_MAX_UPLOAD": "500M", "EMOTRACE_API_KEYS": "a, b",
           "EMOTRACE_CORS_ORIGINS": "https://x.example,http://localhost:3000",
           "EMOTRACE_REQUEUE_INTERRUPTED": "no", "EMOTRACE_DATA_DIR": str(tmp_path),
           "EMOTRACE_KEEP_DAYS": "7.5"}
    s = Settings.from_env(env, port=9100, workers=None)
    assert s.port == 9100 and s.max_upload_bytes == 500 * 1024**2 and s.api_keys == ("a", "b")
    assert s.cors_origins == ("https://x.example", "http://localhost:3000")
    assert s.requeue_interrupted is False and s.database == tmp_path / "jobs.sqlite3"
    assert s.keep_days == 7.5 and Settings.from_env(env, keep_days=0).keep_days == 0
    defaults = Settings.from_env({})
    assert defaults.cors_origins == ("http://localhost:3000",) and defaults.api_keys == ()
    assert defaults.max_upload_bytes == 1024**3 and defaults.host == "127.0.0.1"
    for bad in ({"EMOTRACE_PORT": "http"}, {"EMOTRACE_MAX_UPLOAD": "lots"},
                {"EMOTRACE_WORKERS": "0"}, {"EMOTRACE_REQUEUE_INTERRUPTED": "maybe"},
                {"EMOTRACE_KEEP_DAYS": "-1"}, {"EMOTRACE_KEEP_DAYS": "soon"}):
        with pytest.raises(ConfigError):
            Settings.from_env(bad)
    with pytest.raises(ConfigError, match="unknown settings"):
        Settings.from_env({}, colour="red")
