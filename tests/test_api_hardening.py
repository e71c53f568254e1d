"""REST service hardening: hostile or unlucky input never gives a 5xx, a leak or a stuck job.

Each test here is a regression test for one defect found by attacking the service (issue 18);
the app is the real one around stand-in models (see ``apihelpers``).
"""

from __future__ import annotations

import errno
import http.client
import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the REST service needs the 'api' extra")

from emotrace.api import Settings, create_app  # noqa: E402

from .apihelpers import FakePipeline, FakeTextScorer, upload, uploads_left, wait_for  # noqa: E402
from .apihelpers import make_client  # noqa: E402,F401 (a fixture)


def disk_full(*_a, **_k):
    """Stands in for a job-store write when the disk is full."""
    import sqlite3

    raise sqlite3.OperationalError("database or disk is full")


# 1. integer query parameters are bounded ---------------------------------------------------

@pytest.mark.parametrize("query", ["offset=9223372036854775808", "offset=9223372036854775807",
                                   "limit=9223372036854775808", "offset=-1", "limit=0"])
def test_out_of_range_integers_are_422_not_500(make_client, query):
    client, _ = make_client()
    r = client.get(f"/jobs?{query}")
    assert r.status_code == 422, r.text
    assert r.json()["detail"]


def test_the_largest_allowed_offset_works(make_client):
    from emotrace.api.routes_jobs import MAX_OFFSET

    client, _ = make_client()
    r = client.get(f"/jobs?offset={MAX_OFFSET}")
    assert r.status_code == 200 and r.json()["jobs"] == []


# 2. a malformed multipart form is a 400, never a 500 -------------------------------------

@pytest.mark.parametrize("path", ["/predict", "/jobs"])
@pytest.mark.parametrize("boundary", ["x" * 300, "", '"unterminated'])
def test_malformed_multipart_is_400(make_client, path, boundary):
    client, fake = make_client()
    body = f"--{boundary}\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nhi\r\n".encode()
    r = client.post(path, content=body,
                    headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code in (400, 415), r.text
    assert "multipart" in r.json()["detail"]
    assert fake.calls == [] and uploads_left(client) == []
    assert client.app.state.service.runner.admitted == 0


@pytest.mark.parametrize("path", ["/predict", "/jobs"])
def test_a_truncated_form_is_400_and_nothing_is_analysed(make_client, path):
    client, fake = make_client()
    field = "video_file" if path == "/predict" else "file"
    data = (Path(__file__).parent / "fixtures" / "dialogue.wav").read_bytes()
    head = (f'--XyZ\r\nContent-Disposition: form-data; name="{field}"; filename="a.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\n").encode()
    r = client.post(path, content=head + data[: len(data) // 2],  # no closing boundary
                    headers={"content-type": "multipart/form-data; boundary=XyZ"})
    assert r.status_code == 400 and "truncated" in r.json()["detail"], r.text
    assert fake.calls == [] and uploads_left(client) == []


# 3. a 500 leaves a keep-alive connection usable -----------------------------------------

class BrokenPipeline(FakePipeline):
    """Raises an unexpected (non-emotrace) error for the transcript ``"BOOM"``."""

    def analyze(self, path, *, audio_path=None, transcript=None, hook=None):
        if transcript == "BOOM":
            raise RuntimeError("a bug")
        return super().analyze(path, audio_path=audio_path, transcript=transcript, hook=hook)


@pytest.fixture
def live_app(tmp_path):
    """The app served by uvicorn in a thread on a free loopback port: ``(host, port, app)``."""
    uvicorn = pytest.importorskip("uvicorn", reason="the REST service needs the 'api' extra")

    app = create_app(Settings(data_dir=tmp_path / "live", workers=1), BrokenPipeline(),
                     text_scorer=FakeTextScorer())
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    yield sock.getsockname()[0], sock.getsockname()[1], app
    server.should_exit = True
    thread.join(30)
    sock.close()


def _multipart(fields: dict[str, tuple[str | None, bytes]], boundary: str = "b0undary") -> bytes:
    out = b""
    for name, (filename, data) in fields.items():
        fn = f'; filename="{filename}"' if filename is not None else ""
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"{fn}\r\n\r\n'
                ).encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def test_a_500_leaves_the_keep_alive_connection_usable(live_app):
    host, port, _ = live_app
    conn = http.client.HTTPConnection(host, port, timeout=30)
    body = _multipart({"video_file": ("a.wav", (Path(__file__).parent / "fixtures" / "dialogue.wav")
                                      .read_bytes()), "text": (None, b"BOOM")})
    conn.request("POST", "/predict", body=body,
                 headers={"Content-Type": "multipart/form-data; boundary=b0undary"})
    r = conn.getresponse()
    assert r.status == 500
    assert json.loads(r.read()) == {"detail": "internal error: RuntimeError"}
    assert (r.getheader("connection") or "").lower() != "close"
    conn.request("GET", "/health")  # the same connection
    r2 = conn.getresponse()
    assert r2.status == 200 and json.loads(r2.read())["status"] == "healthy"
    conn.close()


# 4. /predict_text: the key is checked before the body is read, and the body is bounded -----

def asgi_post(app, path: str, chunks: list[bytes], headers: dict[str, str]) -> tuple[int, dict, int]:
    """POST ``chunks`` straight to the ASGI app; ``(status, JSON body, chunks it read)``."""
    import asyncio

    read = 0
    sent: list[dict] = []

    async def receive():
        nonlocal read
        if read < len(chunks):
            read += 1
            return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks)}
        await asyncio.sleep(3600)  # the client is still "sending"; never reached when refused early

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
             "query_string": b"", "server": ("testserver", 80), "client": ("127.0.0.1", 1),
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 30))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body), read


@pytest.mark.parametrize("ctype", ["application/x-www-form-urlencoded",
                                   "multipart/form-data; boundary=XyZ"])
def test_predict_text_refuses_a_missing_key_before_reading_the_body(make_client, ctype):
    client, _ = make_client(api_keys=("k1",))
    chunks = [b"text=" + b"a" * 65536] * 100  # 6.5 MB announced, without a length
    status, body, read = asgi_post(client.app, "/predict_text", chunks, {"content-type": ctype})
    assert status == 401 and "API key" in body["detail"]
    assert read == 0, f"{read} chunk(s) of the body were read before the key was checked"
    assert uploads_left(client) == []


def test_predict_text_body_is_bounded(make_client):
    from emotrace.api.routes import MAX_TEXT_BODY

    client, _ = make_client(api_keys=("k1",))
    chunks = [b"text=" + b"a" * 65536] + [b"a" * 65536] * 40  # 2.6 MB, no Content-Length
    status, body, read = asgi_post(client.app, "/predict_text", chunks,
                                   {"content-type": "application/x-www-form-urlencoded",
                                    "x-api-key": "k1"})
    assert status == 413 and "limit" in body["detail"]
    assert read <= MAX_TEXT_BODY // 65536 + 2, "reading did not stop at the limit"
    r = client.post("/predict_text", data={"text": "x" * (MAX_TEXT_BODY + 1)}, headers={"X-API-Key": "k1"})
    assert r.status_code == 413
    r = client.post("/predict_text", files={"text": (None, "I am fine")}, headers={"X-API-Key": "k1"})
    assert r.status_code == 200 and len(r.json()["emotions"]) == 7
    assert uploads_left(client) == []


# 6. a video without sound + a transcript works on both endpoints; errors name the client's file

def test_a_silent_video_with_a_transcript_is_accepted_by_both_endpoints(make_client):
    client, fake = make_client()
    r = client.post("/predict", files=upload("no_audio.mp4", "video_file"), data={"text": "hi"})
    assert r.status_code == 200, r.text
    r = client.post("/jobs", files=upload("no_audio.mp4"), data={"text": "hi there"})
    assert r.status_code == 202, r.text
    assert wait_for(client, r.json()["id"])["status"] == "done"
    assert [c["transcript"] for c in fake.calls] == ["hi", "hi there"]


@pytest.mark.parametrize("path, field", [("/predict", "video_file"), ("/jobs", "file")])
def test_errors_name_the_clients_file_never_the_form_field(make_client, path, field):
    client, _ = make_client()
    r = client.post(path, files=upload("no_audio.mp4", field, filename="holiday.mp4"))
    assert r.status_code == 422 and r.json()["detail"].startswith("holiday.mp4: has no audio track")
    r = client.post(path, files=upload("dialogue.wav", field, filename="talk.wav"),
                    data={"text": "FAIL"})
    detail = r.json()["detail"] if path == "/predict" else wait_for(client, r.json()["id"])["error"]
    assert "talk.wav: corrupt audio" in detail and field not in detail and "upload" not in detail


# 7. out of storage: 507 with a reason, logged; a job whose result cannot be stored fails ----

class _FullDisk:
    """A file whose writes fail past ``room`` bytes, as on a full disk or over a file-size limit."""

    def __init__(self, f, room: int, code: int):
        self.f, self.room, self.code = f, room, code

    def write(self, data):
        self.room -= len(data)
        if self.room < 0:
            raise OSError(self.code, os.strerror(self.code))
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EFBIG])
@pytest.mark.parametrize("path, field", [("/predict", "video_file"), ("/jobs", "file")])
def test_an_upload_that_cannot_be_written_is_507(make_client, monkeypatch, caplog, code, path, field):
    import builtins

    from emotrace.api import uploads

    monkeypatch.setattr(uploads, "open", lambda *a, **k: _FullDisk(builtins.open(*a, **k), 10_000, code),
                        raising=False)
    client, fake = make_client()
    r = client.post(path, files=upload("dialogue.mp4", field))
    assert r.status_code == 507, r.text
    assert "storage space" in r.json()["detail"]
    assert any(rec.levelname == "ERROR" and "storage" in rec.getMessage() for rec in caplog.records)
    assert fake.calls == [] and uploads_left(client) == []
    assert client.app.state.service.runner.admitted == 0
    assert client.get("/health").status_code == 200


def test_a_job_whose_result_cannot_be_stored_fails_with_the_reason(make_client, monkeypatch, caplog):
    client, _ = make_client()
    store = client.app.state.service.store
    monkeypatch.setattr(store, "finish", disk_full)
    job = wait_for(client, client.post("/jobs", files=upload("dialogue.wav")).json()["id"])
    assert job["status"] == "failed" and "storage" in job["error"], job
    assert any(rec.levelname == "ERROR" and job["id"] in rec.getMessage() for rec in caplog.records)
    assert uploads_left(client) == []


def test_a_job_whose_failure_cannot_be_stored_either_is_logged(make_client, monkeypatch, caplog):
    client, fake = make_client()
    store = client.app.state.service.store
    monkeypatch.setattr(store, "finish", disk_full)
    monkeypatch.setattr(store, "fail", disk_full)
    job_id = client.post("/jobs", files=upload("dialogue.wav")).json()["id"]
    deadline = time.monotonic() + 30
    while not any(job_id in rec.getMessage() and "cannot record it" in rec.getMessage()
                  for rec in caplog.records):
        assert time.monotonic() < deadline, "the lost job was never logged"
        time.sleep(0.05)


# 10. the smaller ones ------------------------------------------------------------------------

def test_a_refused_cors_preflight_is_json(make_client):
    client, _ = make_client()
    r = client.options("/predict", headers={"Origin": "https://evil.example",
                                            "Access-Control-Request-Method": "POST"})
    assert r.status_code == 400 and r.headers["content-type"] == "application/json"
    assert "origin" in r.json()["detail"].lower()
    assert "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize("path", ["/health", "/jobs", "/openapi.json"])
def test_head_works_on_get_routes(make_client, path):
    client, _ = make_client()
    get, head = client.get(path), client.head(path)
    assert head.status_code == 200 == get.status_code
    assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"]


def test_openapi_lists_the_errors_and_choices_of_the_job_routes(make_client):
    from emotrace.api.store import STATUSES
    from emotrace.export import FORMATS

    client, _ = make_client()
    paths = client.get("/openapi.json").json()["paths"]
    listing = paths["/jobs"]["get"]
    assert {"400", "401", "422"} <= set(listing["responses"])
    params = {p["name"]: p["schema"] for p in listing["parameters"]}
    assert json.dumps(params["status"]).count('"enum"') and all(s in json.dumps(params["status"])
                                                                for s in STATUSES)
    assert params["offset"]["maximum"] and params["limit"]["maximum"] == 200
    result = {p["name"]: p["schema"] for p in paths["/jobs/{job_id}/result"]["get"]["parameters"]}
    assert result["format"]["enum"] == list(FORMATS)
    assert {"400", "401", "404", "409"} <= set(paths["/jobs/{job_id}/result"]["get"]["responses"])


def test_long_values_are_not_echoed_back(make_client):
    client, _ = make_client()
    long = "a" * 50_000
    for path in (f"/jobs/{long}", f"/jobs/{long}/result", f"/jobs?status={long}",
                 f"/jobs/{'b' * 32}/result?format={long}", f"/jobs?limit={long}"):
        r = client.get(path)
        assert r.status_code in (400, 404, 422), (path[:80], r.status_code)
        assert len(r.content) < 2_000, f"{path[:40]}… echoed {len(r.content)} bytes"
    r = client.delete(f"/jobs/{long}")
    assert r.status_code == 404 and len(r.content) < 2_000


def test_another_key_does_not_learn_that_the_same_bytes_were_uploaded(make_client):
    client, fake = make_client(api_keys=("alice", "bob"))
    alice, bob = {"X-API-Key": "alice"}, {"X-API-Key": "bob"}
    first = client.post("/jobs", files=upload("dialogue.wav"), headers=alice).json()
    assert wait_for(client, first["id"], headers=alice)["status"] == "done"
    again = client.post("/jobs", files=upload("dialogue.wav"), headers=alice).json()
    assert wait_for(client, again["id"], headers=alice)["reused"] is True  # one key: reused
    theirs = client.post("/jobs", files=upload("dialogue.wav"), headers=bob).json()
    job = wait_for(client, theirs["id"], headers=bob)
    assert job["status"] == "done" and job["reused"] is False
    assert len(fake.calls) == 2  # bob's upload was analysed, not served from alice's
    # /predict serves a stored result only from the asking key's own jobs (or it would answer
    # at once, telling by its speed what another key uploaded)
    carol = client.post("/jobs", files=upload("dialogue.mp4"), headers=alice).json()
    assert wait_for(client, carol["id"], headers=alice)["status"] == "done"
    calls = len(fake.calls)
    assert client.post("/predict", files=upload("dialogue.mp4", "video_file"), headers=bob).status_code == 200
    assert len(fake.calls) == calls + 1
    assert client.post("/predict", files=upload("dialogue.mp4", "video_file"), headers=alice).status_code == 200
    assert len(fake.calls) == calls + 1  # alice's own stored result
