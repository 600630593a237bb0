"""The `strideguard` command: parse the arguments, set up logging, run one command's handler.

Presentation only (tables, JSON, exit codes); the work is done by the rooms and `service.py`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from importlib import import_module

from cli.parser import build_parser

CHATTY_COMMANDS = ("run", "ingest", "reprocess", "demo")  # log INFO lines by default


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    verbose: bool = args.verbose
    logging.basicConfig(
        level=logging.DEBUG if verbose else
        logging.INFO if args.command in CHATTY_COMMANDS else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    if not verbose:
        # their INFO lines repeat every few seconds and say nothing an operator needs
        logging.getLogger("alembic").setLevel(logging.WARNING)
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    module_name, function_name = args.handler.split(":")
    handler = getattr(import_module(f"cli.{module_name}"), function_name)
    # imported after parsing, so that `--help` never loads pydantic
    from config import ConfigError
    from config.locate import EXIT_CONFIG

    try:
        return int(handler(args))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIG
    except ValueError as exc:  # e.g. a malformed --as-of date
        print(f"strideguard: {exc}", file=sys.stderr)
        return EXIT_CONFIG
