"""The `strideguard` command line (DESIGN §2.1): arguments only, so `--help` imports nothing else.

Each command names its handler as "module:function" in cli/; the module is imported only when
that command runs.
"""

from __future__ import annotations

import argparse

CONFIG_HELP = ("config file (default: $STRIDEGUARD_CONFIG, else ./strideguard.yaml, "
               "else embedded defaults)")
AS_OF_HELP = "local date YYYY-MM-DD (default: today)"


def _command(commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str,
             handler: str, help_text: str) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(handler=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="strideguard",
        description="Watch a folder of FIT files and alert runners about injury-risk patterns.")
    parser.add_argument("--config", help=CONFIG_HELP)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = _command(commands, "init", "setup:cmd_init",
                    "write a starter config, rules and folders")
    init.add_argument("dir", nargs="?")

    run = _command(commands, "run", "run:cmd_run", "run the service (until SIGTERM/SIGINT)")
    run.add_argument("--once", action="store_true",
                     help="one cycle: scan, ingest, evaluate, deliver; then exit")

    ingest = _command(commands, "ingest", "ingest:cmd_ingest", "ingest files or folders now")
    ingest.add_argument("paths", nargs="+")
    ingest.add_argument("--athlete", help="athlete id for files outside the inbox")

    reprocess = _command(commands, "reprocess", "ingest:cmd_reprocess",
                         "re-read archived originals and update activities in place")
    reprocess.add_argument("--athlete")

    activities = _command(commands, "activities", "activities:cmd_activities",
                          "list stored activities")
    activities.add_argument("--athlete")
    activities.add_argument("--json", action="store_true")

    evaluate = _command(commands, "evaluate", "evaluate:cmd_evaluate", "evaluate the rules")
    evaluate.add_argument("--as-of", help=AS_OF_HELP)
    evaluate.add_argument("--dry-run", action="store_true",
                          help="show what would fire; store and send nothing")
    evaluate.add_argument("--athlete")
    evaluate.add_argument("--rule", help="only this rule id")
    evaluate.add_argument("--json", action="store_true")

    explain = _command(commands, "explain", "evaluate:cmd_explain",
                       "a rule's metric day by day for one athlete, and where it fires")
    explain.add_argument("rule", help="rule id")
    explain.add_argument("--athlete", required=True)
    explain.add_argument("--as-of", help=AS_OF_HELP)
    explain.add_argument("--days", type=int, default=28, help="days shown (default: 28)")
    explain.add_argument("--json", action="store_true")

    report = _command(commands, "report", "report:cmd_report", "every metric per athlete")
    report.add_argument("--athlete")
    report.add_argument("--as-of", help=AS_OF_HELP)
    report.add_argument("--json", action="store_true")

    alerts = _command(commands, "alerts", "alerts:cmd_alerts", "alerts and their delivery state")
    alerts.add_argument("--json", action="store_true")

    digest = _command(commands, "digest", "digest:cmd_digest",
                      "the weekly digest: preview it as files, or queue it with --send")
    digest.add_argument("--athlete", help="only this athlete's digest (no squad digest)")
    digest.add_argument("--week", help="ISO week YYYY-Www (default: the week just ended)")
    digest.add_argument("--out", default="digest-preview",
                        help="preview folder for HTML, PNG and .eml files (default: "
                             "./digest-preview)")
    digest.add_argument("--send", action="store_true",
                        help="queue and send the digests now (once per athlete and week)")

    _command(commands, "check-config", "setup:cmd_check_config", "validate config and rules")

    demo = _command(commands, "demo", "setup:cmd_demo",
                    "a ten-week synthetic history that fires an alert")
    demo.add_argument("dir", nargs="?")
    return parser
