"""The whole flow on the embedded defaults: tiny random model -> example voice bank -> example manifest.

``python -m jobs.demo --out demo_out`` (what ``make demo`` runs) makes a tiny random-initialised model in the
official checkpoint formats, precomputes the example voices into a local voice bank, synthesizes the example
utterance manifest with local Ray, and prints where everything is plus a one-line summary. The audio is noise:
the weights are random until you bring real ones (see README, "Bringing real weights").
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
    p.add_argument("--workers", type=int, default=1, help="Ray actors for both jobs")
    p.add_argument("--force", action="store_true", help="redo every row even if an earlier demo finished it")
    return p


def main(argv: list[str] | None = None) -> int:
    from jobs import precompute_voices, synthesize
    from sovits_core.testing.make_model import make_model

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    out = Path(args.out).resolve()
    model_dir = Path(args.model_dir) if args.model_dir else out / "model"
    if args.model_dir is None and not (model_dir / "gpt.ckpt").exists():
        logger.info("making a tiny random model in %s (its audio is noise: bring real weights for speech)", model_dir)
        make_model(model_dir, "tiny", seed=0)
    bank, results = out / "voice_bank", out / "synthesis"
    code = precompute_voices.main(
        [
            "--voices",
            str(EXAMPLES / "voices.parquet"),
            "--model-dir",
            str(model_dir),
            "--out",
            str(bank),
            "--workers",
            str(args.workers),
        ]
    )
    if code not in (0, 3):
        logger.error("precomputing voices failed (exit %d)", code)
        return code
    synth_args = [
        "--manifest",
        str(EXAMPLES / "utterances.parquet"),
        "--voices",
        str(bank),
        "--model-dir",
        str(model_dir),
        "--out",
        str(results),
        "--workers",
        str(args.workers),
        # The random tiny model speaks noise, which every QC check rightly rejects: the demo runs QC in
        # report-only mode (scores and report, nothing retried or quarantined). With real weights QC is enforced.
        "--qc",
        "report-only" if args.model_dir is None else "default",
    ]
    code = synthesize.main(synth_args + (["--force"] if args.force else []))
    summary_path = results / "summary.json"
    if summary_path.exists():
        summary = json.loads(summary_path.read_text())
        logger.info("voice bank: %s", bank)
        logger.info("audio:      %s", results / "audio")
        logger.info("results:    %s", results / "results.parquet")
        logger.info("report:     %s", results / "report.html")
        keys = ("rows_by_status", "audio_seconds", "wall_seconds", "real_time_factor", "failures_by_reason")
        logger.info("summary:    %s", json.dumps({k: summary.get(k) for k in keys}))
        qc = summary.get("qc") or {}
        if args.model_dir is None:
            logger.info("the tiny model is random: the audio is noise until you bring real weights (README)")
            logger.info("QC ran in REPORT-ONLY mode: %d of %d rows would have failed it (expected for noise); "
                        "see the report", qc.get("flagged", 0), qc.get("checked", 0))  # fmt: skip
    return code


if __name__ == "__main__":
    from jobs.process_exit import exit_process

    exit_process(main())
