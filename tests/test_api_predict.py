"""REST service, the older endpoints (`/predict`, `/predict_text`, `/health`) and the upload
limits, with the real app around stand-in models (the real models run in ``test_api_real.py``)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the REST service needs the 'api' extra")

from fastapi import HTTPException  # noqa: E402
from starlette.requests import Request  # noqa: E402
from emotrace.api.uploads import receive_form  # noqa: E402

from .apihelpers import make_client  # noqa: E402,F401 (a fixture)
from .apihelpers import FakePipeline, FakeTextScorer, check_predict_shape, check_ranked, upload, uploads_left, wait_for  # noqa: E402
from .conftest import FIXTURES  # noqa: E402

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


def test_predict_and_jobs_take_the_number_of_speakers(make_client):
    client, fake = make_client()
    r = client.post("/predict", files=upload("dialogue.mp4", "video_file"), data={"speakers": "2"})
    assert r.status_code == 200, r.text
    assert fake.calls[-1]["speakers"] == 2
    # another count is another result (not the stored one); none given passes nothing
    client.post("/predict", files=upload("dialogue.mp4", "video_file"), data={"speakers": "3"})
    client.post("/predict", files=upload("dialogue.mp4", "video_file"))
    assert [c.get("speakers") for c in fake.calls] == [2, 3, None]
    job = client.post("/jobs", files=upload("dialogue.mp4", "file"), data={"speakers": "4"})
    assert job.status_code == 202, job.text
    done = wait_for(client, job.json()["id"])
    assert done["options"]["speakers"] == 4 and fake.calls[-1]["speakers"] == 4
    kept = uploads_left(client)  # the job's upload stays while the job does (the page plays it)
    for bad in ("0", "51", "two", "1.5", "-1"):
        for endpoint, field in (("/predict", "video_file"), ("/jobs", "file")):
            r = client.post(endpoint, files=upload("dialogue.mp4", field), data={"speakers": bad})
            assert r.status_code == 422 and "speakers must be a whole number" in r.json()["detail"], (bad, r.text)
    assert uploads_left(client) == kept and client.get("/health").json()["queued_or_running"] == 0
