"""The multilingual Whisper base of the ``asr-base`` extra: joining its parts into the cache
(with stand-in packages: no model needed), and the real model on speech the project makes
(skipped, saying why, when the extra is not installed)."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys

import pytest

from emotrace import Pipeline, PipelineConfig
from emotrace.asr import Transcriber, resolve_model
from emotrace.metrics import word_error_rate
from emotrace.asr_models import WHISPER_BASE, SplitModel, prepare_split_model
from emotrace.config import AsrOptions
from emotrace.errors import ConfigError, ModelError
from emotrace.media import decode_audio

from .conftest import FIXTURES
from .mediahelpers import SENTENCES, HashTextScorer

REASON = "text model supports en only"
HAS_BASE = all(importlib.util.find_spec(p) is not None for p, _ in WHISPER_BASE.parts)
needs_base = pytest.mark.skipif(
    not HAS_BASE, reason="the asr-base extra is not installed (pip install -e '.[asr-base]')")


@pytest.fixture
def fake_packages(tmp_path, monkeypatch):
    """Two importable packages holding a 'model.bin' in two parts and its other files."""
    root = tmp_path / "site"
    payload = {"fakepart_a": {"model.bin.part1": b"A" * 5000},
               "fakepart_b": {"model.bin.part2": b"B" * 3000, "config.json": b"{}",
                              "tokenizer.json": b"{}"}}
    for package, files in payload.items():
        (root / package / "data").mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
        for name, data in files.items():
            (root / package / "data" / name).write_bytes(data)
    monkeypatch.syspath_prepend(str(root))
    for package in payload:  # another test's copies must not be found instead
        monkeypatch.delitem(sys.modules, package, raising=False)
    joined = b"A" * 5000 + b"B" * 3000
    model = SplitModel("fake", "asr-fake", (("fakepart_a", "model.bin.part1"), ("fakepart_b", "model.bin.part2")),
                       (("fakepart_b", "config.json"), ("fakepart_b", "tokenizer.json")),
                       len(joined), hashlib.sha256(joined).hexdigest())
    return model, root


def test_parts_are_joined_once_and_checked(fake_packages, tmp_path):
    model, _ = fake_packages
    target = prepare_split_model(model, tmp_path / "cache")
    assert target == tmp_path / "cache" / "models" / model.directory_name
    assert (target / "model.bin").read_bytes() == b"A" * 5000 + b"B" * 3000
    assert (target / "config.json").is_file() and (target / "tokenizer.json").is_file()
    assert sorted(p.name for p in target.iterdir()) == [".verified", "config.json", "model.bin", "tokenizer.json"]
    stamp = (target / "model.bin").stat().st_mtime_ns
    os.utime(target / "model.bin", ns=(stamp - 10**9, stamp - 10**9))
    assert prepare_split_model(model, tmp_path / "cache") == target  # found, not joined again
    assert (target / "model.bin").stat().st_mtime_ns == stamp - 10**9


def test_a_damaged_copy_in_the_cache_is_joined_again(fake_packages, tmp_path):
    model, _ = fake_packages
    target = prepare_split_model(model, tmp_path)
    (target / "model.bin").write_bytes(b"truncated")
    prepare_split_model(model, tmp_path)
    assert (target / "model.bin").stat().st_size == model.size


def test_parts_that_do_not_join_into_the_release_are_refused(fake_packages, tmp_path):
    model, root = fake_packages
    (root / "fakepart_b" / "data" / "model.bin.part2").write_bytes(b"C" * 3000)  # same size, other bytes
    with pytest.raises(ModelError, match="reinstall emotrace\\[asr-fake\\]"):
        prepare_split_model(model, tmp_path)
    target = tmp_path / "models" / model.directory_name
    assert not (target / "model.bin").exists() and not (target / ".verified").exists()
    assert not [p for p in target.iterdir() if p.name.endswith(".tmp")]


def test_a_missing_extra_says_what_to_install(tmp_path, monkeypatch):
    missing = SplitModel("base", "asr-base", (("no_such_part_pkg_1", "model.bin.part1"),), (), 1, "0" * 64)
    with pytest.raises(ModelError, match=r"install emotrace\[asr-base\]"):
        prepare_split_model(missing, tmp_path)
    if not HAS_BASE:  # the real name, as a user meets it
        with pytest.raises(ModelError, match=r"install emotrace\[asr-base\]"):
            Transcriber(AsrOptions(model="base"))


@pytest.mark.slow
def test_an_english_only_model_refuses_another_language():
    with pytest.raises(ConfigError, match="knows English only.*--asr-model base"):
        Transcriber(AsrOptions(language="de"))
    assert Transcriber(AsrOptions(language="en")).transcribe(
        decode_audio(FIXTURES / "dialogue.wav")[:80_000]).language_source == "given"


# --- the real model (slow: a few seconds each on two cores) ---------------------------------

@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Transcriber:
    if not HAS_BASE:
        pytest.skip("the asr-base extra is not installed (pip install -e '.[asr-base]')")
    cache = tmp_path_factory.mktemp("cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("EMOTRACE_CACHE_DIR", str(cache))
    try:
        yield Transcriber(AsrOptions(model="base"))
    finally:
        mp.undo()


@needs_base
@pytest.mark.slow
def test_base_resolves_into_the_cache_without_a_download(base):
    assert base.multilingual and "models/faster-whisper-base-" in base.model_dir
    assert base.model_name.startswith("faster-whisper base (emotrace[asr-base] ")
    assert os.path.getsize(os.path.join(base.model_dir, "model.bin")) == WHISPER_BASE.size


@needs_base
@pytest.mark.slow
@pytest.mark.parametrize("name, language, words", [
    ("german.flac", "de", ("heute", "traurig", "allein")),
    ("italian.flac", "it", ("felice", "oggi", "sole", "triste")),
])
def test_base_detects_the_language(base, name, language, words):
    heard = base.transcribe(decode_audio(FIXTURES / name))
    assert heard.language == language and heard.language_source == "detected"
    assert heard.language_probability > 0.8
    assert all(w in heard.text.lower() for w in words), heard.text


@needs_base
@pytest.mark.slow
def test_base_on_english(base):
    heard = base.transcribe(decode_audio(FIXTURES / "dialogue.wav"))
    assert heard.language == "en" and heard.language_probability > 0.8
    assert word_error_rate(" ".join(SENTENCES), heard.text) <= 0.10, heard.text


@needs_base
@pytest.mark.slow
def test_a_given_language_is_used(base):
    forced = Transcriber(AsrOptions(model=base.model_dir, language="it"))
    heard = forced.transcribe(decode_audio(FIXTURES / "italian.flac"))
    assert (heard.language, heard.language_source, heard.language_probability) == ("it", "given", 1.0)
    with pytest.raises(ConfigError, match="not a language of"):
        Transcriber(AsrOptions(model=base.model_dir, language="xx"))


@needs_base
@pytest.mark.slow
def test_silence_has_no_language(base):
    heard = base.transcribe(decode_audio(FIXTURES / "silence.wav"))
    assert heard.words == () and heard.language == "" and heard.language_probability == 0.0


@needs_base
@pytest.mark.slow
def test_pipeline_with_base_leaves_the_words_of_german_out(base):
    class EnglishText(HashTextScorer):
        languages = ("en",)

    text = EnglishText()
    pipeline = Pipeline(PipelineConfig(modalities=("text",), asr=AsrOptions(model="base")),
                        scorers={"text": text}, transcriber=base)
    result = pipeline.analyze(FIXTURES / "german.flac")
    md = result.metadata
    assert md["language"] == "de" and md["language_probability"] > 0.8
    assert md["absent_modalities"] == {"text": REASON} and md["reason"] == REASON
    assert text.calls == 0 and result.utterances == ()
    assert "base" in md["models"]["asr"]


@needs_base
@pytest.mark.slow
def test_resolving_base_again_finds_it_joined(base):
    before = os.path.getmtime(os.path.join(base.model_dir, "model.bin"))
    directory, name = resolve_model(AsrOptions(model="base"))  # the fixture's EMOTRACE_CACHE_DIR
    assert directory == base.model_dir and name == base.model_name
    assert name == "faster-whisper base (emotrace[asr-base] 1.0.0)"
    assert os.path.getmtime(os.path.join(directory, "model.bin")) == before


def test_the_command_line_says_what_to_install(monkeypatch, capsys):
    from emotrace import asr, cli

    missing = SplitModel("base", "asr-base", (("no_such_part_pkg_1", "model.bin.part1"),), (), 1, "0" * 64)
    monkeypatch.setitem(asr.PACKAGED_MODELS, "base", missing)  # as if the extra were not installed
    code = cli.main(["analyze", str(FIXTURES / "german.flac"), "--asr-model", "base", "--no-cache"])
    assert code == 4 and "install emotrace[asr-base]" in capsys.readouterr().err


@pytest.mark.slow
def test_the_command_line_refuses_german_for_tiny_en(capsys):
    from emotrace import cli

    code = cli.main(["analyze", str(FIXTURES / "german.flac"), "--language", "de", "--no-cache"])
    err = capsys.readouterr().err
    assert code == 2 and "knows English only" in err and "--asr-model base" in err


def test_the_command_line_takes_a_compute_type():
    from emotrace import cli

    args = cli.build_parser().parse_args(["analyze", "x.mp4", "--compute-type", "float32",
                                          "--asr-model", "base", "--language", "de"])
    asr = cli._pipeline_config(args).asr
    assert (asr.compute_type, asr.model, asr.language) == ("float32", "base", "de")
    assert cli._pipeline_config(cli.build_parser().parse_args(["serve"])).asr.compute_type == "auto"
