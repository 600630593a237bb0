"""What `strideguard status` shows an operator, read from the store: the workers and their last
scan, files by outcome today, the outbox's depth and age, dead notifications, open alerts and
active silences. Plain data, one small query each, so the CLI holds no SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from store.file_outcomes import file_outcomes_between
from store.models import SQUAD_KEY, Alert, Digest, OutboxMessage, Worker
from store.silences import SilenceRow, list_silences
from store.workers import list_workers

# a worker that said nothing for this long is not listed as running (its heartbeat writes
# its row every 10 s: wiring.operations.HEARTBEAT_INTERVAL_S)
WORKERS_SEEN_WITHIN = timedelta(minutes=5)
DEAD_LISTED = 5
# the outbox's statuses (notify.outbox.OutboxStatus; the store does not import notify)
QUEUED_STATUSES = ("pending", "retry", "sending")
DEAD_STATUS = "dead"


@dataclass(frozen=True)
class WorkerRow:
    """A `strideguard run` process as it last wrote its row."""

    id: str
    hostname: str
    pid: int
    started_at: datetime
    last_seen_at: datetime
    last_scan_at: datetime | None
    last_evaluation_at: datetime | None
    last_dispatch_at: datetime | None
    stopped_at: datetime | None


@dataclass(frozen=True)
class OutboxDepth:
    """Notifications not yet done with: how many and how long the oldest has waited."""

    pending: int
    retry: int
    sending: int
    due_now: int  # pending, retry past its backoff, or sending with an expired lease
    oldest_due_at: datetime | None  # when the longest-waiting due one became due
    oldest_queued_at: datetime | None  # when the oldest queued one was created

    @property
    def depth(self) -> int:
        return self.pending + self.retry + self.sending


@dataclass(frozen=True)
class DeadRow:
    """A notification that gave up: where it was going, about whom, and why it failed."""

    id: int
    event_id: str
    channel: str  # stored name: email | webhook:<hash> | push:<hash> | file
    kind: str
    athlete_id: str | None  # None for the squad digest and for runner notices
    alert_id: str | None
    attempts: int
    last_error: str | None
    created_at: datetime
    last_due_at: datetime  # when its last attempt was due (about when it was made)


@dataclass(frozen=True)
class SeverityCount:
    """Open (firing, not resolved) alerts of one severity; `silenced`: held back by a silence."""

    severity: str
    open: int
    silenced: int


@dataclass(frozen=True)
class StatusReport:
    """Everything `status` prints, as of `now`; `day` is today in the service's time zone."""

    now: datetime
    timezone: str
    day: date
    last_scan_at: datetime | None
    workers: list[WorkerRow]
    files_today: dict[str, int]  # file_outcomes.status -> count
    outbox: OutboxDepth
    dead_count: int
    dead_recent: list[DeadRow]
    open_alerts: list[SeverityCount]
    silences: list[SilenceRow]


def read_status(session: Session, now: datetime, timezone: str) -> StatusReport:
    """The whole picture in one read transaction."""
    day, start, end = local_day_bounds(now, timezone)
    dead_count, dead_recent = dead_notifications(session)
    return StatusReport(
        now=now, timezone=timezone, day=day,
        last_scan_at=last_scan_at(session),
        workers=recent_workers(session, now),
        files_today=files_by_status(session, start, end),
        outbox=outbox_depth(session, now),
        dead_count=dead_count, dead_recent=dead_recent,
        open_alerts=open_alerts_by_severity(session),
        silences=list_silences(session, active_at=now),
    )


def local_day_bounds(now: datetime, timezone: str) -> tuple[date, datetime, datetime]:
    """Today in `timezone` and its [start, end) in UTC-aware datetimes (23 or 25 hours long on
    the days the clocks change)."""
    zone = ZoneInfo(timezone)
    day = now.astimezone(zone).date()
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return day, start, end


def last_scan_at(session: Session) -> datetime | None:
    """The latest scan any worker finished, running or not."""
    return session.scalar(select(func.max(Worker.last_scan_at)))


def recent_workers(session: Session, now: datetime,
                   within: timedelta = WORKERS_SEEN_WITHIN) -> list[WorkerRow]:
    """Workers seen since `now - within`, those that stopped included, in start order."""
    seen = sorted(list_workers(session, seen_since=now - within),
                  key=lambda w: (w.started_at, w.id))
    return [WorkerRow(w.id, w.hostname, w.pid, w.started_at, w.last_seen_at, w.last_scan_at,
                      w.last_evaluation_at, w.last_dispatch_at, w.stopped_at) for w in seen]


def files_by_status(session: Session, start: datetime, end: datetime) -> dict[str, int]:
    """Files handled in [start, end), counted by what became of them (every attempt: also
    byte-identical copies, broken containers, refused links and errors, which leave no
    `source_files` row)."""
    return dict(sorted(file_outcomes_between(session, start, end).items()))


def outbox_depth(session: Session, now: datetime) -> OutboxDepth:
    """Counts by status of the queued rows, and the age markers of the oldest."""
    counts = dict(session.execute(
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.status.in_(QUEUED_STATUSES))
        .group_by(OutboxMessage.status)).all())
    due = or_(
        OutboxMessage.status.in_(("pending", "retry")) & (OutboxMessage.next_attempt_at <= now),
        (OutboxMessage.status == "sending") & (OutboxMessage.lease_until < now),
    )
    due_now, oldest_due_at = session.execute(
        select(func.count(), func.min(OutboxMessage.next_attempt_at)).where(due)).one()
    oldest_queued_at = session.scalar(
        select(func.min(OutboxMessage.created_at))
        .where(OutboxMessage.status.in_(QUEUED_STATUSES)))
    return OutboxDepth(pending=counts.get("pending", 0), retry=counts.get("retry", 0),
                       sending=counts.get("sending", 0), due_now=due_now,
                       oldest_due_at=oldest_due_at, oldest_queued_at=oldest_queued_at)


def dead_notifications(session: Session, limit: int = DEAD_LISTED) -> tuple[int, list[DeadRow]]:
    """How many notifications are dead, and the `limit` whose last attempt came latest."""
    count = session.scalar(
        select(func.count()).select_from(OutboxMessage)
        .where(OutboxMessage.status == DEAD_STATUS)) or 0
    query = (select(OutboxMessage, Alert.athlete_id, Digest.athlete_key)
             .outerjoin(Alert, OutboxMessage.alert_id == Alert.id)
             .outerjoin(Digest, OutboxMessage.digest_id == Digest.id)
             .where(OutboxMessage.status == DEAD_STATUS)
             .order_by(OutboxMessage.next_attempt_at.desc(), OutboxMessage.id.desc())
             .limit(limit))
    recent = []
    for row, alert_athlete, digest_athlete in session.execute(query).all():
        athlete = alert_athlete or (digest_athlete if digest_athlete != SQUAD_KEY else None)
        recent.append(DeadRow(row.id, row.event_id, row.channel, row.kind, athlete, row.alert_id,
                              row.attempts, row.last_error, row.created_at, row.next_attempt_at))
    return count, recent


def open_alerts_by_severity(session: Session) -> list[SeverityCount]:
    """Firing (not resolved) alerts per severity, and how many of them a silence holds back."""
    query = (select(Alert.severity, func.count(), func.count(Alert.silence_id))
             .where(Alert.resolved_at.is_(None))
             .group_by(Alert.severity).order_by(Alert.severity))
    return [SeverityCount(severity, open_count, silenced)
            for severity, open_count, silenced in session.execute(query).all()]

