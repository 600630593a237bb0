"""Queueing weekly digests once per period: build the week, render it, then claim the ledger row
and queue the notifications in one transaction (DESIGN §7, §8).

Rendering happens before the claim, outside any write transaction: a second process that loses
the claim has only wasted a render, and nothing is claimed that is not also queued.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from config.schema import ServiceConfig
from rules.loader import RuleSet
from store import SQUAD_KEY, Store, utc_now
from store.ledger import PeriodTaken, claim_period, claimed_keys

if TYPE_CHECKING:
    from digest.model import AthleteWeek
    from digest.render import DigestMail

log = logging.getLogger("strideguard.digest")

ATHLETE_KIND, SQUAD_KIND = "athlete", "squad"  # the ledger's kinds
# the notice kinds notify knows: a runner's digest and the coach's squad digest
RUNNER_NOTICE, SQUAD_NOTICE = "digest", "squad-digest"

# notify's enqueue, handed in by the caller: (session, mail, digest id) -> rows queued
EnqueueDigest = Callable[[Session, "DigestMail", str], int]
# whether any channel would carry a digest: (notice kind, athlete id or None) -> bool
HasTargets = Callable[[str, str | None], bool]
# athlete weeks built in one pass, by (athlete id, ISO week)
Built = dict[tuple[str, str], "AthleteWeek"]


class DigestStatus(StrEnum):
    QUEUED = "queued"
    ALREADY_SENT = "already sent"
    NO_RECIPIENTS = "no recipients"
    FAILED = "failed"  # logged with its traceback; tried again later


@dataclass(frozen=True)
class DigestOutcome:
    """What became of one digest: queued (with its ledger id), already sent, or nobody to get it."""

    kind: str  # athlete | squad
    athlete_key: str
    week: str
    status: DigestStatus
    digest_id: str | None = None
    notifications: int = 0


def build_athlete_week(store: Store, config: ServiceConfig, rule_set: RuleSet, athlete_id: str,
                       week: str, now: datetime) -> AthleteWeek:
    """The week's numbers in one short read transaction."""
    from digest.athlete import athlete_week

    with store.session() as session:
        return athlete_week(session, config, rule_set, athlete_id, week, now=now)


def render_athlete(aw: AthleteWeek) -> DigestMail:
    from digest.data import athlete_week_data
    from digest.render import render_athlete_digest

    return render_athlete_digest(aw, athlete_week_data(aw))


def render_squad(weeks: list[AthleteWeek], week: str) -> DigestMail:
    from digest.data import squad_week_data
    from digest.render_squad import render_squad_digest
    from digest.squad import squad_week

    squad = squad_week(weeks, week)
    return render_squad_digest(squad, squad_week_data(squad))


def queue_rendered(store: Store, mail: DigestMail, kind: str, athlete_key: str,
                   alert_ids: Iterable[str], enqueue: EnqueueDigest,
                   now: datetime) -> DigestOutcome:
    """Claim (kind, athlete, week) and queue the mail in one transaction; a lost claim queues
    nothing."""
    try:
        with store.session() as session:
            # the ledger keeps what was sent, not the numbers again (the outbox has them)
            digest = claim_period(session, kind, athlete_key, mail.week,
                                  {"subject": mail.subject}, alert_ids, now=now)
            rows = enqueue(session, mail, digest.id)
    except PeriodTaken:
        return DigestOutcome(kind, athlete_key, mail.week, DigestStatus.ALREADY_SENT)
    log.info("%s digest of %s for %s queued (%d notifications)", kind, athlete_key, mail.week,
             rows)
    return DigestOutcome(kind, athlete_key, mail.week, DigestStatus.QUEUED, digest.id, rows)


def queue_athlete_digests(store: Store, config: ServiceConfig, rule_set: RuleSet,
                          weeks: dict[str, str], *, enqueue: EnqueueDigest,
                          has_targets: HasTargets, now: datetime | None = None,
                          built: Built | None = None,
                          should_continue: Callable[[], bool] = lambda: True,
                          ) -> list[DigestOutcome]:
    """Each athlete's digest for their week (`weeks`: athlete id -> ISO week), unless the ledger
    already holds it or no channel would carry it; `built` keeps the weeks for the squad.

    One athlete's failure is logged and reported, never stops the others. Each process takes
    the athletes in its own random order and looks at the ledger again just before building
    one, so several processes share the work instead of all rendering every digest.
    `should_continue` is asked between athletes (a shutdown finishes the current one).
    """
    moment = now or utc_now()
    outcomes = []
    for week in sorted(set(weeks.values())):
        wanted = [a for a, w in weeks.items() if w == week]
        random.shuffle(wanted)
        with store.session() as session:
            done = claimed_keys(session, ATHLETE_KIND, week)
        for athlete_id in wanted:
            if not should_continue():
                return outcomes
            if athlete_id in done or _claimed(store, ATHLETE_KIND, athlete_id, week):
                status = DigestStatus.ALREADY_SENT
            elif not has_targets(RUNNER_NOTICE, athlete_id):
                status = DigestStatus.NO_RECIPIENTS
            else:
                outcomes.append(_queue_athlete(store, config, rule_set, athlete_id, week,
                                               enqueue, moment, built))
                continue
            outcomes.append(DigestOutcome(ATHLETE_KIND, athlete_id, week, status))
    return sorted(outcomes, key=lambda o: (o.week, o.athlete_key))


def _claimed(store: Store, kind: str, athlete_key: str, week: str) -> bool:
    with store.session() as session:
        return athlete_key in claimed_keys(session, kind, week, athlete_key)


def _queue_athlete(store: Store, config: ServiceConfig, rule_set: RuleSet, athlete_id: str,
                   week: str, enqueue: EnqueueDigest, now: datetime,
                   built: Built | None) -> DigestOutcome:
    try:
        aw = build_athlete_week(store, config, rule_set, athlete_id, week, now)
        if built is not None:
            built[athlete_id, week] = aw
        return queue_rendered(store, render_athlete(aw), ATHLETE_KIND, athlete_id,
                              aw.listed_alert_ids, enqueue, now)
    except Exception:  # one athlete's bad data must not cost everyone else their digest
        log.exception("the digest of %s for %s failed; the others go on", athlete_id, week)
        return DigestOutcome(ATHLETE_KIND, athlete_id, week, DigestStatus.FAILED)


def queue_squad_digest(store: Store, config: ServiceConfig, rule_set: RuleSet,
                       athlete_ids: list[str], week: str, *, enqueue: EnqueueDigest,
                       has_targets: HasTargets, now: datetime | None = None,
                       built: Built | None = None) -> DigestOutcome:
    """The coach's one email for the week, every athlete in risk order (weeks already `built`
    for the runners' digests are reused; an athlete whose week cannot be built is left out and
    logged)."""
    moment = now or utc_now()
    if _claimed(store, SQUAD_KIND, SQUAD_KEY, week):
        return DigestOutcome(SQUAD_KIND, SQUAD_KEY, week, DigestStatus.ALREADY_SENT)
    if not has_targets(SQUAD_NOTICE, None):
        return DigestOutcome(SQUAD_KIND, SQUAD_KEY, week, DigestStatus.NO_RECIPIENTS)
    known = built or {}
    weeks = []
    for athlete_id in athlete_ids:
        try:
            weeks.append(known.get((athlete_id, week))
                         or build_athlete_week(store, config, rule_set, athlete_id, week, moment))
        except Exception:
            log.exception("%s is left out of the squad digest for %s", athlete_id, week)
    try:
        return queue_rendered(store, render_squad(weeks, week), SQUAD_KIND, SQUAD_KEY, (),
                              enqueue, moment)
    except Exception:
        log.exception("the squad digest for %s failed", week)
        return DigestOutcome(SQUAD_KIND, SQUAD_KEY, week, DigestStatus.FAILED)
