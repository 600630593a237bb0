"""The rules room's alert listings for the weekly digest, as plain data read from stored rows.

What a stored `Alert` row can tell about a week (rules/alerts.py keeps no history of changes):
- fired: `fired_at` lies in the window (for an episode first held back and notified later,
  `fired_at` is the moment it was notified);
- held back: fired in the window with `silenced_reason` set (stale data, cooldown, a silence);
- resolved: `resolved_at` lies in the window;
- escalated: fired before the window and `escalated_at` (its last severity rise) lies in the
  window. The severity before the rise is not stored, so a line cannot say "from warn".
An alert is open at a moment when it had fired by then and had not resolved yet.

Silences in force at a moment are listed too (`athlete_silences`), with their rules named as a
reader knows them (the presets file's groups: "strength nudges").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from rules.schema import SEVERITIES
from rules.silences import rule_labels
from store import Alert, Digest, DigestAlert
from store.silences import list_silences

FIRED, ESCALATED, RESOLVED, HELD_BACK, OPEN = "fired", "escalated", "resolved", "held back", "open"


@dataclass(frozen=True)
class AlertListing:
    """One stored alert as a digest line needs it: what it says, and what became of it."""

    alert_id: str
    rule: str
    athlete_id: str
    severity: str  # info | warn | critical
    state: str  # fired | escalated | resolved | held back | open
    deliver: str  # immediate | digest
    metric: str
    value: float | None
    threshold: float | None
    as_of: date
    fired_at: datetime
    resolved_at: datetime | None
    silenced_reason: str | None
    summary: str
    description: str  # the rule's description, as stored in the payload ("" if none)
    advice_key: str | None  # the first advice block of the payload
    advice_title: str | None
    listed: bool  # a digest (of another week, where one is named) listed it: DigestAlert
    is_open: bool  # open at the listing's `now` (True where no moment was asked about)
    silence_id: str | None = None  # the silence holding it back (its text: silenced_reason)


@dataclass(frozen=True)
class AlertWindow:
    """A week as the listings see it: [start_utc, end_utc) and its local days (for `as_of`)."""

    start_utc: datetime
    end_utc: datetime
    first_day: date
    last_day: date


@dataclass(frozen=True)
class AthleteAlerts:
    """An athlete's alerts for one digest, each in one section only (nudges first, then the
    week's events, then the rest of what is open)."""

    week: tuple[AlertListing, ...]  # fired, escalated, resolved or held back in the window
    nudges: tuple[AlertListing, ...]  # open, digest-routed, not listed by any digest yet
    still_open: tuple[AlertListing, ...]  # open, shown before (by a digest or on their own)

    @property
    def open_severity(self) -> str | None:
        return worst_severity(a.severity for a in (*self.week, *self.nudges, *self.still_open)
                              if a.is_open)


def worst_severity(severities: Iterable[str]) -> str | None:
    """The most urgent of the severities (critical > warn > info); None for none."""
    ranked = [s for s in severities if s in SEVERITIES]
    return max(ranked, key=SEVERITIES.index) if ranked else None


_COLUMNS = (Alert.id, Alert.rule_id, Alert.athlete_id, Alert.severity, Alert.deliver,
            Alert.metric, Alert.value, Alert.threshold, Alert.as_of, Alert.fired_at,
            Alert.resolved_at, Alert.escalated_at, Alert.silenced_reason, Alert.payload,
            Alert.silence_id)


def _listed(other_than_week: str | None) -> Any:
    """A digest listed the alert; with a week, a digest of another week: a digest made again
    for its own week (a preview after sending, the squad's pass) lists the same nudges."""
    listed = exists().where(DigestAlert.alert_id == Alert.id)
    if other_than_week is not None:
        listed = listed.where(Digest.id == DigestAlert.digest_id, Digest.week != other_than_week)
    return listed


def _open_at(row: Any, now: datetime) -> bool:
    return row.fired_at <= now and (row.resolved_at is None or row.resolved_at > now)


def _event_state(row: Any, window: AlertWindow) -> str | None:
    """What happened to the alert within the window (see the module docstring), if anything."""
    if row.resolved_at is not None and window.start_utc <= row.resolved_at < window.end_utc:
        return RESOLVED
    if window.start_utc <= row.fired_at < window.end_utc:
        return HELD_BACK if row.silenced_reason else FIRED
    if (row.escalated_at is not None and row.fired_at < window.start_utc
            and window.start_utc <= row.escalated_at < window.end_utc):
        return ESCALATED
    return None


def _listing(row: Any, state: str, is_open: bool) -> AlertListing:
    payload = row.payload if isinstance(row.payload, dict) else {}
    blocks = payload.get("advice_blocks") or []
    first = blocks[0] if blocks and isinstance(blocks[0], dict) else {}
    summary = payload.get("summary") or (f"{row.metric} is {row.value:g}"
                                         if row.value is not None else row.metric)
    return AlertListing(
        alert_id=row.id, rule=row.rule_id, athlete_id=row.athlete_id, severity=row.severity,
        state=state, deliver=row.deliver or "immediate", metric=row.metric, value=row.value,
        threshold=row.threshold, as_of=row.as_of, fired_at=row.fired_at,
        resolved_at=row.resolved_at, silenced_reason=row.silenced_reason, summary=summary,
        description=payload.get("description") or "", advice_key=first.get("key"),
        advice_title=first.get("title"), listed=bool(row.listed), is_open=is_open,
        silence_id=row.silence_id)


def _rows(session: Session, athlete_id: str, *conditions: Any,
          other_than_week: str | None = None) -> list[Any]:
    listed = _listed(other_than_week).label("listed")
    return list(session.execute(select(*_COLUMNS, listed).where(
        Alert.athlete_id == athlete_id, *conditions).order_by(Alert.fired_at, Alert.id)))


def athlete_alerts(session: Session, athlete_id: str, window: AlertWindow, now: datetime,
                   week: str | None = None) -> AthleteAlerts:
    """Everything the digest of `week` (the window's ISO week) lists about an athlete's
    alerts, from one query; "listed" means by the digest of another week, so making a week's
    digest again gives the same lines.

    nudges: open at `now`, `deliver` digest, not listed (held-back ones included);
    week: the window's fired, escalated, resolved and held-back alerts not among the nudges,
    leaving out the firing of one a digest listed already (its resolving or escalation stay);
    still_open: open at `now` and neither of those: digest findings an earlier digest listed,
    and immediate alerts from before the window (already sent, or listed as held back then).
    """
    horizon = max(window.end_utc, now)
    rows = _rows(session, athlete_id, Alert.fired_at <= horizon,
                 or_(Alert.resolved_at.is_(None), Alert.resolved_at >= window.start_utc),
                 other_than_week=week)
    events, nudges, still_open = [], [], []
    for row in rows:
        is_open = _open_at(row, now)
        state = _event_state(row, window)
        if row.listed and state in (FIRED, HELD_BACK):
            state = None  # an earlier digest showed it fire
        if is_open and row.deliver == "digest" and not row.listed:
            nudges.append(_listing(row, HELD_BACK if row.silenced_reason else FIRED, is_open))
        elif state is not None:
            events.append(_listing(row, state, is_open))
        elif is_open:
            still_open.append(_listing(row, HELD_BACK if row.silenced_reason else OPEN, True))
    return AthleteAlerts(tuple(events), tuple(nudges), tuple(still_open))




@dataclass(frozen=True)
class SilenceListing:
    """A silence in force, as a digest line needs it."""

    silence_id: str
    athlete_id: str
    rule_ids: tuple[str, ...]
    labels: tuple[str, ...]  # the rules as a reader names them ("strength nudges", "run_streak")
    preset: str | None
    reason: str
    created_by: str | None
    starts_at: datetime
    ends_at: datetime


def athlete_silences(session: Session, athlete_id: str, now: datetime,
                     groups: Mapping[str, tuple[str, ...]]) -> tuple[SilenceListing, ...]:
    """The athlete's silences in force at `now`, the soonest to end first; `groups` are the
    presets file's (rules.silences.rule_groups), naming a fully muted group by its name."""
    found = sorted(list_silences(session, athlete_id=athlete_id, active_at=now),
                   key=lambda silence: (silence.ends_at, silence.id))
    return tuple(SilenceListing(
        silence_id=silence.id, athlete_id=silence.athlete_id, rule_ids=silence.rule_ids,
        labels=rule_labels(silence.rule_ids, groups), preset=silence.preset,
        reason=silence.reason, created_by=silence.created_by, starts_at=silence.starts_at,
        ends_at=silence.ends_at) for silence in found)
