"""The public API: everything in ``emotrace.__all__`` exists, and the README's Python examples
need nothing but ``emotrace`` itself."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import emotrace

README = Path(__file__).resolve().parents[1] / "README.md"


def test_everything_in_all_is_importable():
    for name in emotrace.__all__:
        assert getattr(emotrace, name) is not None, name
    for needed in ("analyze", "Pipeline", "PipelineConfig", "FusionOptions", "AudioOptions", "render",
                   "EmotraceError", "MediaError", "ConfigError", "AnalysisResult"):
        assert needed in emotrace.__all__, needed


def test_version_is_the_installed_packages():
    assert emotrace.__version__ == version("emotrace")


def test_readme_python_examples_import_only_from_emotrace():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has Python examples"
    imports = [line.strip() for b in blocks for line in b.splitlines()
               if line.strip().startswith(("import ", "from "))]
    for line in imports:
        assert re.match(r"from emotrace import ", line), line
        names = [n.strip() for n in line.split(" import ", 1)[1].split(",")]
        assert all(n in emotrace.__all__ for n in names), line
