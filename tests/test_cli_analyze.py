"""``emotrace analyze``: formats, several files, output paths, errors, cache. The plumbing
tests use a stand-in text modality; the last ones run the shipped text model."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from emotrace import pipeline as pipeline_module
from emotrace.cli import main

from .conftest import FIXTURES, REPO
from .mediahelpers import SENTENCES, HashTextScorer, needs_text_model

pytestmark = pytest.mark.slow

MP4, WAV = str(FIXTURES / "dialogue.mp4"), str(FIXTURES / "dialogue.wav")


@pytest.fixture
def fake_text(monkeypatch):
    monkeypatch.setitem(pipeline_module.SCORER_FACTORIES, "text", lambda config: HashTextScorer())


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def cache_dir(shared_cache, monkeypatch):
    """One cache for the module (so repeated inputs are quick), named by the environment."""
    monkeypatch.setenv("EMOTRACE_CACHE_DIR", str(shared_cache))
    return shared_cache


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["analyze", "-q", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_to_stdout_by_default(fake_text, cache_dir, capsys):
    code, out, err = run(capsys, MP4)
    assert code == 0, err
    body = json.loads(out)
    assert len(body["analysis"]["utterances"]) == len(SENTENCES)
    assert body["metadata"]["models"]["text"] == "hash-text@test"
    assert list(cache_dir.glob("results/*/*.json"))  # the CLI caches …
    code, out, _ = run(capsys, MP4)
    assert json.loads(out)["metadata"]["cached"] is True  # … and reads the cache back


def test_no_cache_neither_reads_nor_writes(fake_text, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EMOTRACE_CACHE_DIR", str(tmp_path / "unused"))
    for _ in range(2):
        code, out, _ = run(capsys, "--no-cache", WAV)
        assert code == 0 and "cached" not in json.loads(out)["metadata"]
    assert not (tmp_path / "unused").exists()


@pytest.mark.parametrize("fmt, check", [
    ("csv", lambda out: len(list(csv.DictReader(io.StringIO(out)))) == 5),
    ("srt", lambda out: out.count(" --> ") == 5 and out.startswith("1\n00:00:00,")),
    ("vtt", lambda out: out.startswith("WEBVTT") and out.count(" --> ") == 5),
    ("table", lambda out: "5 utterances" in out and "furious" in out),
])
def test_formats(fake_text, cache_dir, capsys, fmt, check):
    code, out, err = run(capsys, "--format", fmt, WAV)
    assert code == 0 and check(out), out


def test_words_flag(fake_text, cache_dir, capsys):
    code, out, _ = run(capsys, "--words", WAV)
    words = json.loads(out)["analysis"]["utterances"][0]["words"]
    assert [w["text"] for w in words][:3] == ["I", "am", "so"]


def test_several_files_to_a_directory(fake_text, cache_dir, tmp_path, capsys):
    out_dir = tmp_path / "out"
    code, out, _ = run(capsys, "-f", "vtt", "-o", str(out_dir), MP4, WAV)
    assert code == 0 and out == ""
    assert sorted(p.name for p in out_dir.iterdir()) == ["dialogue-2.vtt", "dialogue.vtt"]
    assert (out_dir / "dialogue.vtt").read_text().startswith("WEBVTT")


def test_one_file_to_a_path(fake_text, cache_dir, tmp_path, capsys):
    target = tmp_path / "result.csv"
    code, _, _ = run(capsys, "-f", "csv", "-o", str(target), WAV)
    assert code == 0 and target.read_text().startswith("start,end,speaker,text,")


def test_several_files_to_stdout(fake_text, cache_dir, capsys):
    code, out, _ = run(capsys, MP4, WAV)
    assert code == 0 and [r["metadata"]["file"] for r in json.loads(out)] == [MP4, WAV]
    code, out, _ = run(capsys, "-f", "srt", MP4, WAV)
    assert code == 2


def test_a_bad_file_does_not_stop_the_others(fake_text, cache_dir, capsys):
    code, out, err = run(capsys, str(FIXTURES / "not_media.mp4"), WAV, str(FIXTURES / "no_audio.mp4"))
    assert code == 3
    assert "not_media.mp4: not a readable media file" in err and "no_audio.mp4: has no audio track" in err
    assert len(json.loads(out)["analysis"]["utterances"]) == len(SENTENCES)


def test_audio_and_transcript_options(fake_text, cache_dir, capsys):
    code, out, _ = run(capsys, "--audio", WAV, str(FIXTURES / "no_audio.mp4"))
    assert code == 0 and len(json.loads(out)["analysis"]["utterances"]) == len(SENTENCES)
    code, out, _ = run(capsys, "--transcript", "What a lovely day.", WAV)
    (u,) = json.loads(out)["analysis"]["utterances"]
    assert u["text"] == "What a lovely day." and u["start_time"] == 0.0
    assert run(capsys, "--transcript", "x", WAV, MP4)[0] == 2


def test_bad_options(fake_text, cache_dir, capsys):
    assert run(capsys, "--pause", "0", WAV)[0] == 2
    with pytest.raises(SystemExit):
        main(["analyze", "--format", "xml", WAV])
    code, _, err = run(capsys, "--asr-model", "./no/such/dir", WAV)
    assert code == 4 and "does not exist" in err


@needs_text_model
def test_readme_command(tmp_path):
    """The README's first command, as a user runs it (model loading included)."""
    env = {"EMOTRACE_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "emotrace", "analyze", "tests/fixtures/dialogue.mp4",
                           "--format", "table"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "5 utterances" in lines[0] and "1 speaker" in lines[0] and len(lines) == 2 + len(SENTENCES)
    assert "happy" in lines[2] and "positive" in lines[2]
    # the default fusion keeps the sad and the fearful line as the words read them, although the
    # voice (synthetic speech, far from what it heard) calls them joy and anger
    assert "dog died" in lines[4] and lines[4].split()[2] in ("sadness", "fear"), lines[4]
    assert "terrified" in lines[5] and lines[5].split()[2] in ("sadness", "fear"), lines[5]


@needs_text_model
def test_real_model_json(capsys):
    code, out, err = run(capsys, "--no-cache", "--format", "json", MP4)
    assert code == 0, err
    body = json.loads(out)
    assert body["metadata"]["models"]["text"] != "hash-text@test"
    first = body["analysis"]["utterances"][0]
    assert first["sentiments"][0]["label"] == "positive"
