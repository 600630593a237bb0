"""The evaluations `strideguard run` starts, shared by every process on one database.

- after an ingest batch: only the athletes the batch stored something for (each file is
  ingested by one process, so no claim is needed; `lock_athlete` still makes an evaluation of
  the same athlete elsewhere wait its turn);
- an edit of the rules files: `rules:<hash>` (rules.triggers), met by every process that
  reloads the same edit; each athlete evaluated once across them;
- daily at `schedule.evaluate_at`: `daily:<date>` in the service time zone, the same way;
- the catch-up, at start and every CATCH_UP_INTERVAL_S: today's daily evaluation if
  `evaluate_at` has passed and no process has met it yet (the service was down at that time),
  and the open claims of the last day's triggers that no process holds (a process was killed
  or stopped mid-pass). Claims older than CLAIMS_KEPT are pruned now and then.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from ingest import IngestOutcome, IngestStatus
from rules.evaluate import EvaluationReport
from rules.triggers import daily_trigger, rules_trigger, service_day
from store import utc_now
from store.evaluation_claims import (
    claims_exist,
    open_triggers,
    prune_claims,
    rules_edit_trigger,
)

if TYPE_CHECKING:
    from wiring import App

CATCH_UP_INTERVAL_S = 60.0  # how often `run` looks for evaluations left undone
RESUME_WITHIN = timedelta(days=1)  # open claims older than this are left to the pruning
CLAIMS_KEPT = timedelta(days=30)
# the processes sharing the rules files notice an edit within seconds (service.py checks every
# 2 s); the same contents met again after this long is another edit (a revert)
RULES_EDIT_JOIN_WITHIN = timedelta(minutes=10)
PRUNE_EVERY = timedelta(hours=6)

Continue = Callable[[], bool]


def touched_athletes(outcomes: Iterable[IngestOutcome]) -> list[str]:
    """The athletes a batch stored activities or journal entries for, in order met."""
    return list(dict.fromkeys(o.athlete_id for o in outcomes
                              if o.status == IngestStatus.INGESTED))


def evaluate_batch(app: App, outcomes: Iterable[IngestOutcome]) -> EvaluationReport | None:
    """Evaluate the athletes an ingest batch touched; None when it stored nothing. Not
    interruptible: a few athletes, whose files are archived already."""
    athletes = touched_athletes(outcomes)
    return app.evaluate(athletes=athletes) if athletes else None


def evaluate_rules_edit(app: App, should_continue: Continue = lambda: True,
                        ) -> EvaluationReport | None:
    """Take edited rules into use and evaluate everyone under them, shared with the other
    processes that reload the same edit; None when nothing changed (or the edit is broken)."""
    if not app.reload_rules():
        return None
    with app.store.session() as session:
        trigger = rules_edit_trigger(session, rules_trigger(app.rules), utc_now(),
                                     RULES_EDIT_JOIN_WITHIN)
    return app.evaluate(trigger=trigger, should_continue=should_continue)


def evaluate_daily(app: App, now: datetime, should_continue: Continue = lambda: True,
                   ) -> EvaluationReport:
    """This process's share of today's daily evaluation."""
    day = service_day(app.config.timezone, now)
    return app.evaluate(trigger=daily_trigger(day), should_continue=should_continue)


def daily_due(app: App, now: datetime) -> str | None:
    """Today's daily trigger when `evaluate_at` has passed and no process has met it."""
    local = now.astimezone(ZoneInfo(app.config.timezone))
    if local.time() < app.config.schedule.evaluate_at:
        return None
    trigger = daily_trigger(local.date())
    with app.store.session() as session:
        return None if claims_exist(session, trigger) else trigger


@dataclass
class CatchUp:
    """The catch-up job's state: when it last pruned old claims."""

    app: App
    last_pruned: datetime | None = None

    def due(self, now: datetime) -> dict[str, bool]:
        """The triggers to work on now, each with whether to open claims for every athlete:
        today's daily one if it was missed (True), and those with claims left open within
        RESUME_WITHIN (False: only what is open; rows live processes hold are skipped)."""
        missed = daily_due(self.app, now)
        due = {missed: True} if missed else {}
        with self.app.store.session() as session:
            for trigger in open_triggers(session, now - RESUME_WITHIN):
                due.setdefault(trigger, False)
        return due

    def run(self, now: datetime, should_continue: Continue = lambda: True,
            ) -> list[EvaluationReport]:
        """Work the due triggers (and prune, every PRUNE_EVERY); the reports of those that
        evaluated someone here."""
        reports = []
        for trigger, everyone in self.due(now).items():
            if not should_continue():
                break
            report = self.app.evaluate(trigger=trigger, athletes=None if everyone else (),
                                       should_continue=should_continue)
            if report.athletes_evaluated:
                reports.append(report)
        if self.last_pruned is None or now - self.last_pruned >= PRUNE_EVERY:
            with self.app.store.session() as session:
                prune_claims(session, now - CLAIMS_KEPT)
            self.last_pruned = now
        return reports
