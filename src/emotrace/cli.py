"""The ``emotrace`` command: flags → options → library call → output. No analysis logic here."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

from . import __version__
from .config import (ASR_COMPUTE_TYPES, ASR_DEVICES, DiarizationOptions, SegmentationOptions, TextOptions,
                     parse_duration)
from .errors import ClusterError, ConfigError, DataError, EmotraceError, MediaError, ModelError
from .export import FORMATS
from .labels import EMOTIONS, SENTIMENTS
from .progress import TqdmProgress

log = logging.getLogger("emotrace")

# Distinct exit codes let scripts tell bad input from a broken install.
EXIT_CODES = {ConfigError: 2, MediaError: 3, DataError: 3, ModelError: 4, ClusterError: 5}


def _exit_code(e: EmotraceError) -> int:
    return next((code for cls, code in EXIT_CODES.items() if isinstance(e, cls)), 1)


def _text_options(args: argparse.Namespace) -> TextOptions:
    return TextOptions(model=args.text_model, context_turns=getattr(args, "context", None),
                       dialogue=not getattr(args, "no_dialogue", False))


def cmd_text(args: argparse.Namespace) -> int:
    from .modalities.text import TextScorer

    scorer = TextScorer(_text_options(args))
    texts = args.sentences
    scores = scorer.score_dialogue(texts) if args.as_dialogue else scorer.score(texts)
    if args.json:
        payload = [{"text": t, **s.to_dict()} for t, s in zip(texts, scores)]
        print(json.dumps(payload[0] if len(payload) == 1 else payload, indent=2))
        return 0
    for t, s in zip(texts, scores):
        print(t)
        for title, d in (("emotion", s.to_dict()["emotions"]), ("sentiment", s.to_dict()["sentiments"])):
            print(f"  {title}:")
            for item in d:
                print(f"    {item['label']:<9} {item['confidence']:.3f}  {'█' * round(item['confidence'] * 30)}")
    return 0


def cmd_evaluate_text(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_text

    progress = TqdmProgress(enabled=not args.quiet)
    try:
        report = evaluate_text(args.meld_csv, _text_options(args), hook=progress)
    finally:
        progress.close()
    print(json.dumps(report, indent=2))
    return 0


def _pipeline_config(args: argparse.Namespace, max_duration: float | None = None):
    from .config import AsrOptions, DiarizationOptions, MediaOptions, PipelineConfig, SegmentationOptions

    return PipelineConfig(
        media=MediaOptions(max_duration=max_duration),
        modalities=tuple(m.strip() for m in args.modalities.split(",") if m.strip()),
        asr=AsrOptions(model=args.asr_model, download=args.download_model, device=args.device,
                       language=args.language, compute_type=getattr(args, "compute_type", "auto")),
        segmentation=SegmentationOptions(pause=args.pause, max_duration=args.max_utterance),
        diarization=DiarizationOptions(enabled=not args.no_diarize, num_speakers=args.speakers,
                                       min_speakers=args.min_speakers, max_speakers=args.max_speakers),
        text=_text_options(args))


def _ray_options(args: argparse.Namespace):
    """The Ray options of ``--ray`` and its companions (``analyze`` and ``serve``)."""
    from .distributed.cluster import RayOptions

    return RayOptions(address=args.ray, actors=args.ray_actors, threads=args.ray_threads,
                      transfer=args.ray_transfer)


def _analyze_locally(args: argparse.Namespace, jobs: list, pipeline_config) -> tuple[list, int]:
    """Each (input, target) in turn in this process; returns the stdout results and status."""
    from .cache import ResultCache
    from .pipeline import Pipeline
    from .targets import write_result

    pipeline = Pipeline(pipeline_config)
    cache = None if args.no_cache else ResultCache(args.cache_dir)
    results, status = [], 0
    for item, target in jobs:
        # Bars only on a terminal: redirected stderr (logs, CI) stays readable.
        progress = TqdmProgress(prefix=f"{Path(item.path).name}: ",
                                enabled=not args.quiet and sys.stderr.isatty())
        kwargs = dict(audio_path=args.audio, transcript=args.transcript, hook=progress)
        try:
            result = (cache.analyze(pipeline, item.path, **kwargs) if cache is not None
                      else pipeline.analyze(item.path, **kwargs))
        except (MediaError, ConfigError) as e:  # one bad file must not stop the others
            print(f"emotrace: error: {e}", file=sys.stderr)
            status = status or _exit_code(e)
            continue
        finally:
            progress.close()
        if target is None:
            results.append(result)
        else:
            write_result(result, target, args.format, args.words)
            if not args.quiet:
                print(f"emotrace: wrote {target}", file=sys.stderr)
    return results, status


def _analyze_on_ray(args: argparse.Namespace, jobs: list, pipeline_config) -> tuple[list, int]:
    """The same on a Ray cluster: results are written as files finish, in any order."""
    from .distributed import ActorPool, analyze_many
    from .targets import write_result

    targets = {item.path: target for item, target in jobs}
    finished: dict[str, object] = {}
    status = 0
    with ActorPool(pipeline_config, _ray_options(args)) as pool:
        if not args.quiet:
            print(f"emotrace: {len(jobs)} file(s) on {pool.size} Ray actor(s) of "
                  f"{args.ray_threads} CPU(s)", file=sys.stderr)
        bar = _file_bar(len(jobs), args.quiet)
        try:
            for outcome in analyze_many(targets, pool=pool, options=pool.options):
                bar.update(1)
                if outcome.error is not None:
                    bar.write(f"emotrace: error: {outcome.error}", file=sys.stderr)
                    e = outcome.error
                    status = status or (_exit_code(e) if isinstance(e, EmotraceError) else 1)
                    continue
                target = targets[outcome.path]
                if target is None:
                    finished[outcome.path] = outcome.result
                else:
                    write_result(outcome.result, target, args.format, args.words)
                    if not args.quiet:
                        bar.write(f"emotrace: wrote {target}", file=sys.stderr)
        finally:
            bar.close()
    # stdout keeps the order the files were given in
    return [finished[item.path] for item, _ in jobs if item.path in finished], status


def _file_bar(total: int, quiet: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc="files", unit="file", file=sys.stderr, disable=quiet,
                dynamic_ncols=True)


def cmd_analyze(args: argparse.Namespace) -> int:
    from .export import EXTENSIONS, render_many
    from .targets import expand_inputs, output_paths

    if args.ray is not None and Path(args.ray).exists():  # "--ray FILE …" took a file as address
        args.files, args.ray = [args.ray, *args.files], "auto"
    inputs = expand_inputs(args.files)
    folder = any(Path(f).is_dir() for f in args.files)
    if len(inputs) > 1 and (args.audio or args.transcript is not None):
        raise ConfigError("--audio and --transcript apply to a single FILE")
    if args.ray is not None and (args.audio or args.transcript is not None):
        raise ConfigError("--audio and --transcript are not available with --ray")
    targets = output_paths(inputs, args.output, EXTENSIONS[args.format], folder)
    if args.output is None and len(inputs) > 1 and args.format in ("srt", "vtt"):
        raise ConfigError(f"--format {args.format} holds one file; with several files use --output DIR")
    if args.skip_existing and args.output is None:
        raise ConfigError("--skip-existing needs --output (the outputs it looks for)")
    jobs = [(i, t) for i, t in zip(inputs, targets)
            if not (args.skip_existing and t is not None and t.exists())]
    if len(jobs) < len(inputs) and not args.quiet:
        print(f"emotrace: skipping {len(inputs) - len(jobs)} file(s) whose output exists",
              file=sys.stderr)
    limit = parse_duration(args.max_duration) if args.max_duration else 0.0
    config = _pipeline_config(args, limit or None)
    run = _analyze_on_ray if args.ray is not None else _analyze_locally
    results, status = run(args, jobs, config) if jobs else ([], 0)
    if results:
        sys.stdout.write(render_many(results, args.format, args.words))
    return status


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from .api import Settings, create_app
        from .api.protocol import HTTP_PROTOCOL
        from .api.settings import parse_size
    except ImportError as e:
        raise EmotraceError(f"the REST service needs the 'api' extra ({e}); "
                            "install it with: pip install 'emotrace[api]'") from e

    settings = Settings.from_env(
        host=args.host, port=args.port, workers=args.workers, max_queue=args.max_queue,
        data_dir=args.data_dir, db_path=args.db, keep_days=args.keep_days,
        max_upload_bytes=parse_size(args.max_upload) if args.max_upload else None,
        max_duration=parse_duration(args.max_duration) if args.max_duration else None)
    if args.ray is not None and args.workers is not None:
        raise ConfigError("--workers counts local threads; with --ray the actors run the "
                          "analyses: use --ray-actors")
    config = _pipeline_config(args, settings.duration_limit)
    # The models load once, here (or in each Ray actor), before the port opens.
    if args.ray is not None:
        from .distributed import RayPipeline

        pipeline = RayPipeline(config, _ray_options(args))
        # one waiting thread per actor: the admission limits count actors, not local threads
        settings = dataclasses.replace(settings, workers=pipeline.workers)
    else:
        from .pipeline import Pipeline

        pipeline = Pipeline(config)
    try:
        app = create_app(settings, pipeline)
        print(f"emotrace: serving on http://{settings.host}:{settings.port} (API docs at /docs)",
              file=sys.stderr)
        uvicorn.run(app, host=settings.host, port=settings.port, http=HTTP_PROTOCOL,
                    log_level="debug" if args.verbose > 1 else "info")
    finally:
        if args.ray is not None:  # after the app closed its job store: running jobs stay queued
            pipeline.close()
    return 0


def cmd_evaluate_audio(args: argparse.Namespace) -> int:
    from .config import AudioOptions
    from .evaluate import evaluate_audio

    actors = {int(a) for a in args.actors.split(",")} if args.actors else None
    speakers = {s.strip() for s in args.speakers.split(",") if s.strip()} if args.speakers else None
    progress = TqdmProgress(enabled=not args.quiet)
    try:
        report = evaluate_audio(args.ravdess_dir, AudioOptions(model=args.audio_model), actors, hook=progress,
                                labels_csv=args.labels_csv, speakers=speakers)
    finally:
        progress.close()
    print(json.dumps(report, indent=2))
    return 0


def cmd_evaluate_face(args: argparse.Namespace) -> int:
    from .config import FaceOptions
    from .evaluate import evaluate_face

    progress = TqdmProgress(enabled=not args.quiet)
    try:
        report = evaluate_face(args.fer_npz, FaceOptions(model=args.face_model), hook=progress,
                               labels_csv=args.labels_csv)
    finally:
        progress.close()
    print(json.dumps(report, indent=2))
    return 0


def _add_evaluate_voice_face(evsub) -> None:
    # Exactly one source each: argparse says so in one usage line (exit 2, as a ConfigError).
    ea = evsub.add_parser("audio", help="voice model on RAVDESS-named speech files or a labels.csv")
    src = ea.add_mutually_exclusive_group(required=True)
    src.add_argument("--ravdess-dir", default=None,
                     help="folder of Actor_NN folders (or files) named 03-01-EE-II-SS-RR-AA.*")
    src.add_argument("--labels-csv", default=None, metavar="FILE",
                     help="labels.csv with path,label[,speaker] (paths relative to it), or its folder")
    ea.add_argument("--actors", default="", help="with --ravdess-dir: comma-separated actor numbers to keep (default: all)")
    ea.add_argument("--speakers", default="", help="with --labels-csv: comma-separated speakers to keep (default: all)")
    ea.add_argument("--audio-model", default="default", help="'default' or a model directory")
    ea.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    ea.set_defaults(func=cmd_evaluate_audio)
    ef = evsub.add_parser("face", help="expression model on FER2013's .npz or a labels.csv of images")
    src = ef.add_mutually_exclusive_group(required=True)
    src.add_argument("--fer-npz", default=None, help=".npz with images (N, 48, 48) uint8, labels, label_names")
    src.add_argument("--labels-csv", default=None, metavar="FILE",
                     help="labels.csv with path,label of images (paths relative to it), or its folder; "
                          "the largest face of each is scored")
    ef.add_argument("--face-model", default="default", help="'default' or a model directory")
    ef.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    ef.set_defaults(func=cmd_evaluate_face)


def _add_text_model_args(parser: argparse.ArgumentParser) -> None:
    """The text model flags that every command scoring text shares (read by ``_text_options``)."""
    parser.add_argument("--text-model", default="default", help="'default' or a text model directory")
    parser.add_argument("--no-dialogue", action="store_true",
                        help="score each utterance from its own words only, without the text model's dialogue head (which reads the whole conversation)")


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    """The model and segmentation flags that ``analyze`` and ``serve`` share."""
    parser.add_argument("--asr-model", default="default",
                        help="speech model: 'default' (tiny.en, English only), 'base' (multilingual "
                             "Whisper base, installed by emotrace[asr-base]; never downloaded), a size "
                             "name such as small, a hub id or a local CTranslate2 directory")
    parser.add_argument("--download-model", action="store_true",
                        help="allow downloading the --asr-model if it is not cached (off: never uses the network)")
    parser.add_argument("--device", default="auto", choices=ASR_DEVICES, help="where speech recognition runs")
    parser.add_argument("--compute-type", default="auto", choices=ASR_COMPUTE_TYPES, metavar="TYPE",
                        help="speech recognition's CTranslate2 compute type (default: int8 on CPU, float16 "
                             "on CUDA); float32 makes transcripts independent of tiny differences in the "
                             "decoded audio, 1.2-1.3x slower (benchmarks/README.md)")
    parser.add_argument("--language", default=None, help="spoken language code, e.g. de (default: detected by a multilingual model; "
                             "English with tiny.en). The text model reads English only: for any other "
                             "language the words are not scored and voice and face decide")
    parser.add_argument("--modalities", default="text,audio,face",
                        help="comma-separated modalities to score and fuse: text, audio, face; a modality the file lacks (no video, no face) is skipped per utterance (default: %(default)s)")
    _add_text_model_args(parser)
    parser.add_argument("--pause", type=float, default=SegmentationOptions.pause,
                        help="seconds of silence that end an utterance (default: %(default)s)")
    parser.add_argument("--max-utterance", type=float, default=SegmentationOptions.max_duration,
                        help="longest utterance in seconds (default: %(default)s)")
    parser.add_argument("--no-diarize", action="store_true",
                        help="do not look for speakers (utterances then carry none)")
    parser.add_argument("--speakers", type=int, default=None, metavar="N",
                        help="the number of speakers, when known (default: found automatically)")
    parser.add_argument("--min-speakers", type=int, default=DiarizationOptions.min_speakers, metavar="N",
                        help="at least this many speakers (default: %(default)s)")
    parser.add_argument("--max-speakers", type=int, default=DiarizationOptions.max_speakers, metavar="N",
                        help="at most this many speakers (default: %(default)s)")


def _add_ray_args(parser: argparse.ArgumentParser, what: str) -> None:
    """``--ray`` and its companions (read by ``_ray_options``); Ray is imported only when used."""
    from .distributed.cluster import TRANSFERS

    parser.add_argument("--ray", nargs="?", const="auto", default=None, metavar="ADDRESS",
                        help=f"run {what} on a Ray cluster (needs emotrace[ray]): 'auto' (the "
                             "default: the cluster this machine joined with 'ray start', else a "
                             "local one), HOST:PORT of the head, ray://HOST:10001, or 'local'. "
                             "Put it after the FILEs, or write --ray=ADDRESS")
    parser.add_argument("--ray-actors", type=int, default=0, metavar="N",
                        help="analysis actors, each with its own copy of the models (default: as "
                             "many as the cluster's CPUs allow at --ray-threads each)")
    parser.add_argument("--ray-threads", type=int, default=1, metavar="N",
                        help="CPUs reserved by (and threads used in) each actor (default: 1)")
    parser.add_argument("--ray-transfer", default="auto", choices=TRANSFERS,
                        help="how files reach the workers: 'path' (every node sees them at the same "
                             "path), 'object-store' (their bytes travel through Ray), 'auto' (the "
                             "path where a worker sees the same file, else the object store)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    p = argparse.ArgumentParser(prog="emotrace", description=(
        "Turn a video or audio file into a timeline of utterances with emotion and sentiment "
        f"({', '.join(EMOTIONS)}; {', '.join(SENTIMENTS)})."))
    p.add_argument("--version", action="version", version=f"emotrace {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging on stderr")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("text", help="score sentences from the words alone")
    t.add_argument("sentences", nargs="+", metavar="SENTENCE")
    t.add_argument("--json", action="store_true", help="print JSON instead of a table")
    t.add_argument("--as-dialogue", action="store_true",
                   help="treat the sentences as consecutive turns (each gets the ones before as context)")
    _add_text_model_args(t)
    t.set_defaults(func=cmd_text)

    an = sub.add_parser("analyze", help="video/audio files → utterance timeline with emotions (JSON by default)",
                        description="Transcribe each FILE, split it into utterances and score each one.")
    an.add_argument("files", nargs="+", metavar="FILE",
                    help="video (mp4, mov, mkv, avi, webm) or audio file, or a folder of them "
                         "(searched recursively; outputs keep its tree)")
    an.add_argument("-f", "--format", default="json", choices=FORMATS, help="output format (default: json)")
    an.add_argument("-o", "--output", metavar="PATH_OR_DIR",
                    help="write here instead of stdout; a directory (one file per input) for several FILEs")
    an.add_argument("--words", action="store_true", help="include every word with its times (json, csv, table)")
    _add_model_args(an)
    an.add_argument("--audio", metavar="AUDIO_FILE", help="take the sound from this file instead of FILE")
    an.add_argument("--transcript", metavar="TEXT",
                    help="skip speech recognition: FILE is one utterance with this text")
    an.add_argument("--no-cache", action="store_true", help="neither read nor write the result cache")
    an.add_argument("--max-duration", metavar="DURATION", default=None,
                    help="refuse media longer than this, read from the file's header before "
                         "decoding, e.g. 4h or 90m (default: no limit)")
    an.add_argument("--cache-dir", default=None,
                    help="result cache directory (default: $EMOTRACE_CACHE_DIR or ~/.cache/emotrace)")
    an.add_argument("--skip-existing", action="store_true",
                    help="with --output: leave out the files whose output is already there (a "
                         "re-run finishes an interrupted batch)")
    _add_ray_args(an, "the files")
    an.add_argument("-q", "--quiet", action="store_true", help="no progress bar or messages")
    an.set_defaults(func=cmd_analyze)

    sv = sub.add_parser("serve", help="run the REST service (needs the 'api' extra)",
                        description="Serve the older /predict API and jobs over HTTP. Every option "
                        "can also be set as an EMOTRACE_* environment variable (flags win); API keys "
                        "(EMOTRACE_API_KEYS) and CORS origins (EMOTRACE_CORS_ORIGINS) only there.")
    sv.add_argument("--host", default=None, help="interface to listen on (default: 127.0.0.1)")
    sv.add_argument("--port", type=int, default=None, help="TCP port (default: 8000)")
    sv.add_argument("--workers", type=int, default=None,
                    help="analyses run at once, as threads sharing one copy of the models "
                         "(default: half the CPU cores, 1 to 4)")
    sv.add_argument("--max-queue", type=int, default=None,
                    help="analyses allowed to wait; beyond it requests get 503 (default: 16)")
    sv.add_argument("--max-upload", default=None, metavar="SIZE",
                    help="largest upload, e.g. 500M or 2G (default: 1G)")
    sv.add_argument("--data-dir", default=None,
                    help="where uploads wait for their job (default: ~/.local/share/emotrace)")
    sv.add_argument("--db", default=None, help="SQLite job store (default: DATA_DIR/jobs.sqlite3)")
    sv.add_argument("--keep-days", type=float, default=None,
                    help="remove finished jobs and their results this many days after they finish; "
                         "0 keeps them forever (default: 30)")
    sv.add_argument("--max-duration", metavar="DURATION", default=None,
                    help="refuse media longer than this (413), read from the file's header "
                         "before decoding, e.g. 4h or 90m; 0 for no limit (default: 4h)")
    _add_model_args(sv)
    _add_ray_args(sv, "the analyses (/predict and /jobs)")
    sv.set_defaults(func=cmd_serve)

    ev = sub.add_parser("evaluate", help="measure a model on labelled data; prints JSON")
    evsub = ev.add_subparsers(dest="modality", required=True, metavar="MODALITY")
    et = evsub.add_parser("text", help="text model on a CSV in MELD's format")
    et.add_argument("--meld-csv", required=True, help="CSV with Utterance, Emotion, Sentiment, Dialogue_ID, Utterance_ID")
    et.add_argument("--context", type=int, default=None,
                    help="preceding utterances used as context (default: the model's own)")
    _add_text_model_args(et)
    et.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    et.set_defaults(func=cmd_evaluate_text)
    _add_evaluate_voice_face(evsub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``emotrace`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2),
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return args.func(args)
    except EmotraceError as e:
        print(f"emotrace: error: {e}", file=sys.stderr)
        return _exit_code(e)
    except KeyboardInterrupt:
        print("emotrace: interrupted", file=sys.stderr)
        return 130
