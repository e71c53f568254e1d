"""The result cache: content + configuration + model versions in the key, lossless entries."""

from __future__ import annotations

import json
import shutil

import pytest

from emotrace import Pipeline, PipelineConfig
from emotrace.cache import (ENTRY_FORMAT, ResultCache, default_cache_dir, file_digest, result_from_json, result_key,
                            result_to_json)
from emotrace.config import SegmentationOptions

from .apihelpers import make_client  # noqa: F401 (a fixture)
from .conftest import FIXTURES
from .mediahelpers import HashTextScorer

pytestmark = pytest.mark.slow


class Counting:
    """A pipeline wrapper that counts real analyses."""

    def __init__(self, pipeline):
        self.inner, self.calls = pipeline, 0
        self.config = pipeline.config

    def describe(self):
        return self.inner.describe()

    def analyze(self, *args, **kwargs):
        self.calls += 1
        return self.inner.analyze(*args, **kwargs)


@pytest.fixture(scope="module")
def pipeline():
    return Pipeline(PipelineConfig(modalities=("text",)), scorers={"text": HashTextScorer()})


def test_second_analysis_comes_from_the_cache(pipeline, tmp_path):
    cache, counted = ResultCache(tmp_path), Counting(pipeline)
    first = cache.analyze(counted, FIXTURES / "dialogue.wav")
    second = cache.analyze(counted, FIXTURES / "dialogue.wav")
    assert counted.calls == 1
    assert second.utterances == first.utterances  # lossless: every float and word equal
    assert second.metadata["cached"] is True and "cached" not in first.metadata
    assert len(list(tmp_path.glob("results/*/*.json"))) == 1


def test_key_is_the_content_not_the_name(pipeline, tmp_path):
    copy = tmp_path / "renamed.wav"
    shutil.copy(FIXTURES / "dialogue.wav", copy)
    cache, counted = ResultCache(tmp_path / "c"), Counting(pipeline)
    cache.analyze(counted, FIXTURES / "dialogue.wav")
    hit = cache.analyze(counted, copy)
    assert counted.calls == 1 and hit.metadata["file"] == str(copy)
    copy.write_bytes(copy.read_bytes()[:-2] + b"\x01\x02")
    cache.analyze(counted, copy)
    assert counted.calls == 2


def test_configuration_models_and_inputs_change_the_key(pipeline, tmp_path):
    cache = ResultCache(tmp_path)
    other = Pipeline(PipelineConfig(segmentation=SegmentationOptions(pause=1.5)), scorers={"text": HashTextScorer()})
    wav = FIXTURES / "dialogue.wav"
    keys = {cache.key(pipeline, wav), cache.key(other, wav), cache.key(pipeline, wav, transcript="hi"),
            cache.key(pipeline, FIXTURES / "no_audio.mp4", audio_path=wav),
            cache.key(pipeline, FIXTURES / "silence.wav")}
    assert len(keys) == 5
    renamed = Counting(pipeline)
    renamed.describe = lambda: {**pipeline.describe(), "models": {"text": "other@2"}}
    assert cache.key(renamed, wav) != cache.key(pipeline, wav)


def test_damaged_entry_is_recomputed(pipeline, tmp_path):
    cache, counted = ResultCache(tmp_path), Counting(pipeline)
    cache.analyze(counted, FIXTURES / "dialogue.wav")
    (entry,) = tmp_path.glob("results/*/*.json")
    entry.write_text("{not json")
    result = cache.analyze(counted, FIXTURES / "dialogue.wav")
    assert counted.calls == 2 and result.utterances
    assert json.loads(entry.read_text())["format"] == ENTRY_FORMAT  # rewritten
    assert cache.clear() == 1 and not list(tmp_path.glob("results/*/*.json"))


def test_unwritable_cache_still_returns_results(pipeline, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    result = ResultCache(blocker).analyze(pipeline, FIXTURES / "dialogue.wav")
    assert result.utterances


def test_round_trip(pipeline):
    result = pipeline.analyze(FIXTURES / "dialogue.wav")
    back = result_from_json(json.loads(json.dumps(result_to_json(result))))
    assert back == result
    with pytest.raises(ValueError, match="format"):
        result_from_json({"format": 99})


def test_default_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("EMOTRACE_CACHE_DIR", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x" and ResultCache().directory == tmp_path / "x"
    monkeypatch.delenv("EMOTRACE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "emotrace"


def test_the_service_keys_its_results_as_this_cache_does(make_client):
    """One key scheme: a job's stored result is under :func:`result_key` of the same inputs."""
    pytest.importorskip("fastapi", reason="the REST service needs the 'api' extra")
    from .apihelpers import upload, wait_for

    client, fake = make_client()
    job = wait_for(client, client.post("/jobs", files=upload("dialogue.wav")).json()["id"])
    stored = client.app.state.service.store.get(job["id"])
    assert stored.cache_key == result_key(fake.describe(), None, file_digest(FIXTURES / "dialogue.wav"))
