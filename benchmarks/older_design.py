"""Per-utterance model cost: emotrace's models beside the older design's, same machine, same run.

    .venv/bin/python benchmarks/older_design.py [--runs 3] [--quick]

emotrace's side is the shipped code path for one utterance of about 3 s, media already decoded:
text (tokenise + ONNX model, with the utterance before it as context), voice (pooling of the
Whisper tiny.en encoder states the speech recogniser already computed + prosody + ONNX head),
face (Haar detection and tracking on the utterance's sampled frames, decoded beforehand and
replayed as the pipeline's frame stream + the expression CNN) and fusion of the three.

The older design (``../shared/reference/older-service-README.md``) is rebuilt in torch with
random weights — speed does not depend on the weights: BERT-base (``transformers.BertModel``
from a default ``BertConfig``, nothing downloaded) on input padded to 512 tokens + a 768→128
projection; R3D-18 (written here: torchvision cannot be installed beside this torch) over 30
frames of 224x224 with a 512→128 head; the mel-spectrogram 1D CNN (64 mel bins x 300 steps, the
README's two conv layers) + 128→128 projection; and the fusion MLP 384→256→64 with 7- and
3-way heads. Each is timed for one utterance (batch 1) under ``torch.inference_mode``.

Prints the median milliseconds per utterance over ``--runs`` runs (after one warm-up) and the
ratio older / emotrace per modality and in total. Needs torch and transformers (the ``train``
extra). Feature extraction that both designs need (decoding, mel-spectrogram) is left out of
the older side, so the ratio is, if anything, in the older design's favour.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402  (same folder, not a package)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
FACE_CLIP = SHARED / "media" / "talking-head" / "face_1.mp4"
FIXTURE = REPO / "tests" / "fixtures" / "dialogue.mp4"


def median_ms(fn: Callable[[], object], runs: int, warmup: int = 1) -> float:
    """Median wall milliseconds of ``fn()`` over ``runs`` calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


# ----------------------------------------------------------------------------- older design


def older_models():
    """The older design's four networks, random weights, eval mode."""
    import torch
    from torch import nn
    from transformers import BertConfig, BertModel

    class TextEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = BertModel(BertConfig())  # bert-base: 12 layers, 768 wide, 110 M parameters
            self.projection = nn.Linear(768, 128)

        def forward(self, input_ids, attention_mask):
            return self.projection(self.bert(input_ids=input_ids, attention_mask=attention_mask).pooler_output)

    class Block(nn.Module):
        """R3D's basic block: two 3x3x3 convolutions and a shortcut."""

        def __init__(self, cin: int, cout: int, stride: int):
            super().__init__()
            self.conv1 = nn.Conv3d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm3d(cout)
            self.conv2 = nn.Conv3d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm3d(cout)
            self.down = (nn.Sequential(nn.Conv3d(cin, cout, 1, stride, bias=False), nn.BatchNorm3d(cout))
                         if stride != 1 or cin != cout else nn.Identity())

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(self.bn2(self.conv2(y)) + self.down(x))

    class R3D18(nn.Module):
        """torchvision's ``video.r3d_18`` layout: stem (3x7x7, stride 1x2x2), 4 stages of 2 blocks."""

        def __init__(self, out: int = 128):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv3d(3, 64, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False),
                                      nn.BatchNorm3d(64), nn.ReLU(inplace=True))
            layers, cin = [], 64
            for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
                layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
                cin = cout
            self.layers = nn.Sequential(*layers)
            self.pool = nn.AdaptiveAvgPool3d(1)
            self.fc = nn.Linear(512, out)

        def forward(self, frames):  # [batch, frames, channels, h, w] as the older service feeds it
            x = self.layers(self.stem(frames.transpose(1, 2)))
            return self.fc(self.pool(x).flatten(1))

    class AudioEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv_layers = nn.Sequential(
                nn.Conv1d(64, 64, 3), nn.BatchNorm1d(64), nn.ReLU(), nn.MaxPool1d(2),
                nn.Conv1d(64, 128, 3), nn.BatchNorm1d(128), nn.ReLU(), nn.AdaptiveAvgPool1d(1))
            self.projection = nn.Sequential(nn.Linear(128, 128), nn.ReLU())

        def forward(self, mel):  # [batch, 1, 64, 300]
            return self.projection(self.conv_layers(mel.squeeze(1)).squeeze(-1))

    class Fusion(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(384, 256), nn.ReLU(), nn.Linear(256, 64), nn.ReLU())
            self.emotion = nn.Linear(64, 7)
            self.sentiment = nn.Linear(64, 3)

        def forward(self, text, video, audio):
            h = self.body(torch.cat([text, video, audio], dim=1))
            return self.emotion(h).softmax(-1), self.sentiment(h).softmax(-1)

    return {name: m.eval() for name, m in
            (("text", TextEncoder()), ("video", R3D18()), ("audio", AudioEncoder()), ("fusion", Fusion()))}


def time_older(runs: int) -> dict[str, float]:
    """Median ms per utterance of each older network (batch 1)."""
    import torch

    torch.manual_seed(0)
    m = older_models()
    ids = torch.randint(1000, 30000, (1, 512))
    mask = torch.zeros(1, 512, dtype=torch.long)
    mask[:, :24] = 1  # a short utterance, padded to 512 as the older service does
    frames = torch.rand(1, 30, 3, 224, 224)
    mel = torch.randn(1, 1, 64, 300)
    feats = [torch.randn(1, 128) for _ in range(3)]
    out = {}
    with torch.inference_mode():
        out["text"] = median_ms(lambda: m["text"](ids, mask), runs)
        out["voice"] = median_ms(lambda: m["audio"](mel), runs * 10)
        out["face"] = median_ms(lambda: m["video"](frames), runs)
        out["fusion"] = median_ms(lambda: m["fusion"](*feats), runs * 10)
    return out


# ----------------------------------------------------------------------------- emotrace


def time_emotrace(runs: int) -> tuple[dict[str, float | None], dict[str, str]]:
    """Median ms per utterance of emotrace's modalities and fusion; None where a model is missing."""
    from emotrace.config import MediaOptions
    from emotrace.errors import EmotraceError
    from emotrace.fusion import fuse
    from emotrace.media import decode_audio, iter_frames
    from emotrace.modalities.base import MediaContext
    from emotrace.types import Utterance

    out: dict[str, float | None] = {}
    notes: dict[str, str] = {}
    utt = Utterance(1.0, 4.0, "Oh come on, you can take the train, it is really fast.")
    scores = {}

    from emotrace.modalities.text import TextScorer

    text = TextScorer()
    scores["text"] = text.score([utt.text], ["No, when did they decide that? Nobody tells me anything."])[0]
    out["text"] = median_ms(lambda: text.score([utt.text], ["No, when did they decide that?"]), runs * 10)

    from emotrace.asr import Transcriber

    audio = decode_audio(FIXTURE)
    heard = Transcriber().transcribe(audio, keep_states=True)  # as the pipeline: the voice reuses its states
    media = MediaContext(path=str(FIXTURE), duration=len(audio) / 16000, audio=audio,
                         encoder_states=heard.encoder)
    try:
        from emotrace.modalities.audio import AudioScorer

        voice = AudioScorer()
        scores["audio"] = voice.score_utterances(media, [utt])[0]
        out["voice"] = median_ms(lambda: voice.score_utterances(media, [utt]), runs * 3)
    except EmotraceError as e:
        out["voice"], notes["voice"] = None, str(e)

    clip = FACE_CLIP if FACE_CLIP.exists() else FIXTURE
    try:
        from emotrace.modalities.face import FaceScorer

        from emotrace.modalities.face import FRAME_SIDE

        face = FaceScorer()
        side = min(FRAME_SIDE, MediaOptions().frame_max_side)
        decoded = list(iter_frames(clip, face.options.fps, side, grey=True))  # as the face stream reads them

        def replay(grey=True, max_side=0, want=None):
            return ((t, f) for t, f in decoded if want is None or want(t))

        fmedia = MediaContext(path=str(clip), duration=decoded[-1][0] + 0.5, audio=None, has_video=True,
                              frame_stream=replay, frame_fps=face.options.fps)
        scores["face"] = face.score_utterances(fmedia, [utt])[0]
        out["face"] = median_ms(lambda: face.score_utterances(fmedia, [utt]), runs * 3)
        notes["face"] = f"frames from {clip.name}" + ("" if scores["face"] else " (no face found)")
    except EmotraceError as e:
        out["face"], notes["face"] = None, str(e)

    present = {k: v for k, v in scores.items() if v is not None}
    out["fusion"] = median_ms(lambda: fuse(present), runs * 100)
    notes["fusion"] = f"gated, of {'+'.join(present)}"
    return out, notes


def ratio(old: float, mine: float) -> str:
    """``old / mine`` as ``123x`` (two significant figures below 10)."""
    r = old / mine
    return f"{r:.0f}x" if r >= 10 else f"{r:.2g}x"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3, help="timed runs of the slowest models (median)")
    p.add_argument("--quick", action="store_true", help="one timed run each")
    args = p.parse_args()
    runs = 1 if args.quick else max(1, args.runs)

    ours, notes = time_emotrace(runs)
    older = time_older(runs)

    import torch

    print(f"{describe()}; torch {torch.__version__} ({torch.get_num_threads()} threads); median of "
          f"{runs} run(s) after a warm-up (10x/100x more for the cheap ones)\n")
    print("| per utterance | emotrace (ms) | older design (ms) | older / emotrace |")
    print("|---|---|---|---|")
    names = {"text": ("text", "BERT-base, 512 tokens"), "voice": ("voice", "mel CNN"),
             "face": ("face", "R3D-18, 30x224x224"), "fusion": ("fusion", "MLP 384→256→64→7/3")}
    total_ours = total_old = 0.0
    for key, (label, older_name) in names.items():
        mine, old = ours.get(key), older[key]
        if mine is None:
            print(f"| {label} | n/a | {old:.1f} ({older_name}) | – |")
            continue
        total_ours += mine
        total_old += old
        print(f"| {label} | {mine:.3f} | {old:.1f} ({older_name}) | {ratio(old, mine)} |")
    measured = [names[k][0] for k in names if ours.get(k) is not None]
    label = "all four" if len(measured) == len(names) else " + ".join(measured)
    print(f"| **{label}** | **{total_ours:.1f}** | **{total_old:.1f}** | **{ratio(total_old, total_ours)}** |")
    for key, note in notes.items():
        print(f"\n{key}: {note}", end="")
    print()


if __name__ == "__main__":
    main()
