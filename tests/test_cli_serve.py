"""``emotrace serve``: its flags reach the settings and the one pipeline the service loads."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="the REST service needs the 'api' extra")
uvicorn = pytest.importorskip("uvicorn", reason="the REST service needs the 'api' extra")

from emotrace import api, pipeline as pipeline_module  # noqa: E402
from emotrace.cli import main  # noqa: E402


@pytest.fixture
def captured(monkeypatch):
    seen = {}

    class RecordingPipeline:
        def __init__(self, config):
            seen["config"] = config

    def fake_create_app(settings, pipeline=None, **_):
        seen["settings"], seen["pipeline"] = settings, pipeline
        return "app"

    monkeypatch.setattr(pipeline_module, "Pipeline", RecordingPipeline)
    monkeypatch.setattr(api, "create_app", fake_create_app)
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, run=kw))
    return seen


def test_serve_passes_model_flags_to_the_pipeline(captured, tmp_path):
    model_dir = tmp_path / "my-text-model"
    assert main(["serve", "--port", "8123", "--data-dir", str(tmp_path), "--asr-model", "base.en",
                 "--download-model", "--language", "en", "--modalities", "text,audio",
                 "--text-model", str(model_dir), "--pause", "1.5", "--max-utterance", "12",
                 "--keep-days", "3"]) == 0
    config = captured["config"]
    assert config.modalities == ("text", "audio")
    assert (config.asr.model, config.asr.download, config.asr.language) == ("base.en", True, "en")
    assert config.text.model == str(model_dir)
    assert (config.segmentation.pause, config.segmentation.max_duration) == (1.5, 12.0)
    assert captured["settings"].port == 8123 and captured["settings"].data_dir == tmp_path
    assert captured["settings"].keep_days == 3
    assert captured["run"]["port"] == 8123 and captured["app"] == "app"


def test_serve_defaults_match_analyze(captured, tmp_path):
    from emotrace.config import MediaOptions, PipelineConfig

    assert main(["serve", "--data-dir", str(tmp_path)]) == 0
    # but for the service's media duration limit (4 h by default; none in analyze)
    assert captured["config"] == PipelineConfig(media=MediaOptions(max_duration=4 * 3600))
