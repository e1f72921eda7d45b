"""The whole flow on the embedded defaults: tiny random model -> example voice bank -> every mode on its example.

``python -m jobs.demo --out demo_out`` (what ``make demo`` runs) makes a tiny random-initialised model in the
official checkpoint formats, precomputes the example voices into a local voice bank, synthesizes the example
utterance manifest with local Ray, renders the two-chapter example book into chapter files and an M4B, and prints
where everything is. The audio is noise: the weights are random until you bring real ones (``--model-dir``; see
README, "Bringing real weights"), so quality control runs in report-only mode on the random model.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path


logger = logging.getLogger("jobs.demo")

EXAMPLES = Path(__file__).resolve().parents[1] / "manifests" / "examples"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", default="demo_out", help="local folder for the model, the voice bank and the outputs")
    p.add_argument("--model-dir", default=None, help="use this model folder instead of making a tiny random one")
    p.add_argument("--workers", type=int, default=1, help="Ray actors for every job")
    p.add_argument("--force", action="store_true", help="redo every row even if an earlier demo finished it")
    return p


def _common(args: argparse.Namespace, model_dir: Path, bank: Path) -> list[str]:
    # The random tiny model speaks noise, which every QC check rightly rejects: QC runs in report-only mode there
    # (scores and report, nothing retried or quarantined). With real weights QC is enforced.
    qc = "report-only" if args.model_dir is None else "default"
    return ["--voices", str(bank), "--model-dir", str(model_dir), "--workers", str(args.workers), "--qc", qc,
            *(["--force"] if args.force else [])]  # fmt: skip


def _utterances(args: argparse.Namespace, model_dir: Path, bank: Path, out: Path) -> int:
    from jobs import synthesize

    code = synthesize.main(["--manifest", str(EXAMPLES / "utterances.parquet"), "--out", str(out),
                            *_common(args, model_dir, bank)])  # fmt: skip
    if (out / "summary.json").exists():
        summary = json.loads((out / "summary.json").read_text())
        keys = ("rows_by_status", "audio_seconds", "wall_seconds", "real_time_factor", "failures_by_reason")
        logger.info("utterances: audio in %s, results %s, report %s", out / "audio", out / "results.parquet",
                    out / "report.html")  # fmt: skip
        logger.info("summary:    %s", json.dumps({k: summary.get(k) for k in keys}))
        qc = summary.get("qc") or {}
        if args.model_dir is None:
            logger.info("QC ran in REPORT-ONLY mode: %d of %d rows would have failed it (expected for noise); "
                        "see the report", qc.get("flagged", 0), qc.get("checked", 0))  # fmt: skip
    return code


def _audiobook(args: argparse.Namespace, model_dir: Path, bank: Path, out: Path) -> int:
    from jobs import audiobook

    code = audiobook.main(["render", "--book", str(EXAMPLES / "book" / "the_lighthouse.md"), "--voice", "en_alice",
                           "--out", str(out), *_common(args, model_dir, bank)])  # fmt: skip
    if (out / "summary.json").exists():
        book = json.loads((out / "summary.json").read_text()).get("audiobook") or {}
        for chapter in book.get("chapters", []):
            logger.info("audiobook:  chapter %d %r: %s (%.1f s)", chapter["index"], chapter["title"],
                        out / (chapter["key"] or "-"), chapter["duration_s"] or 0.0)  # fmt: skip
        logger.info("audiobook:  %s, captions in %s, timeline %s", out / "book.m4b", out / "captions",
                    out / "timeline.parquet")  # fmt: skip
    return code


def main(argv: list[str] | None = None) -> int:
    from jobs import precompute_voices
    from sovits_core.testing.make_model import make_model

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    out = Path(args.out).resolve()
    model_dir = Path(args.model_dir) if args.model_dir else out / "model"
    if args.model_dir is None and not (model_dir / "gpt.ckpt").exists():
        logger.info("making a tiny random model in %s (its audio is noise: bring real weights for speech)", model_dir)
        make_model(model_dir, "tiny", seed=0)
    bank = out / "voice_bank"
    code = precompute_voices.main(["--voices", str(EXAMPLES / "voices.parquet"), "--model-dir", str(model_dir),
                                   "--out", str(bank), "--workers", str(args.workers)])  # fmt: skip
    if code not in (0, 3):
        logger.error("precomputing voices failed (exit %d)", code)
        return code
    logger.info("voice bank: %s", bank)
    codes = [
        _utterances(args, model_dir, bank, out / "synthesis"),
        _audiobook(args, model_dir, bank, out / "audiobook"),
    ]
    if args.model_dir is None:
        logger.info("the tiny model is random: the audio is noise until you bring real weights (README)")
    return max(codes)


if __name__ == "__main__":
    from jobs.process_exit import exit_process

    exit_process(main())
