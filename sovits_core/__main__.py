"""Single-process CLI: ``python -m sovits_core say | convert | trace``.

Bad input (missing file, unreadable audio, empty text, wrong model folder) ends with one line on stderr and a
non-zero exit code, never a traceback (``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np


if TYPE_CHECKING:
    from sovits_core.bundle import TTSBundle
    from sovits_core.synthesize import SynthesisRequest
    from sovits_core.voice import VoiceFeatures


logger = logging.getLogger("sovits_core")

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


class CliError(Exception):
    """A user-facing error: printed as one line."""


def read_audio(path: str) -> tuple[np.ndarray, int]:
    import soundfile as sf

    if not Path(path).is_file():
        raise CliError(f"audio file not found: {path}")
    try:
        wav, sr = sf.read(path, dtype="float32", always_2d=False)
    except (sf.SoundFileError, RuntimeError, ValueError) as exc:  # what soundfile raises for unreadable files
        raise CliError(f"cannot read audio {path}: {exc}") from exc
    return wav, sr


def write_audio(path: str, wav: np.ndarray, sr: int) -> None:
    import soundfile as sf

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    sf.write(tmp, wav, sr, format=(out.suffix.lstrip(".") or "wav").upper())
    tmp.replace(out)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model-dir", required=True, help="folder with gpt.ckpt, sovits.pth and the HuBERT/RoBERTa folders"
    )
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: CUDA when available)")
    p.add_argument("--dtype", default=None, help="float32, float16 or bfloat16 (half precision on CUDA only)")
    p.add_argument("--out", required=True, help="output file (.wav, .flac, .ogg) or .npz for trace")
    p.add_argument("--debug", action="store_true", help="show tracebacks")


def _add_say(p: argparse.ArgumentParser) -> None:
    _add_common(p)
    p.add_argument("--ref", action="append", required=True, help="reference clip (repeat for several; ge is averaged)")
    p.add_argument("--ref-text", default=None, help="transcript of the first clip (omit for reference-free)")
    p.add_argument("--ref-lang", default="auto", help="language of the transcript")
    p.add_argument("--text", required=True, help="text to speak")
    p.add_argument("--lang", default="auto", help="zh, en, ja, ko, yue or auto")
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.add_argument("--top-k", type=int, default=15, help="top-k sampling")
    p.add_argument("--top-p", type=float, default=1.0, help="top-p sampling")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    p.add_argument("--repetition-penalty", type=float, default=1.35, help="repetition penalty")
    p.add_argument("--speed", type=float, default=1.0, help="speaking rate")
    p.add_argument("--split", default="cut5", help="segmentation method cut0..cut5")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(prog="python -m sovits_core", description=__doc__, formatter_class=fmt)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_say(sub.add_parser("say", help="text to speech with a cloned voice", formatter_class=fmt))
    trace = sub.add_parser("trace", help="like say, writing every intermediate to an .npz", formatter_class=fmt)
    _add_say(trace)
    trace.add_argument("--noise-scale", type=float, default=0.5, help="SoVITS noise scale")
    conv = sub.add_parser("convert", help="voice conversion: speak SOURCE with REF's voice", formatter_class=fmt)
    _add_common(conv)
    conv.add_argument("--source", required=True, help="speech to convert")
    conv.add_argument("--source-text", default=None, help="optional transcript of the source (better articulation)")
    conv.add_argument("--ref", action="append", required=True, help="target voice clip (repeat for several)")
    conv.add_argument("--seed", type=int, default=0, help="noise seed")
    return parser


def _load(args: argparse.Namespace) -> TTSBundle:
    from sovits_core.bundle import ModelDirError, load_bundle

    try:
        return load_bundle(args.model_dir, device=args.device, dtype=args.dtype)
    except (ModelDirError, FileNotFoundError) as exc:
        raise CliError(str(exc)) from exc


def _voice(bundle: TTSBundle, args: argparse.Namespace, ref_text: str | None, ref_lang: str) -> VoiceFeatures:
    from sovits_core.voice import ReferenceClip, build_voice_features

    clips = [ReferenceClip(*read_audio(path)) for path in args.ref]
    return build_voice_features(bundle, clips, ref_text, ref_lang)


def _request(args: argparse.Namespace, voice: VoiceFeatures) -> SynthesisRequest:
    from sovits_core.synthesize import SynthesisRequest

    if not args.text.strip():
        raise CliError("--text is empty")
    return SynthesisRequest(
        text=args.text,
        lang=args.lang,
        voice=voice,
        seed=args.seed,
        speed=args.speed,
        top_k=args.top_k,
        top_p=args.top_p,
        temperature=args.temperature,
        repetition_penalty=args.repetition_penalty,
    )


def cmd_say(args: argparse.Namespace) -> int:
    from sovits_core.synthesize import SynthesisOptions, synthesize

    bundle = _load(args)
    request = _request(args, _voice(bundle, args, args.ref_text, args.ref_lang))
    result = synthesize(bundle, [request], SynthesisOptions(split_method=args.split))[0]
    if result.error:
        raise CliError(result.error)
    write_audio(args.out, result.audio, result.sample_rate)
    logger.info(
        "wrote %s (%.2f s, %d tokens, stop: %s)", args.out, result.duration, result.n_tokens, result.stop_reason
    )
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    from sovits_core.convert import trace
    from sovits_core.synthesize import SynthesisOptions

    bundle = _load(args)
    request = _request(args, _voice(bundle, args, args.ref_text, args.ref_lang))
    wav, sr = read_audio(args.ref[0])
    arrays = trace(bundle, request, wav, sr, SynthesisOptions(split_method=args.split, noise_scale=args.noise_scale))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **arrays)
    logger.info("wrote %s: %s", out, ", ".join(f"{k}{list(np.shape(v))}" for k, v in arrays.items()))
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from sovits_core.convert import convert_voice

    bundle = _load(args)
    voice = _voice(bundle, args, None, "auto")
    wav, sr = read_audio(args.source)
    audio = convert_voice(bundle, wav, sr, voice, source_text=args.source_text, seed=args.seed)
    write_audio(args.out, audio, bundle.sample_rate)
    logger.info("wrote %s (%.2f s)", args.out, len(audio) / bundle.sample_rate)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    commands = {"say": cmd_say, "trace": cmd_trace, "convert": cmd_convert}
    try:
        return commands[args.command](args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ValueError as exc:  # clip errors, text errors, checkpoint errors are ValueErrors with a clear message
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:
        if args.debug:
            raise
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
