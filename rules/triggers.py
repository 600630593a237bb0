"""The names of scheduled evaluations that every process sharing a database computes alike, so
that their evaluation claims (store.evaluation_claims) meet: one evaluation per athlete and
trigger, whichever process does it."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from rules.loader import RuleSet

DAILY_PREFIX = "daily:"
RULES_PREFIX = "rules:"


def daily_trigger(day: date) -> str:
    """The daily evaluation of `day` (the service time zone's date at `evaluate_at`)."""
    return f"{DAILY_PREFIX}{day.isoformat()}"


def service_day(timezone_name: str, now: datetime) -> date:
    return now.astimezone(ZoneInfo(timezone_name)).date()


def rules_trigger(rule_set: RuleSet) -> str:
    """The evaluation that follows an edit of the rules: every process reloads the same edit.

    The hash covers each file the rule set was read from, in the order it was read: its size
    and modification time as loaded (what the reloader compares) and its contents now. The
    paths are left out, so processes that mount the same files at different places agree.
    The time makes a revert (A, then B, then A again) a new trigger, not one already done.
    """
    digest = hashlib.sha256()
    for path, mtime_ns, size in rule_set.stamps:
        digest.update(f"{mtime_ns}:{size}\n".encode())
        try:
            digest.update(Path(path).read_bytes())
        except OSError:
            digest.update(b"-")  # a file watched for its creation (advice.yaml beside)
    return f"{RULES_PREFIX}{digest.hexdigest()[:40]}"
