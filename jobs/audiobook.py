"""Audiobooks: a book in, finished chapter files, captions and an M4B with chapter marks out.

    python -m jobs.audiobook inspect BOOK [--all]
    python -m jobs.audiobook render --book URL --voice ID --voices BANK --model-dir DIR --out OUT_URL \\
        [--chapters 3-7] [--format mp3|flac|opus|m4a] [--master standard|acx|none] [--lexicon FILE] [--no-m4b]
    python -m jobs.audiobook rerender --out OUT_URL (--segments ID,ID | --chapter N | --lexicon FILE)

``render`` is a mode on the engine (``pipelines.engine``): every sentence of every chapter is a row synthesized on the
pool like any utterance (QC and retries included), and each chapter is stitched on a CPU task as soon as its last
sentence is done (``pipelines.audiobook``). ``rerender`` re-synthesizes chosen sentences with new seeds (or those
whose words a new lexicon changes), re-stitches only their chapters and rebuilds the M4B. Exit codes as every job:
0 done, 3 some sentences failed (their chapters are listed), 2 invalid input, 1 fatal, 130/143 stopped.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from jobs.cli import configure_logging
from pipelines.audiobook.job import AudiobookConfig, RerenderConfig, inspect_book, rerender, run
from pipelines.engine.compaction import EXIT_INVALID
from pipelines.engine.flags import ConfigError, add_flags, from_args


logger = logging.getLogger("jobs.audiobook")

__all__ = ["AudiobookConfig", "RerenderConfig", "main", "run"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m jobs.audiobook", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="{inspect,render,rerender}")
    formatter = argparse.ArgumentDefaultsHelpFormatter
    inspect = commands.add_parser("inspect", help="list the chapters a book holds", formatter_class=formatter)
    inspect.add_argument("book", help="the book: .epub, .txt, .md, or a chapters manifest (.parquet/.jsonl)")
    inspect.add_argument("--all", action="store_true", help="also list front and back matter (skipped by default)")
    render = commands.add_parser("render", help="synthesize a book into chapter files and an M4B",
                                 formatter_class=formatter)  # fmt: skip
    add_flags(render, AudiobookConfig)
    again = commands.add_parser("rerender", help="re-synthesize chosen sentences of a rendered book",
                                formatter_class=formatter)  # fmt: skip
    add_flags(again, RerenderConfig)
    for sub in (inspect, render, again):
        sub.add_argument("--log-level", default="INFO", type=str.upper, choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                         help="logging level")  # fmt: skip
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    if args.command == "inspect":
        return inspect_book(args.book, include_all=args.all, out=sys.stdout)
    try:
        config = from_args(AudiobookConfig if args.command == "render" else RerenderConfig, args)
    except ConfigError as exc:
        logger.error("invalid arguments: %s", exc)
        return EXIT_INVALID
    return run(config) if args.command == "render" else rerender(config)


if __name__ == "__main__":
    from jobs.process_exit import exit_process

    exit_process(main())
