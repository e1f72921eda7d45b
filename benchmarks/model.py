"""Model-core figures with full-size v2 dimensions and random weights, on this machine's CPU.

    .venv/bin/python benchmarks/model.py            # GPT tokens/s at batch 1 and 8, SoVITS RTF, peak memory

Runs ``benchmarks/t2s.py`` and ``benchmarks/sovits.py`` in child processes (so that each reports its own peak
memory) and prints their figures plus each child's peak resident memory. Targets on the 2-core machine:
GPT >= 60 tokens/s at batch 1 and >= 4x that in total at batch 8; SoVITS real-time factor <= 0.2.
"""

from __future__ import annotations

import argparse
import logging
import resource
import subprocess
import sys
from pathlib import Path


logger = logging.getLogger("benchmarks.model")
HERE = Path(__file__).resolve().parent


def run_child(script: str, args: list[str]) -> float:
    """Run a benchmark script; return its peak RSS in MB (children's max RSS grows monotonically)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run([sys.executable, str(HERE / script), *args], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(before, after) / 1024


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2, help="torch threads in each benchmark")
    p.add_argument("--new-tokens", type=int, default=200, help="GPT tokens generated per row")
    p.add_argument("--seconds", type=float, default=5.0, help="seconds of audio per SoVITS decode")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    t2s_rss = run_child("t2s.py", ["--threads", str(args.threads), "--new-tokens", str(args.new_tokens)])
    sovits_rss = run_child("sovits.py", ["--threads", str(args.threads), "--seconds", str(args.seconds)])
    logger.info(
        "peak resident memory: GPT benchmark process %.0f MB, SoVITS benchmark process <= %.0f MB",
        t2s_rss,
        max(t2s_rss, sovits_rss),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
