"""The longest media accepted: checked from the container's header before anything is decoded
(service default 4 h: ``EMOTRACE_MAX_DURATION`` / ``--max-duration``; CLI: no limit unless
``--max-duration``)."""

from __future__ import annotations

import pytest

from emotrace.config import parse_duration
from emotrace.errors import ConfigError, MediaError

from .conftest import FIXTURES


@pytest.mark.parametrize("text, seconds", [("4h", 14400.0), ("90m", 5400.0), ("3600", 3600.0),
                                           ("2.5h", 9000.0), ("45s", 45.0), ("0", 0.0),
                                           ("none", 0.0), ("1h30m", 5400.0)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "-1h", "4 days", "h"])
def test_parse_duration_refuses_what_is_not_a_duration(text):
    with pytest.raises(ConfigError, match="not a duration"):
        parse_duration(text)


def test_decoding_stops_at_the_limit_when_the_header_does_not_say(monkeypatch):
    """A container without a duration cannot be checked up front; decoding stops at the limit."""
    from emotrace.media import decode_audio

    with pytest.raises(MediaError, match="more than the 2 s allowed"):
        decode_audio(FIXTURES / "dialogue.wav", max_seconds=2.0)
    assert len(decode_audio(FIXTURES / "dialogue.wav", max_seconds=3600)) > 16000 * 2


def test_cli_analyze_max_duration(capsys, tmp_path):
    from emotrace.cli import main

    code = main(["analyze", str(FIXTURES / "dialogue.wav"), "--max-duration", "5s", "--no-cache",
                 "-q", "--modalities", "text"])
    err = capsys.readouterr().err
    assert code == 3 and "more than the 5 s allowed" in err


api = pytest.importorskip("fastapi", reason="the REST service needs the 'api' extra")


def test_settings_max_duration_from_env_and_flags(tmp_path):
    from emotrace.api import Settings

    assert Settings.from_env({}).max_duration == 4 * 3600
    assert Settings.from_env({"EMOTRACE_MAX_DURATION": "30m"}).max_duration == 1800
    assert Settings.from_env({"EMOTRACE_MAX_DURATION": "0"}).max_duration == 0  # no limit
    assert Settings.from_env({"EMOTRACE_MAX_DURATION": "30m"}, max_duration=60).max_duration == 60
    with pytest.raises(ConfigError, match="EMOTRACE_MAX_DURATION"):
        Settings.from_env({"EMOTRACE_MAX_DURATION": "forever"})


@pytest.mark.parametrize("path, field", [("/predict", "video_file"), ("/jobs", "file")])
def test_service_refuses_media_over_the_limit_before_decoding(tmp_path, path, field):
    from fastapi.testclient import TestClient

    from emotrace.api import Settings, create_app

    from .apihelpers import FakePipeline, FakeTextScorer, upload

    fake = FakePipeline()
    app = create_app(Settings(data_dir=tmp_path / "d", max_duration=10), fake,
                     text_scorer=FakeTextScorer())
    with TestClient(app) as client:
        r = client.post(path, files=upload("dialogue.wav", field, filename="long.wav"))
        assert r.status_code == 413, r.text
        assert r.json()["detail"] == ("long.wav: lasts 23 s, more than the 10 s allowed "
                                      "(the server's limit, EMOTRACE_MAX_DURATION)")
        assert fake.calls == []
        assert list(app.state.service.settings.upload_dir.iterdir()) == []
        assert client.get("/openapi.json").status_code == 200


def test_serve_max_duration_flag(monkeypatch, tmp_path):
    pytest.importorskip("uvicorn")
    from emotrace import api as api_module
    from emotrace import pipeline as pipeline_module
    from emotrace.cli import main

    seen = {}
    monkeypatch.setattr(pipeline_module, "Pipeline", lambda config: seen.setdefault("config", config))
    monkeypatch.setattr(api_module, "create_app", lambda settings, pipeline=None, **_: seen.update(
        settings=settings))
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: None)
    assert main(["serve", "--data-dir", str(tmp_path), "--max-duration", "2h"]) == 0
    assert seen["settings"].max_duration == 7200
    assert seen["config"].media.max_duration == 7200  # also stops decoding of a header without one
    assert main(["serve", "--data-dir", str(tmp_path)]) == 0
    assert seen["settings"].max_duration == 4 * 3600
