"""The outbox: one row per (channel, alert, kind, severity), claimed with a lease and sent once."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from config.schema import ServiceConfig
from notify import channels
from notify.channel import DeliveryResult, Notice, NoticeKind, Outgoing
from store import Alert, OutboxMessage, Store, utc_now

LEASE = timedelta(minutes=5)
# email servers queue after acceptance, so a short schedule is enough (alerting.md §8.7)
BACKOFF_S = (30, 120, 600, 1800, 7200, 21600)
RETRY_AFTER_BOUNDS_S = (1.0, 3600.0)


class OutboxStatus(StrEnum):
    """A row's `status` column: pending → sending → sent | retry (→ sending) | dead."""

    PENDING = "pending"
    SENDING = "sending"
    RETRY = "retry"
    SENT = "sent"
    DEAD = "dead"


def enqueue_alert(
    session: Session,
    config: ServiceConfig,
    alert: Alert,
    kind: NoticeKind,
    now: datetime | None = None,
) -> list[OutboxMessage]:
    """Render and queue one notification per target, in the caller's transaction; idempotent."""
    moment = now or utc_now()
    queued: list[OutboxMessage] = []
    targets = channels.targets_for(config, alert.athlete_id, kind, alert.payload.get("channels"))
    for target in targets:
        if kind == "resolved" and not _firing_delivered(session, alert, target.channel):
            continue
        dedupe_key = f"{target.channel}|{alert.id}|{kind}|{alert.severity}"
        if session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)):
            continue
        event_id = f"msg_{uuid.uuid4().hex}"
        channel = channels.channel_for(target.channel)
        if channel is None:  # targets come from the registry, so this is a bug, not a config
            raise LookupError(f"no registered channel for {target.channel}")
        notice = Notice(alert.payload, alert.athlete_id, kind, target, event_id, moment)
        row = OutboxMessage(
            event_id=event_id,
            dedupe_key=dedupe_key,
            alert_id=alert.id,
            channel=target.channel,
            kind=kind,
            recipients=list(target.recipients),
            status=OutboxStatus.PENDING.value,
            attempts=0,
            payload=channel.render(config, notice),
            next_attempt_at=moment,
            give_up_at=moment + config.notify.give_up_after,
            created_at=moment,
        )
        session.add(row)
        queued.append(row)
    session.flush()
    return queued


def _firing_delivered(session: Session, alert: Alert, channel: str) -> bool:
    """Only tell a channel that an alert resolved if it was told that it fired."""
    return (
        session.scalar(
            select(OutboxMessage.id).where(
                OutboxMessage.alert_id == alert.id,
                OutboxMessage.channel == channel,
                OutboxMessage.kind == "firing",
                OutboxMessage.status != OutboxStatus.DEAD.value,
            )
        )
        is not None
    )


@dataclass(frozen=True)
class Claimed:
    """A row claimed for one attempt: everything needed to send it outside any transaction."""

    id: int
    attempts: int  # including this one
    message: Outgoing


def claim_due(
    store: Store, now: datetime, *, ignore_backoff: bool = False, batch: int = 50
) -> list[Claimed]:
    """Lease due rows (pending, retry, or sending with an expired lease) to this worker."""
    retry = OutboxMessage.status == OutboxStatus.RETRY.value
    due = or_(
        OutboxMessage.status == OutboxStatus.PENDING.value,
        retry if ignore_backoff else retry & (OutboxMessage.next_attempt_at <= now),
        (OutboxMessage.status == OutboxStatus.SENDING.value) & (OutboxMessage.lease_until < now),
    )
    with store.session() as session:
        rows = session.scalars(
            select(OutboxMessage)
            .where(due)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        ).all()
        claimed = []
        for row in rows:
            row.status, row.lease_until = OutboxStatus.SENDING.value, now + LEASE
            row.attempts += 1
            message = Outgoing(row.event_id, row.channel, tuple(row.recipients), row.payload)
            claimed.append(Claimed(row.id, row.attempts, message))
    return claimed


def next_delay_s(attempts: int, retry_after_s: float | None) -> float:
    """Backoff with ±20 % jitter; a server's Retry-After wins, within bounds."""
    if retry_after_s is not None:
        low, high = RETRY_AFTER_BOUNDS_S
        return min(max(retry_after_s, low), high)
    base_s = BACKOFF_S[min(attempts - 1, len(BACKOFF_S) - 1)]
    return base_s * random.uniform(0.8, 1.2)


def record_result(
    store: Store, claimed: Claimed, result: DeliveryResult, now: datetime, max_attempts: int
) -> OutboxStatus | None:
    """Write the attempt's outcome: sent, retry later, or dead (permanent or out of time).

    None when the row is gone (deleted while it was being sent): there is nothing to record.
    """
    with store.session() as session:
        row = session.get(OutboxMessage, claimed.id)
        if row is None:
            return None
        row.lease_until = None
        row.last_error = None if result.ok else result.reason[:2000]
        if result.ok:
            status, row.sent_at = OutboxStatus.SENT, now
            if result.reason:
                row.last_error = result.reason[:2000]
        elif result.retryable and row.attempts < max_attempts and now < row.give_up_at:
            status = OutboxStatus.RETRY
            row.next_attempt_at = now + timedelta(
                seconds=next_delay_s(row.attempts, result.retry_after_s)
            )
        else:
            status = OutboxStatus.DEAD
        row.status = status.value
        return status
