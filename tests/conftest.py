"""Shared test helpers: where the fixtures and the (optional) shared data live."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
SHARED_DATA = REPO.parent / "shared" / "data"
TEXT_MODEL = REPO / "src" / "emotrace" / "models" / "text" / "model.onnx"


def shared_data(*parts: str) -> Path:
    """Path inside ../shared/data, skipping the test when it is absent (a user's fresh clone)."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the project's shared data sets), which is not present here")
    return path
