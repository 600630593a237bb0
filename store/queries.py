"""Read-only listings the commands print: activities with their files, alerts with their deliveries,
journal entries, athlete ids. Each is one query returning plain data, so the CLI holds no SQL."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from store.models import Activity, Alert, Athlete, JournalEntry, SourceFile


@dataclass(frozen=True)
class ActivityRow:
    """One stored activity and the file it came from."""

    id: int
    athlete_id: str
    sport: str
    sub_sport: str | None
    start_utc: datetime
    distance_m: float | None
    timer_s: float | None
    steady_cadence_spm: float | None
    avg_cadence_spm: float | None
    source_file: str
    source_member: str | None
    source_format: str  # fit | tcx | gpx
    decoder: str | None
    warnings: list[str]


@dataclass(frozen=True)
class DeliveryRow:
    """One outbox row of an alert: where it went and how that went."""

    channel: str
    kind: str
    status: str
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class AlertRow:
    """One alert episode with its deliveries, oldest first."""

    alert_id: str
    rule_id: str
    athlete_id: str
    episode: int
    severity: str
    value: float | None
    as_of: date
    fired_at: datetime
    resolved_at: datetime | None
    silenced_reason: str | None
    deliver: str  # immediate | digest
    payload: dict[str, Any]
    deliveries: tuple[DeliveryRow, ...]
    silence_id: str | None = None  # the silence holding it back (never sent while it did)


def list_activities(session: Session, athlete_id: str | None = None) -> list[ActivityRow]:
    """Stored activities in start order, optionally of one athlete."""
    query = select(Activity, SourceFile).join(SourceFile).order_by(Activity.start_utc)
    if athlete_id:
        query = query.where(Activity.athlete_id == athlete_id)
    return [
        ActivityRow(
            id=activity.id, athlete_id=activity.athlete_id, sport=activity.sport,
            sub_sport=activity.sub_sport, start_utc=activity.start_utc,
            distance_m=activity.distance_m, timer_s=activity.timer_s,
            steady_cadence_spm=activity.steady_cadence_spm,
            avg_cadence_spm=activity.avg_cadence_spm, source_file=source.original_name,
            source_member=source.container_member, source_format=source.format,
            decoder=activity.decoder,
            warnings=list(activity.warnings or []),
        )
        for activity, source in session.execute(query).all()
    ]


def list_alerts(session: Session, athlete_id: str | None = None) -> list[AlertRow]:
    """Alerts in firing order with their outbox rows, in one query (a join, not one per alert)."""
    query = select(Alert).options(joinedload(Alert.outbox)).order_by(Alert.fired_at, Alert.id)
    if athlete_id:
        query = query.where(Alert.athlete_id == athlete_id)
    return [
        AlertRow(
            alert_id=alert.id, rule_id=alert.rule_id, athlete_id=alert.athlete_id,
            episode=alert.episode, severity=alert.severity, value=alert.value,
            as_of=alert.as_of, fired_at=alert.fired_at, resolved_at=alert.resolved_at,
            silenced_reason=alert.silenced_reason, deliver=alert.deliver,
            payload=dict(alert.payload),
            deliveries=tuple(
                DeliveryRow(m.channel, m.kind, m.status, m.attempts, m.last_error)
                for m in sorted(alert.outbox, key=lambda m: m.id)),
            silence_id=alert.silence_id,
        )
        for alert in session.scalars(query).unique().all()
    ]


@dataclass(frozen=True)
class JournalRow:
    """One journal entry, and the journal.csv line it came from (None for `journal add`)."""

    id: int
    athlete_id: str
    day: date
    area: str | None
    pain: int | None
    note: str | None
    source: str  # cli | csv
    source_file: str | None
    line: int | None


def list_journal(session: Session, athlete_id: str | None = None) -> list[JournalRow]:
    """Journal entries by athlete, day and entry order, optionally of one athlete."""
    query = (select(JournalEntry, SourceFile.original_name)
             .outerjoin(SourceFile, JournalEntry.source_file_id == SourceFile.id)
             .order_by(JournalEntry.athlete_id, JournalEntry.day, JournalEntry.id))
    if athlete_id:
        query = query.where(JournalEntry.athlete_id == athlete_id)
    return [
        JournalRow(id=entry.id, athlete_id=entry.athlete_id, day=entry.day, area=entry.area,
                   pain=entry.pain, note=entry.note, source=entry.source,
                   source_file=file_name, line=entry.line)
        for entry, file_name in session.execute(query).all()
    ]


def athlete_ids(session: Session, configured: Iterable[str] = ()) -> list[str]:
    """Every athlete the store has met, and those the config names, sorted."""
    return sorted(set(session.scalars(select(Athlete.id)).all()) | set(configured))
