"""What every job entry point shares: flags from its config dataclass, logging, and ``main``.

A job module defines a frozen ``*JobConfig`` (flags come from its fields, see ``pipelines.engine.flags``) and a
``run(config) -> int``; ``job_main`` parses the command line, sets up logging and turns a bad setting into one line
and exit code 2.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from typing import Any

from pipelines.engine.compaction import EXIT_INVALID
from pipelines.engine.flags import ConfigError, add_flags, from_args


logger = logging.getLogger("jobs")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_QUIET = ("filelock", "urllib3", "botocore", "s3fs", "aiobotocore", "jieba", "numba")


def configure_logging(level: str = "INFO") -> None:
    """Log lines with time, level and logger name; third-party chatter kept at WARNING."""
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT)
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))


def build_parser(config_cls: type, prog: str, description: str) -> argparse.ArgumentParser:
    """A parser with one flag per setting of ``config_cls`` (help on every flag) plus ``--log-level``."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    add_flags(parser, config_cls)
    parser.add_argument("--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS, help="logging level")
    return parser


def parse_config(config_cls: type, parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> tuple[Any, str]:
    """(config, log level) from the command line; ConfigError for a setting out of range."""
    args = parser.parse_args(argv)
    return from_args(config_cls, args), args.log_level


def job_main(
    config_cls: type, run: Callable[[Any], int], prog: str, description: str, argv: Sequence[str] | None = None
) -> int:
    """Parse, configure logging, run; a bad setting is one line and exit code 2."""
    parser = build_parser(config_cls, prog, description)
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    try:
        config = from_args(config_cls, args)
    except ConfigError as exc:
        logger.error("invalid arguments: %s", exc)
        return EXIT_INVALID
    return run(config)
