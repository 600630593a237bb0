"""Silences as plain data: the stored rows, the ones in force at a moment, and the two writes
(`silence add`, `silence expire`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import Silence


@dataclass(frozen=True)
class SilenceRow:
    """One stored silence: rules muted for an athlete over [starts_at, ends_at)."""

    id: str
    athlete_id: str
    rule_ids: tuple[str, ...]
    preset: str | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str | None
    created_at: datetime

    def active_at(self, moment: datetime) -> bool:
        return self.starts_at <= moment < self.ends_at


def _silence_row(silence: Silence) -> SilenceRow:
    return SilenceRow(id=silence.id, athlete_id=silence.athlete_id,
                      rule_ids=tuple(silence.rule_ids or ()), preset=silence.preset,
                      starts_at=silence.starts_at, ends_at=silence.ends_at,
                      reason=silence.reason, created_by=silence.created_by,
                      created_at=silence.created_at)


def list_silences(session: Session, *, athlete_id: str | None = None,
                  active_at: datetime | None = None) -> list[SilenceRow]:
    """Silences in start order, optionally of one athlete, optionally only those in force at
    `active_at` (starts_at <= active_at < ends_at)."""
    query = select(Silence).order_by(Silence.starts_at, Silence.id)
    if athlete_id is not None:
        query = query.where(Silence.athlete_id == athlete_id)
    if active_at is not None:
        query = query.where(Silence.starts_at <= active_at, Silence.ends_at > active_at)
    return [_silence_row(silence) for silence in session.scalars(query)]


def find_silences(session: Session, id_or_prefix: str) -> list[SilenceRow]:
    """The silence with this id, or every silence whose id starts with it (a short id)."""
    exact = session.get(Silence, id_or_prefix)
    if exact is not None:
        return [_silence_row(exact)]
    query = select(Silence).where(Silence.id.startswith(id_or_prefix, autoescape=True))
    return [_silence_row(silence) for silence in session.scalars(query.order_by(Silence.id))]


def add_silence(session: Session, *, silence_id: str, athlete_id: str,
                rule_ids: tuple[str, ...], preset: str | None, starts_at: datetime,
                ends_at: datetime, reason: str, created_by: str | None) -> SilenceRow:
    """Store a silence (the caller commits); the athlete's row must exist."""
    silence = Silence(id=silence_id, athlete_id=athlete_id, rule_ids=list(rule_ids),
                      preset=preset, starts_at=starts_at, ends_at=ends_at, reason=reason,
                      created_by=created_by, created_at=starts_at)
    session.add(silence)
    session.flush()
    return _silence_row(silence)


def end_silence(session: Session, silence_id: str, now: datetime) -> SilenceRow:
    """End the silence now (ends_at = now; the caller commits), unless it has ended already."""
    silence = session.get(Silence, silence_id)
    if silence is None:
        raise LookupError(f"no silence {silence_id!r}")
    if silence.ends_at > now:
        silence.ends_at = max(now, silence.starts_at)
        session.flush()
    return _silence_row(silence)
