"""REST service, the job routes (`/jobs`): from upload to result, reuse, errors, paging and
deletion, with the real app around stand-in models."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the REST service needs the 'api' extra")



from .apihelpers import make_client  # noqa: E402,F401 (a fixture)
from .apihelpers import FakePipeline, check_predict_shape, upload, uploads_left, wait_for  # noqa: E402

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
