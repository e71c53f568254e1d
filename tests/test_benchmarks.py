"""The benchmark scripts start and describe themselves (they are run by hand, not by CI)."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize("script", ["speed.py", "older_design.py", "install_size.py", "accuracy.py"])
def test_help(script):
    proc = subprocess.run([sys.executable, str(BENCHMARKS / script), "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: ") and ".venv/bin/python benchmarks/" + script in proc.stdout


def test_accuracy_cells_read_both_report_shapes():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from accuracy import cells
    finally:
        sys.path.remove(str(BENCHMARKS))
    nested = {"emotion": {"weighted_f1": 0.5731, "macro_f1": 0.4, "accuracy": 0.61}}
    assert cells(nested, "emotion") == ["0.573", "0.400", "0.610"]
    assert cells(nested, "sentiment") == ["–", "–", "–"]
    assert cells({"weighted_f1": 1, "accuracy": 0.25}, None) == ["1.000", "–", "0.250"]


def test_readme_benchmark_table_is_generated_from_the_saved_results():
    """README.md's table between the bench markers is what benchmarks/report.py writes."""
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "report.py"), "--check"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
