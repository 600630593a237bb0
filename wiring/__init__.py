"""One process's StrideGuard: its config, rules and store, and the two steps every command and
the worker wire together the same way: evaluate (rules, queueing through notify's outbox) and
dispatch. `cli/` and `service.py` both start from `open_app`."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import TracebackType
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from config import ServiceConfig
from config.locate import load_config
from ingest import (
    IngestOutcome,
    IngestSettings,
    SourceFolders,
    ingest_inbox,
    settings_from_config,
)
from notify.channel import NoticeKind
from notify.channels import channel_kinds, targets_for
from notify.dispatch import dispatch_due
from notify.outbox import enqueue_alert, enqueue_digest, enqueue_notice
from rules.evaluate import EvaluationReport, evaluate
from rules.loader import RuleSet, RulesReloader, load_rules
from store import SQUAD_KEY, Alert, Store, open_store, utc_now
from store.ledger import any_digest_sent
from store.queries import athlete_ids

if TYPE_CHECKING:
    from digest.render import DigestMail
    from digest.schedule import FailedDigests
    from digest.send import DigestOutcome
    from wiring.telemetry import Telemetry

log = logging.getLogger("strideguard")


def new_worker_id() -> str:
    """This process among those sharing one database: host, pid and a random part (a pid is
    reused after a restart, and containers all have pid 1)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class App:
    """The loaded config, rules and store of one process; `with` disposes of the store."""

    config: ServiceConfig
    rules_reloader: RulesReloader
    store: Store
    # who did the work, in the database (evaluation claims, the workers table)
    worker_id: str = field(default_factory=new_worker_id)
    # the process's Prometheus metrics; set by `strideguard run` when it serves /metrics
    telemetry: Telemetry | None = None

    def __enter__(self) -> App:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.store.dispose()

    @property
    def rules(self) -> RuleSet:
        return self.rules_reloader.rule_set

    def reload_rules(self) -> bool:
        """Take edited rules files into use; a broken edit is logged and the old rules kept."""
        return self.rules_reloader.refresh()

    def ingest_settings(self) -> IngestSettings:
        return settings_from_config(self.config)

    def evaluate(self, *, as_of: date | None = None, dry_run: bool = False,
                 athlete_id: str | None = None, rule_id: str | None = None,
                 athletes: Iterable[str] | None = None, trigger: str | None = None,
                 should_continue: Callable[[], bool] = lambda: True) -> EvaluationReport:
        """Evaluate the rules (see rules.evaluate.evaluate): `athlete_id`, `athletes`, or
        everyone; with `trigger`, this process's share of a scheduled evaluation that every
        process meets (claims recorded as done by `worker_id`).

        With telemetry, a stored pass is counted when it evaluated someone, or when it was a
        whole trigger (daily, a rules edit) that other processes happened to do: this process
        took part. A sweep that found nothing open (`athletes=()`) is not a pass."""
        def enqueue(session: Session, alert: Alert, kind: NoticeKind) -> None:
            enqueue_alert(session, self.config, alert, kind)

        def announce(session: Session, notice: Mapping[str, object], key: str) -> None:
            enqueue_notice(session, self.config, notice, key)

        started_s = time.monotonic()
        report = evaluate(self.store, self.config, self.rules, as_of=as_of, enqueue=enqueue,
                          dry_run=dry_run, athlete_id=athlete_id, rule_id=rule_id,
                          announce=announce, athletes=athletes, trigger=trigger,
                          worker_id=self.worker_id, should_continue=should_continue)
        duration_s = time.monotonic() - started_s
        if trigger is not None and report.athletes_evaluated:
            log.info("evaluated %d athletes for %s in %.1f s", report.athletes_evaluated,
                     trigger, duration_s)
        took_part = report.athletes_evaluated or (trigger is not None and athletes is None)
        if self.telemetry is not None and not dry_run and took_part:
            self.telemetry.record_evaluation(report, duration_s)
        return report

    def dispatch(self, *, ignore_backoff: bool = False) -> Counter[str]:
        """Deliver what is due; with telemetry, each attempt and the pass are counted."""
        telemetry = self.telemetry
        outcomes = dispatch_due(
            self.store, self.config, ignore_backoff=ignore_backoff,
            on_outcome=telemetry.record_notification if telemetry is not None else None)
        if telemetry is not None:
            telemetry.record_dispatch()
        return outcomes

    def athlete_ids(self) -> list[str]:
        """Every athlete the store has met or the config names."""
        with self.store.session() as session:
            return athlete_ids(session, (a.id for a in self.config.athletes))

    def _enqueue_digest(self, session: Session, mail: DigestMail, digest_id: str) -> int:
        return len(enqueue_digest(session, self.config, mail, digest_id))

    def _has_targets(self, kind: str, athlete_id: str | None) -> bool:
        notice: NoticeKind = "digest" if kind == "digest" else "squad-digest"
        return bool(targets_for(self.config, athlete_id, notice))

    def queue_digests(self, weeks: dict[str, str], squad_week: str | None, *,
                      now: datetime | None = None,
                      should_continue: Callable[[], bool] = lambda: True,
                      ) -> list[DigestOutcome]:
        """Queue the runners' digests (athlete id -> ISO week) and, for `squad_week`, the coach's
        squad digest of every athlete; each once per week, whoever asks (the ledger decides)."""
        from digest.send import queue_athlete_digests, queue_squad_digest

        moment, built = now or utc_now(), {}
        outcomes = queue_athlete_digests(self.store, self.config, self.rules, weeks,
                                         enqueue=self._enqueue_digest,
                                         has_targets=self._has_targets, now=moment, built=built,
                                         should_continue=should_continue)
        if squad_week is not None and should_continue():
            outcomes.append(queue_squad_digest(
                self.store, self.config, self.rules, self.athlete_ids(), squad_week,
                enqueue=self._enqueue_digest, has_targets=self._has_targets, now=moment,
                built=built))
        return outcomes

    def digest_sent_before(self) -> bool:
        with self.store.session() as session:
            return any_digest_sent(session)

    def queue_due_digests(self, now: datetime, not_before: datetime | None,
                          failed: FailedDigests,
                          should_continue: Callable[[], bool] = lambda: True,
                          ) -> list[DigestOutcome]:
        """The digests due at `now` by `schedule.digest`, in each athlete's time zone (the squad
        digest in the service's); `not_before`: see digest.schedule.due_week. Digests that
        `failed` lately wait before they are tried again."""
        from digest.schedule import due_week
        from digest.send import ATHLETE_KIND, SQUAD_KIND, DigestStatus

        when = self.config.schedule.digest
        if when is None:
            return []
        weeks = {}
        for athlete_id in self.athlete_ids():
            week = due_week(now, self.config.timezone_for(athlete_id), when, not_before)
            if week is not None and not failed.waiting(ATHLETE_KIND, athlete_id, week, now):
                weeks[athlete_id] = week
        squad_week = due_week(now, self.config.timezone, when, not_before)
        if squad_week is not None and failed.waiting(SQUAD_KIND, SQUAD_KEY, squad_week, now):
            squad_week = None
        outcomes = self.queue_digests(weeks, squad_week, now=now,
                                      should_continue=should_continue)
        for outcome in outcomes:
            failed.record(outcome.kind, outcome.athlete_key, outcome.week,
                          outcome.status == DigestStatus.FAILED, now)
        if self.telemetry is not None:
            self.telemetry.record_digests(outcomes)
        return outcomes


def open_app(config_arg: str | None) -> App:
    """Read the config (see config.locate) and its rules, and open (migrating) the store.

    Rules may name only the channels notify has: the registry's kinds are passed to the loader
    as data, so that rules never imports notify.
    """
    config, _path = load_config(config_arg)
    rule_paths = list(config.rules) or None
    kinds = channel_kinds()
    rule_set = load_rules(rule_paths, channel_kinds=kinds)
    return App(config, RulesReloader(rule_set, rule_paths, channel_kinds=kinds),
               open_store(config.database))


def run_cycle(app: App) -> list[IngestOutcome]:
    """One full cycle: scan (the inbox, then the source folders) → ingest → evaluate → deliver
    everything queued.

    It evaluates even without new files (a new day can fire a rule) and retries queued
    notifications whatever their backoff: whoever runs a cycle by hand wants it now.
    """
    settings = app.ingest_settings()
    outcomes = ingest_inbox(app.store, settings)
    outcomes += scan_sources(SourceFolders(app.store, settings))
    app.evaluate()
    app.dispatch(ignore_backoff=True)
    return outcomes


def scan_sources(sources: SourceFolders,
                 should_continue: Callable[[], bool] = lambda: True) -> list[IngestOutcome]:
    """One scan of the source folders, after the inbox's. An error there (the database refusing
    a query, say) ends only this scan of them: it is logged (once while it lasts), the inbox's
    outcomes of the same scan are still evaluated, and the next scan tries again."""
    try:
        return sources.scan(should_continue).outcomes
    except Exception as exc:  # whatever it is, the inbox's outcomes must still be evaluated
        sources.failed(exc)
        return []
