"""`strideguard test-notify [--athlete ID] [--channel KIND]`: does mail, the webhook and the
phone work? One test per target, sent now, one line each; non-zero exit if any failed."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from notify.probe import ProbeOutcome

# a test send failed; a bad argument or config exits 2 and a database that cannot be used 3,
# as every command does (cli.main)
EXIT_FAILED = 1


def cmd_test_notify(args: argparse.Namespace) -> int:
    from config.locate import load_config
    from notify.probe import probe_targets, send_probes
    from wiring import open_app

    config, _path = load_config(args.config)
    # the kind is checked before the database is opened: a typo needs no migration
    probe_targets(config, args.athlete, args.channel)
    apprise_log = logging.getLogger("apprise")
    propagate = apprise_log.propagate
    if not args.verbose:
        # Apprise logs a failed push as a warning: its words are on the push's own line already
        apprise_log.propagate = False
    try:
        with open_app(args.config) as app:
            if args.athlete is not None:
                _check_athlete(app.athlete_ids(), args.athlete)
            targets = probe_targets(app.config, args.athlete, args.channel)
            outcomes = send_probes(app.store, app.config, targets, args.athlete,
                                   report=lambda outcome: print(outcome_line(outcome),
                                                                flush=True))
    finally:
        apprise_log.propagate = propagate  # the process may go on (tests call main in-process)
    failed = [outcome for outcome in outcomes if not outcome.ok]
    if failed:
        print(f"strideguard: {len(failed)} of {len(outcomes)} test notifications failed",
              file=sys.stderr)
        return EXIT_FAILED
    return 0


def _check_athlete(known: list[str], athlete_id: str) -> None:
    """ValueError unless the store has met the athlete or the config names them."""
    if athlete_id not in known:
        raise ValueError(f"--athlete: unknown athlete {athlete_id!r}; the athletes are: "
                         f"{', '.join(known) or '(none yet)'}")


def outcome_line(outcome: ProbeOutcome) -> str:
    """`email    ok      SMTP 250     41 ms  coach@example.org via smtp.example.org:465`, and
    on a failure `: <cause>` after the target."""
    verdict = "ok" if outcome.ok else "failed"
    line = (f"{outcome.kind:<8} {verdict:<7} {outcome.status or '-':<9} "
            f"{outcome.latency_ms:>6.0f} ms  {outcome.target}")
    if outcome.cause:
        line += f": {outcome.cause}" if not outcome.ok else f" ({outcome.cause})"
    return line
