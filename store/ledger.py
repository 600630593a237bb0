"""The once-per-period ledger: a digest row unique on (kind, athlete, week), claimed in the
transaction that queues the digest, so no restart or second process sends it twice."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.models import Digest, DigestAlert, utc_now


class PeriodTaken(Exception):
    """Another transaction (this process before a restart, or another process) holds the row."""


def claim_period(session: Session, kind: str, athlete_key: str, week: str,
                 data: dict[str, Any], alert_ids: Iterable[str] = (),
                 now: datetime | None = None) -> Digest:
    """Insert the ledger row (and the alerts the digest lists) in the caller's transaction.

    Raises PeriodTaken when the row exists. On PostgreSQL a concurrent insert of the same key
    waits for the other transaction and fails once it commits, so exactly one wins; the
    savepoint keeps the caller's transaction usable for its rollback.
    """
    digest = Digest(id=str(uuid.uuid4()), kind=kind, athlete_key=athlete_key, week=week,
                    created_at=now or utc_now(), data=data)
    digest.alerts = [DigestAlert(alert_id=alert_id) for alert_id in dict.fromkeys(alert_ids)]
    try:
        with session.begin_nested():
            session.add(digest)
    except IntegrityError:
        raise PeriodTaken(f"the {kind} digest of {athlete_key} for {week} is already queued") \
            from None
    return digest


def claimed_keys(session: Session, kind: str, week: str,
                 athlete_key: str | None = None) -> set[str]:
    """The athlete keys whose digest of `kind` for `week` is in the ledger (only `athlete_key`
    is looked for when given)."""
    query = select(Digest.athlete_key).where(Digest.kind == kind, Digest.week == week)
    if athlete_key is not None:
        query = query.where(Digest.athlete_key == athlete_key)
    return set(session.scalars(query))


def any_digest_sent(session: Session) -> bool:
    """Whether this store has ever queued a digest (a new store sends none back-dated)."""
    return bool(session.scalar(select(exists().where(Digest.id.is_not(None)))))
