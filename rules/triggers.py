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
    """The name of the rules' contents, which every process that reloads the same edit agrees
    on: a hash of each file the rule set was read from, in the order it was read. Neither the
    paths nor the modification times count, so processes that mount the same files at
    different places, or keep their own copies on several machines, agree. A revert (A, then
    B, then A again) gives A's name again: store.evaluation_claims.rules_edit_trigger makes it
    a new evaluation."""
    digest = hashlib.sha256()
    for path, _mtime_ns, _size in rule_set.stamps:
        try:
            digest.update(hashlib.sha256(Path(path).read_bytes()).digest())
        except OSError:
            digest.update(b"-")  # a file watched for its creation (advice.yaml beside)
    return f"{RULES_PREFIX}{digest.hexdigest()[:40]}"
