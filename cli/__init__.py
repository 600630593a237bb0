"""The `strideguard` command: parse the arguments, set up logging, run one command's handler.

Presentation only (tables, JSON, exit codes); the work is done by the rooms and `service.py`.

Exit codes every command shares: 2 for a bad argument, config or rules (config.locate.
EXIT_CONFIG), 3 when the database cannot be used (down, refusing the connection or the
password, a file that cannot be opened: EXIT_DATABASE); 1 is each command's own "it ran, and
something failed" (a test notification, a retry that failed again, a file that could not be
read).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from importlib import import_module

from cli.parser import build_parser

CHATTY_COMMANDS = ("run", "ingest", "reprocess", "demo")  # log INFO lines by default
EXIT_DATABASE = 3  # the database cannot be used: one line naming it (password hidden), no trace


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
    except _database_errors() as exc:
        print(_database_problem(getattr(args, "config", None), exc), file=sys.stderr)
        return EXIT_DATABASE


def _database_errors() -> tuple[type[Exception], ...]:
    """SQLAlchemy's errors of a database that cannot be used (OperationalError: refused, down,
    authentication failed, locked, cannot open the file; InterfaceError: the driver lost it);
    none while SQLAlchemy is not loaded (it raised nothing then)."""
    errors = sys.modules.get("sqlalchemy.exc")
    if errors is None:
        return ()
    return (errors.OperationalError, errors.InterfaceError)


def _database_problem(config_arg: str | None, exc: Exception) -> str:
    """`strideguard: cannot use the database postgresql+psycopg://sg:***@db/sg: <the driver's
    words on one line>`; the password never (config.redact_url, and taken out of the words)."""
    from config import redact_url
    from config.locate import load_config
    from store.db import describe_database_failure  # here: `--help` never loads SQLAlchemy

    try:
        url = load_config(config_arg)[0].database
    except Exception:  # the config loaded a moment ago; if not now, say it without the URL
        url = None
    cause = describe_database_failure(exc, _password_of(url) if url else None)
    where = f" {redact_url(url)}" if url else ""
    return f"strideguard: cannot use the database{where}: {cause}"


def _password_of(url: str) -> str | None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).password
    except (ArgumentError, ValueError):
        return None
