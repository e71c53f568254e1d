"""Bad input against a live ``emotrace serve`` (real models, real uvicorn, loopback port):
every kind of bad request gets its exact status and a JSON ``detail``, nothing is left on
disk, and the server is still healthy afterwards.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the REST service needs the 'api' extra")
pytest.importorskip("uvicorn", reason="the REST service needs the 'api' extra")

from .conftest import FIXTURES, REPO  # noqa: E402

pytestmark = pytest.mark.slow

KEY = "corpus-key"
AUTH = {"X-API-Key": KEY}
MAX_UPLOAD = 1024 * 1024
WAV = (FIXTURES / "dialogue.wav").read_bytes()
MP4 = (FIXTURES / "dialogue.mp4").read_bytes()
SILENCE = (FIXTURES / "silence.wav").read_bytes()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``emotrace serve`` with API keys on, a 1 MiB upload limit and a 20 s duration limit:
    ``(host, port, data_dir)``."""
    data = tmp_path_factory.mktemp("corpus") / "data"
    port = free_port()
    env = {**os.environ, "EMOTRACE_API_KEYS": KEY}
    log = open(data.parent / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "emotrace", "serve", "--port", str(port),
                             "--data-dir", str(data), "--workers", "1", "--max-upload", "1M", "--max-duration", "20s",
                             # the voice model is not what these tests are about
                             "--modalities", "text,face"],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while True:
        assert proc.poll() is None, (data.parent / "server.log").read_text()
        try:
            if call(("127.0.0.1", port), "GET", "/health")[0] == 200:
                break
        except OSError:
            time.sleep(0.2)
        assert time.monotonic() < deadline, "emotrace serve did not start"
    yield "127.0.0.1", port, data
    proc.terminate()
    proc.wait(60)
    log.close()


DECLARED_ONLY = MAX_UPLOAD
"""Bodies over the server's limit are announced (Content-Length) but not sent: the server refuses
them from the header alone and closes the connection, and a client still sending would get a
broken pipe or a reset, depending on timing."""


def call(server, method: str, path: str, body: bytes = b"", headers: dict | None = None
         ) -> tuple[int, dict, dict]:
    """One request on its own connection: ``(status, JSON body, headers)``."""
    host, port = server[0], server[1]
    conn = http.client.HTTPConnection(host, port, timeout=120)
    try:
        if len(body) > DECLARED_ONLY:
            conn.putrequest(method, path)
            for k, v in {**(headers or {}), "Content-Length": str(len(body))}.items():
                conn.putheader(k, v)
            conn.endheaders()
        else:
            conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        raw = r.read()
        ctype = r.getheader("content-type", "")
        assert ctype.startswith("application/json"), (method, path[:60], r.status, ctype, raw[:200])
        return r.status, json.loads(raw) if raw else {}, dict(r.getheaders())
    finally:
        conn.close()


def form(fields: list[tuple[str, str | None, bytes]], boundary: str = "c0rpus") -> tuple[bytes, dict]:
    """A multipart body of ``(name, filename or None, data)`` parts, and its headers."""
    out = b""
    for name, filename, data in fields:
        fn = f'; filename="{filename}"' if filename is not None else ""
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"{fn}\r\n\r\n'.encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, {"Content-Type": f"multipart/form-data; boundary={boundary}", **AUTH}


def _truncated_form() -> tuple[bytes, dict]:
    body, headers = form([("video_file", "a.wav", WAV)])
    return body[: len(body) // 2], headers


def _parts(n: int) -> tuple[bytes, dict]:
    return form([("text", None, b"x")] * n)


CORPUS = [
    # (kind, method, path, (body, headers), status, words in detail)
    ("empty body", "POST", "/predict", (b"", AUTH), 415, "multipart/form-data"),
    ("random bytes as the video", "POST", "/predict",
     form([("video_file", "clip.mp4", os.urandom(4096))]), 415, "clip.mp4: not a readable media file"),
    ("random bytes as a job", "POST", "/jobs",
     form([("file", "clip.mp4", os.urandom(4096))]), 415, "clip.mp4: not a readable media file"),
    ("media cut inside its header", "POST", "/predict",
     form([("video_file", "cut.mp4", MP4[:1000])]), 415, "cut.mp4: not a readable media file"),
    ("video without audio", "POST", "/predict",
     form([("video_file", "silent.mp4", (FIXTURES / "no_audio.mp4").read_bytes())]), 422,
     "silent.mp4: has no audio track"),
    ("wrong field name", "POST", "/predict", form([("video", "a.wav", WAV)]), 422,
     "send a video_file, an audio_file or a text"),
    ("job without its file field", "POST", "/jobs", form([("video_file", "a.wav", WAV)]), 422,
     "multipart file field 'file'"),
    ("huge text", "POST", "/predict_text",
     (b"text=" + b"a" * (2 * MAX_UPLOAD), {"Content-Type": "application/x-www-form-urlencoded", **AUTH}),
     413, "limit"),
    ("huge transcript", "POST", "/predict", form([("text", None, b"a" * (MAX_UPLOAD // 2 + 10))] * 2),
     413, "limit"),
    ("empty text", "POST", "/predict_text",
     (b"text=%20%20", {"Content-Type": "application/x-www-form-urlencoded", **AUTH}), 422, "empty"),
    ("text field missing", "POST", "/predict_text",
     (b"words=hi", {"Content-Type": "application/x-www-form-urlencoded", **AUTH}), 422, "'text'"),
    ("hostile file name", "POST", "/jobs",
     form([("file", "../../../etc/passwd\x00.mp4", b"not media")]), 415, "not a readable media file"),
    ("media longer than the duration limit", "POST", "/jobs", form([("file", "long.wav", WAV)]),
     413, "long.wav: lasts 23 s, more than the 20 s allowed"),
    ("upload over the limit", "POST", "/jobs", form([("file", "big.wav", os.urandom(MAX_UPLOAD + 1))]),
     413, "limit"),
    ("malformed multipart: long boundary", "POST", "/predict",
     (b"--" + b"x" * 300 + b"\r\n", {"Content-Type": "multipart/form-data; boundary=" + "x" * 300, **AUTH}),
     400, "boundary"),
    ("malformed multipart: truncated", "POST", "/jobs", _truncated_form(), 400, "truncated"),
    ("malformed multipart: part without a name", "POST", "/predict",
     (b'--c0rpus\r\nContent-Disposition: form-data\r\n\r\nx\r\n--c0rpus--\r\n',
      {"Content-Type": "multipart/form-data; boundary=c0rpus", **AUTH}), 400, "no name"),
    ("too many parts", "POST", "/predict", _parts(100), 400, "too many form parts"),
    ("the same file twice", "POST", "/jobs", form([("file", "a.wav", SILENCE), ("file", "b.wav", SILENCE)]),
     400, "given twice"),
    ("JSON instead of a form", "POST", "/jobs", (b'{"file": "x"}', {"Content-Type": "application/json", **AUTH}),
     415, "multipart/form-data"),
    ("multipart without a boundary", "POST", "/predict",
     (b"xx", {"Content-Type": "multipart/form-data", **AUTH}), 415, "multipart/form-data"),
    ("no API key", "POST", "/jobs", (form([("text", None, b"hi")])[0],
                                     {"Content-Type": "multipart/form-data; boundary=c0rpus"}), 401, "API key"),
    ("wrong API key", "GET", "/jobs", (b"", {"Authorization": "Bearer nope"}), 401, "API key"),
    ("limit not a number", "GET", "/jobs?limit=ten", (b"", AUTH), 422, "integer"),
    ("limit zero", "GET", "/jobs?limit=0", (b"", AUTH), 422, "greater than or equal to 1"),
    ("offset past 2^63", "GET", "/jobs?offset=9223372036854775808", (b"", AUTH), 422, "less than or equal"),
    ("unknown status", "GET", "/jobs?status=finished", (b"", AUTH), 400, "expected one of"),
    ("unknown format", "GET", "/jobs/0123/result?format=exe", (b"", AUTH), 400, "expected one of"),
    ("unknown job", "GET", "/jobs/0123456789abcdef", (b"", AUTH), 404, "unknown job"),
    ("very long job id", "GET", "/jobs/" + "f" * 5000, (b"", AUTH), 404, "unknown job"),
    ("delete an unknown job", "DELETE", "/jobs/nope", (b"", AUTH), 404, "unknown job"),
    ("unknown route", "GET", "/admin", (b"", {}), 404, "Not Found"),
    ("wrong method", "PUT", "/predict", (b"", AUTH), 405, "Method Not Allowed"),
    ("refused CORS preflight", "OPTIONS", "/predict",
     (b"", {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}), 400, "origin"),
]


@pytest.mark.parametrize("kind, method, path, request_, status, words", CORPUS,
                         ids=[c[0] for c in CORPUS])
def test_bad_request(served, kind, method, path, request_, status, words):
    body, headers = request_
    got, answer, _ = call(served, method, path, body, headers)
    assert got == status, (kind, answer)
    detail = answer["detail"]
    text = json.dumps(detail)
    assert words.lower() in text.lower(), (kind, detail)
    assert str(served[2]) not in text and "uploads/" not in text, "a server path leaked"
    assert len(text) < 2000, "the detail echoes too much"


@pytest.mark.parametrize("raw", [b"GARBAGE\r\n\r\n", b"GET /health HTTP/1.1\r\nHost x\r\n\r\n",
                                 b"GET /health HTTP/1.1\r\nContent-Length: -1\r\n\r\n"],
                         ids=["garbled request line", "header without a colon", "negative length"])
def test_malformed_http_is_refused_with_json(served, raw):
    with socket.create_connection(served[:2], timeout=30) as s:
        s.sendall(raw)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), head
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body)["detail"].startswith("malformed HTTP request")


def test_after_the_corpus_the_server_is_healthy_and_kept_nothing(served):
    for kind, method, path, (body, headers), _, _ in CORPUS[:5]:  # in order, whatever ran before
        call(served, method, path, body, headers)
    status, health, _ = call(served, "GET", "/health")
    assert status == 200 and health["status"] == "healthy" and health["queued_or_running"] == 0
    assert [p for p in (served[2] / "uploads").iterdir()] == []
    assert call(served, "HEAD", "/health")[0] == 200


def test_a_silent_video_with_a_transcript_is_scored_from_words_and_faces(served):
    video = (FIXTURES / "no_audio.mp4").read_bytes()
    body, headers = form([("video_file", "silent.mp4", video), ("text", None, b"We did it!")])
    status, answer, _ = call(served, "POST", "/predict", body, headers)
    assert status == 200, answer
    [utt] = answer["analysis"]["utterances"]
    assert utt["text"] == "We did it!" and utt["start_time"] == 0.0
    body, headers = form([("file", "silent.mp4", video), ("text", None, b"We did it again!")])
    status, created, _ = call(served, "POST", "/jobs", body, headers)
    assert status == 202, created
    deadline = time.monotonic() + 120
    while (job := call(served, "GET", created["status_url"], b"", AUTH)[1])["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert job["status"] == "done", job
