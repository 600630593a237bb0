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
    ingest.add_argument("--copy", action="store_true",
                        help="leave the originals where they are: copies go to the archive "
                             "(a backfill from a folder another tool owns)")

    reprocess = _command(commands, "reprocess", "ingest:cmd_reprocess",
                         "re-read archived originals and update activities in place")
    reprocess.add_argument("--athlete")

    activities = _command(commands, "activities", "activities:cmd_activities",
                          "list stored activities")
    activities.add_argument("--athlete")
    activities_format = activities.add_mutually_exclusive_group()
    activities_format.add_argument("--json", action="store_true")
    activities_format.add_argument("--csv", action="store_true",
                                   help="CSV with a header row, the JSON's fields")

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
    report_format = report.add_mutually_exclusive_group()
    report_format.add_argument("--json", action="store_true")
    report_format.add_argument("--csv", action="store_true",
                               help="CSV: one row per athlete and local day (athlete, date, then "
                                    "one column per metric)")
    report.add_argument("--days", type=int, default=1,
                        help="with --csv: the last N days up to --as-of (default: 1)")

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

    _silence_commands(commands)
    _journal_commands(commands)
    _operator_commands(commands)

    _command(commands, "check-config", "setup:cmd_check_config", "validate config and rules")

    demo = _command(commands, "demo", "setup:cmd_demo",
                    "a ten-week synthetic history that fires an alert")
    demo.add_argument("dir", nargs="?")
    return parser


def _group(commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str,
           help_text: str, description: str) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """A command with actions of its own (`silence add`, `journal list`)."""
    group = commands.add_parser(name, help=help_text, description=description)
    return group.add_subparsers(dest=f"{name}_command", required=True, metavar="ACTION")


def _silence_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`silence add | list | expire`: mute rules for an athlete for a while (DESIGN §8)."""
    actions = _group(
        commands, "silence", "mute rules for an athlete for a while (add, list, expire)",
        "Mute rules for an athlete for a while. Silenced rules are still evaluated: what they "
        "find is recorded and listed in the digest, not sent, and sent once when the silence "
        "ends if it still holds.")

    add = _command(actions, "add", "silence:cmd_silence_add",
                   "mute rules (or a preset of them) for an athlete; prints the silence id last")
    add.add_argument("--athlete", required=True)
    which = add.add_mutually_exclusive_group(required=True)
    which.add_argument("--rule", nargs="+", action="extend", metavar="ID",
                       help="rule ids to mute (any rule, named by you)")
    which.add_argument("--preset", metavar="NAME",
                       help="a preset of silences.yaml (e.g. holiday, ill, taper, injured)")
    until = add.add_mutually_exclusive_group(required=True)
    until.add_argument("--for", dest="duration", metavar="DURATION",
                       help="how long from now: 36h, 10d, 2w")
    until.add_argument("--until", metavar="DATE",
                       help="the last day muted, YYYY-MM-DD: the silence lasts to the end of "
                            "that day in the athlete's time zone")
    add.add_argument("--reason", required=True, help="why (shown in alerts and the digest)")
    add.add_argument("--by", help="who made it (default: your user name)")

    listing = _command(actions, "list", "silence:cmd_silence_list",
                       "silences in force (or all with --all)")
    listing.add_argument("--all", action="store_true", help="ended silences too")
    listing.add_argument("--json", action="store_true")

    expire = _command(actions, "expire", "silence:cmd_silence_expire", "end a silence now")
    expire.add_argument("id", help="the silence id (or a unique start of it)")


def _journal_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`journal add | list`: what the watch cannot see, pain and notes (DESIGN §8)."""
    actions = _group(
        commands, "journal", "what the watch cannot see: pain 0-10 where it hurts, and notes",
        "What the watch cannot see: pain 0-10 with where it hurts, and notes, one local day "
        "each. A journal.csv (date,area,pain,note) dropped into an athlete's inbox folder is "
        "read the same way.")

    add = _command(actions, "add", "journal:cmd_journal_add",
                   "record pain (with its area) and/or a note for a day, then evaluate the "
                   "athlete's rules")
    add.add_argument("--athlete", required=True)
    add.add_argument("--date", help="the athlete's local day YYYY-MM-DD (default: today there)")
    add.add_argument("--pain", metavar="0-10", help="0 none .. 10 worst imaginable; needs --area")
    add.add_argument("--area", help="where it hurts: lower_back, si_joint, hip, knee, shin, "
                                    "foot or other; needs --pain")
    add.add_argument("--note", help="free text, e.g. 'sharp when sitting'")

    listing = _command(actions, "list", "journal:cmd_journal_list", "journal entries")
    listing.add_argument("--athlete")
    listing.add_argument("--json", action="store_true")


def _operator_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """What an operator runs: `test-notify`, `outbox retry`, `status` (DESIGN §2.1)."""
    test = _command(commands, "test-notify", "notify_test:cmd_test_notify",
                    "send a test email, a signed alert.test webhook and a push now, past "
                    "silences and backoff; non-zero exit if any failed")
    test.add_argument("--athlete", help="send what this athlete's alerts would reach (default: "
                                        "the coach's addresses and every webhook)")
    test.add_argument("--channel", metavar="KIND",
                      help="only this kind of channel: email, webhook, push or file")

    actions = _group(commands, "outbox", "notifications waiting to be sent (retry)",
                     "Notifications waiting to be sent. `retry` makes those waiting for their "
                     "next attempt due now and, with --dead, puts ones that gave up back in "
                     "the queue, under the same ids (receivers deduplicate by them).")
    retry = _command(actions, "retry", "operate:cmd_outbox_retry",
                     "send waiting notifications now (and, with --dead, dead ones again)")
    retry.add_argument("--dead", action="store_true",
                       help="also notifications that gave up (after fixing the cause)")
    retry.add_argument("--channel", metavar="KIND",
                       help="only this kind of channel: email, webhook, push or file")

    status = _command(commands, "status", "operate:cmd_status",
                      "what an operator checks: last scan, files today, outbox, dead "
                      "notifications, open alerts, silences")
    status.add_argument("--json", action="store_true")
