"""Helpers shared by the REST service tests: fixture uploads, job polling, shape checks, and
small stand-ins for the models used where a test is about routing, not about analysis."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import pytest

from emotrace.errors import MediaError
from emotrace.labels import EMOTIONS, SENTIMENTS
from emotrace.types import AnalysisResult, Scores, Utterance, UtteranceResult

from .conftest import FIXTURES


def upload(name: str, field: str = "file", filename: str | None = None) -> dict:
    """A ``files=`` entry for the TestClient with one fixture."""
    return {field: (filename or name, (FIXTURES / name).read_bytes(), "application/octet-stream")}


def wait_for(client, job_id: str, timeout: float = 300.0, headers: dict | None = None) -> dict:
    """Poll ``GET /jobs/{id}`` until the job is done or failed."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/jobs/{job_id}", headers=headers or {})
        assert r.status_code == 200, r.text
        job = r.json()
        if job["status"] in ("done", "failed"):
            return job
        assert time.monotonic() < deadline, f"job still {job['status']} after {timeout} s: {job}"
        time.sleep(0.05)


def check_ranked(items: list[dict], labels: tuple[str, ...]) -> None:
    """All labels once, highest confidence first, summing to 1."""
    assert sorted(i["label"] for i in items) == sorted(labels)
    conf = [i["confidence"] for i in items]
    assert conf == sorted(conf, reverse=True)
    assert math.isclose(sum(conf), 1.0, abs_tol=2e-3)


def check_predict_shape(body: dict, duration: float | None = None) -> list[dict]:
    """The older service's shape (plus metadata beside); returns the utterances."""
    assert set(body) >= {"analysis", "metadata"}
    utts = body["analysis"]["utterances"]
    last_end = 0.0
    for u in utts:
        assert {"start_time", "end_time", "text", "emotions", "sentiments"} <= set(u)
        assert 0.0 <= u["start_time"] <= u["end_time"]
        assert u["start_time"] >= last_end - 1e-6, "utterances overlap or are out of order"
        last_end = u["end_time"]
        if duration is not None:
            assert u["end_time"] <= duration + 0.05
        check_ranked(u["emotions"], EMOTIONS)
        check_ranked(u["sentiments"], SENTIMENTS)
    return utts


def _scores_for(text: str) -> Scores:
    # Deterministic, text-dependent distributions: different inputs give different answers.
    h = sum(map(ord, text)) % 7
    emotions = [0.04] * 7
    emotions[h] = 1.0 - 0.04 * 6
    return Scores(tuple(emotions), (0.2, 0.3, 0.5))


class FakeTextScorer:
    """Stands in for TextScorer in routing tests."""

    model_name = "fake-text@1"

    def score(self, texts):
        return [_scores_for(t) for t in texts]


class FakePipeline:
    """Stands in for Pipeline in routing tests: reads the file it is given, reports progress,
    and answers one utterance; ``gate`` holds analyses until set; the transcript ``"FAIL"``
    raises MediaError naming the file's path (as the real pipeline's errors do)."""

    def __init__(self, gate: threading.Event | None = None):
        self.gate = gate
        self.calls: list[dict] = []
        self.started = threading.Semaphore(0)
        self._lock = threading.Lock()

    def describe(self) -> dict:
        return {"version": "test", "models": {"text": "fake-text@1"}}

    def analyze(self, path, *, audio_path=None, transcript=None, hook=None, **given) -> AnalysisResult:
        with self._lock:
            self.calls.append({"path": path, "audio_path": audio_path, "transcript": transcript, **given})
        self.started.release()
        if self.gate is not None and not self.gate.wait(30):
            raise TimeoutError("test gate never opened")
        source = Path(audio_path or path)
        data = source.read_bytes()
        if transcript == "FAIL":
            raise MediaError(f"{source}: corrupt audio (test)")
        for i in range(3):
            if hook:
                hook("asr", i + 1, 3)
        text = transcript or f"{len(data)} bytes"
        utt = UtteranceResult(Utterance(0.0, 1.0, text), _scores_for(text))
        return AnalysisResult((utt,), {"duration": 1.0, "source": source.name})


def make_settings(tmp_path: Path, **changes):
    """Service settings in ``tmp_path`` with two workers (and any ``changes``)."""
    from emotrace.api import Settings

    return Settings(data_dir=tmp_path / "data", **{"workers": 2, **changes})


@pytest.fixture
def make_client(tmp_path):
    """``make(pipeline=None, **settings)`` → ``(TestClient, pipeline)``: the real app around a
    fake pipeline, each server in its own folder; all are closed at the end of the test."""
    from fastapi.testclient import TestClient

    from emotrace.api import create_app

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
    """Every file and folder left under the service's upload folder."""
    return [p for p in client.app.state.service.settings.upload_dir.rglob("*")]
