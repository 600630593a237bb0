"""Evaluation claims: each athlete evaluated once per trigger across the processes sharing one
database, and one evaluation of an athlete at a time whatever started it.

A trigger (`daily:2026-12-01`, `rules:<hash>`) writes a row per athlete (`open_claims`); every
process that meets the trigger then takes open rows one at a time with `FOR UPDATE SKIP
LOCKED` (`next_claim`), evaluates that athlete in the same transaction and marks the row done
there (`finish_claim`). A process that dies mid-athlete releases the row with its connection,
open, for another process (or its own next sweep, `open_triggers`) to take over.

`lock_athlete` serialises evaluations of one athlete started by different triggers at the same
moment (an ingest batch in one process, the daily pass in another): the second waits for the
first to commit, then reads its alerts and outbox rows, so nothing is fired or queued twice.

On SQLite, FOR UPDATE renders as nothing and BEGIN IMMEDIATE serialises every transaction:
the same code path runs in its one process.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.athletes import ensure_athlete
from store.models import Athlete, EvaluationClaim, utc_now

FAILED_PREFIX = "failed:"  # done_by of a claim whose evaluation raised (the log says why)


def _insert_ignoring_duplicates(session: Session, model: type, rows: list[dict[str, Any]]) -> None:
    """INSERT .. ON CONFLICT DO NOTHING on either dialect."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(dialect.insert(model).on_conflict_do_nothing(), rows)


def open_claims(session: Session, trigger: str, athlete_ids: Iterable[str],
                now: datetime | None = None) -> None:
    """A row per athlete for `trigger`, unless it is there already (another process wrote it,
    or did the work). Sorted, so that two processes inserting the same rows at once wait for
    each other in the same order and never deadlock."""
    moment = now or utc_now()
    rows = [{"trigger": trigger, "athlete_id": athlete_id, "created_at": moment}
            for athlete_id in sorted(set(athlete_ids))]
    if rows:
        _insert_ignoring_duplicates(session, EvaluationClaim, rows)


def claims_exist(session: Session, trigger: str) -> bool:
    """Whether any process has met `trigger` (done or not)."""
    return bool(session.scalar(select(exists().where(EvaluationClaim.trigger == trigger))))


def next_claim(session: Session, trigger: str, skip: Collection[str] = ()) -> str | None:
    """Lock one open claim of `trigger` that no other transaction holds, for the rest of this
    transaction; its athlete id, or None when every open claim is taken or none is left.
    `skip`: athletes this pass gave up on (their evaluation raised)."""
    query = select(EvaluationClaim.athlete_id).where(
        EvaluationClaim.trigger == trigger, EvaluationClaim.done_at.is_(None))
    if skip:
        query = query.where(EvaluationClaim.athlete_id.not_in(list(skip)))
    return session.scalar(query.limit(1).with_for_update(skip_locked=True))


def finish_claim(session: Session, trigger: str, athlete_id: str, worker_id: str,
                 failed: bool = False, now: datetime | None = None) -> None:
    """Mark the claim done, in the transaction of the evaluation it stands for; a failed one
    is closed too (the next trigger tries the athlete again, not every sweep until then)."""
    done_by = f"{FAILED_PREFIX}{worker_id}" if failed else worker_id
    session.execute(update(EvaluationClaim).where(
        EvaluationClaim.trigger == trigger, EvaluationClaim.athlete_id == athlete_id,
        EvaluationClaim.done_at.is_(None),  # never overwrite another process's result
    ).values(done_at=now or utc_now(), done_by=done_by[:120]))


def open_triggers(session: Session, since: datetime) -> list[str]:
    """Triggers met since `since` with claims still open: left by a process that died or
    stopped mid-pass, or being worked right now (their rows are then locked, and skipped)."""
    return list(session.scalars(select(EvaluationClaim.trigger).where(
        EvaluationClaim.done_at.is_(None), EvaluationClaim.created_at >= since,
    ).distinct().order_by(EvaluationClaim.trigger)))


def rules_edit_trigger(session: Session, contents: str, now: datetime,
                       join_within: timedelta) -> str:
    """The trigger of an edit of the rules whose contents are named `contents`
    (`rules:<hash>`): `<contents>:<n>`, joining the newest generation n that a process met
    within `join_within` (the processes notice one edit within seconds of each other), else
    the next one (the same contents again later: a revert, evaluated anew)."""
    newest: tuple[int, datetime] | None = None
    query = (select(EvaluationClaim.trigger, func.min(EvaluationClaim.created_at))
             .where(EvaluationClaim.trigger.startswith(f"{contents}:", autoescape=True))
             .group_by(EvaluationClaim.trigger))
    for trigger, created_at in session.execute(query).all():
        generation = trigger.rsplit(":", 1)[1]
        if generation.isdigit() and (newest is None or int(generation) > newest[0]):
            newest = int(generation), created_at
    if newest is None:
        return f"{contents}:1"
    generation, met_at = newest
    return f"{contents}:{generation if now - met_at <= join_within else generation + 1}"


def prune_claims(session: Session, before: datetime) -> int:
    """Forget claims of triggers met before `before`; how many rows went."""
    result = session.execute(delete(EvaluationClaim).where(EvaluationClaim.created_at < before))
    return int(getattr(result, "rowcount", 0) or 0)


def lock_athlete(session: Session, athlete_id: str) -> None:
    """Make sure the athlete's row exists and hold it until this transaction ends, so that one
    evaluation of the athlete runs at a time across processes.

    `FOR NO KEY UPDATE`: it excludes another evaluation's lock but not the key-share lock an
    ingest takes when it inserts the athlete's activities, so ingest never waits for it.
    """
    ensure_athlete(session, athlete_id)
    session.execute(select(Athlete.id).where(Athlete.id == athlete_id)
                    .with_for_update(key_share=True))
