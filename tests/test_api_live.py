"""The service as a process: stopped by a signal it closes its database cleanly; killed with
SIGKILL mid-work and started again on the same folder, every job still ends done exactly once.

The server is ``tests/liveserver.py`` (the real app and uvicorn around a stand-in pipeline
that waits for a gate file), so which job is running when the kill comes is certain.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the REST service needs the 'api' extra")
pytest.importorskip("uvicorn", reason="the REST service needs the 'api' extra")

from .conftest import FIXTURES, REPO  # noqa: E402


class Server:
    """``python -m tests.liveserver`` on a free loopback port."""

    def __init__(self, data_dir: Path, gate: Path | None = None, done_log: Path | None = None):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        cmd = [sys.executable, "-m", "tests.liveserver", "--data-dir", str(data_dir),
               "--fd", str(self.sock.fileno())]
        cmd += ["--gate", str(gate)] if gate else []
        cmd += ["--done-log", str(done_log)] if done_log else []
        self.proc = subprocess.Popen(cmd, cwd=REPO, pass_fds=[self.sock.fileno()],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, f"the server stopped: {self.proc.stdout.read()}"
            try:
                if self.get("/health")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)

    def get(self, path: str) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def post_job(self, data: bytes, name: str, text: str | None = None) -> dict:
        boundary = "liveB0undary"
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"'
                "\r\n\r\n").encode() + data + b"\r\n"
        if text is not None:
            body += (f'--{boundary}\r\nContent-Disposition: form-data; name="text"\r\n\r\n{text}\r\n'
                     ).encode()
        body += f"--{boundary}--\r\n".encode()
        req = urllib.request.Request(self.url + "/jobs", data=body, method="POST", headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 202
            return json.loads(r.read())

    def wait(self, job_id: str, statuses=("done", "failed"), timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(f"/jobs/{job_id}")[1]
            if job["status"] in statuses:
                return job
            assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(60)
        finally:
            self.sock.close()
            self.proc.stdout.close()
        return code


@pytest.fixture
def servers():
    started: list[Server] = []

    def start(*args, **kwargs) -> Server:
        started.append(Server(*args, **kwargs))
        return started[-1]

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.stop(signal.SIGKILL)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_server_with_every_row_in_the_database_file(tmp_path, servers, sig):
    data = tmp_path / "data"
    gate = tmp_path / "gate"
    gate.touch()
    server = servers(data, gate)
    wav = (FIXTURES / "dialogue.wav").read_bytes()
    ids = [server.post_job(wav, f"c{i}.wav", text=f"words {i}")["id"] for i in range(3)]
    assert all(server.wait(i)["status"] == "done" for i in ids)
    # uvicorn shuts down cleanly, then re-raises SIGTERM so the exit shows the signal
    assert server.stop(sig) in (0, -sig, 128 + sig)
    wal = Path(f"{data / 'jobs.sqlite3'}-wal")
    assert not wal.exists() or wal.stat().st_size == 0, "the log was not checkpointed"
    backup = tmp_path / "backup.sqlite3"  # a plain copy of the database file alone
    shutil.copyfile(data / "jobs.sqlite3", backup)
    db = sqlite3.connect(backup)
    rows = dict(db.execute("SELECT id, status FROM jobs").fetchall())
    assert rows == {i: "done" for i in ids}
    assert db.execute("SELECT COUNT(DISTINCT cache_key) FROM results").fetchone()[0] == 3
    db.close()


def test_kill_9_mid_work_then_restart_every_job_done_exactly_once(tmp_path, servers):
    data, gate, done_log = tmp_path / "data", tmp_path / "gate", tmp_path / "done.log"
    server = servers(data, gate, done_log)  # no gate yet: the first job holds the only worker
    wav = (FIXTURES / "dialogue.wav").read_bytes()
    ids = [server.post_job(wav, f"c{i}.wav", text=f"words {i}")["id"] for i in range(3)]
    assert server.wait(ids[0], statuses=("running",))["status"] == "running"
    assert [server.get(f"/jobs/{i}")[1]["status"] for i in ids[1:]] == ["queued", "queued"]
    # and an upload cut off half way by the kill
    port = int(server.url.rsplit(":", 1)[1])
    partial = socket.create_connection(("127.0.0.1", port))
    head = ('--B\r\nContent-Disposition: form-data; name="file"; filename="cut.wav"\r\n\r\n').encode()
    partial.sendall(f"POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                    f"boundary=B\r\nContent-Length: {len(head) + len(wav) + 10}\r\n\r\n".encode()
                    + head + wav[: len(wav) // 2])
    uploads = data / "uploads"
    deadline = time.monotonic() + 30
    while len([p for p in uploads.iterdir() if p.is_dir()]) < 4:
        assert time.monotonic() < deadline, "the cut-off upload never reached the disk"
        time.sleep(0.05)

    server.stop(signal.SIGKILL)
    partial.close()
    gate.touch()
    server = servers(data, gate, done_log)
    jobs = [server.wait(i) for i in ids]
    assert [j["status"] for j in jobs] == ["done"] * 3, jobs
    assert server.get("/jobs")[1]["total"] == 3
    for i in ids:
        status, body = server.get(f"/jobs/{i}/result")
        assert status == 200 and body["analysis"]["utterances"]
    assert server.stop() in (0, -signal.SIGTERM, 128 + signal.SIGTERM)

    runs = done_log.read_text().splitlines()
    assert len(runs) == 3 and len(set(runs)) == 3, runs  # each analysis completed once
    db = sqlite3.connect(data / "jobs.sqlite3")
    attempts = dict(db.execute("SELECT id, attempts FROM jobs").fetchall())
    kept = {Path(r[0]).resolve() for r in db.execute("SELECT upload_dir FROM jobs") if r[0]}
    db.close()
    assert attempts == {ids[0]: 2, ids[1]: 1, ids[2]: 1}
    left = {p.resolve() for p in uploads.iterdir()}
    assert left <= kept, f"uploads no job owns: {left - kept}"  # the cut-off one is gone
