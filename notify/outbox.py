"""The outbox: one row per (channel, alert, kind, severity), claimed with a lease and sent once."""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from config.schema import NotifyConfig, ServiceConfig, WebhookConfig
from notify.render import render_email, render_webhook_body
from notify.result import DeliveryResult
from store import Alert, OutboxMessage, Store, utc_now

LEASE = timedelta(minutes=5)
# email servers queue after acceptance, so a short schedule is enough (alerting.md §8.7)
BACKOFF_S = (30, 120, 600, 1800, 7200, 21600)
RETRY_AFTER_BOUNDS_S = (1.0, 3600.0)
FILE_CHANNEL = "file"
EMAIL_CHANNEL = "email"


def webhook_channel(webhook: WebhookConfig) -> str:
    """A stable channel name that does not reveal the URL (it may carry a token)."""
    return "webhook:" + hashlib.sha256(webhook.url.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class Target:
    channel: str
    recipients: tuple[str, ...] = ()


def targets_for(config: ServiceConfig, athlete_id: str, kind: str,
                channels: Sequence[str] | None = None) -> list[Target]:
    """Where an alert goes: email (athlete + coach copies) and every webhook, else .eml files.

    Resolved notices go to webhooks only: a runner needs no mail saying a risk has passed.
    A rule's `channels` (email, webhook, file) narrows this to those kinds.
    """
    targets = _configured_targets(config, athlete_id, kind)
    if channels is None:
        return targets
    chosen = [t for t in targets if t.channel.split(":", 1)[0] in channels]
    if kind == "firing" and not any(t.channel == FILE_CHANNEL for t in chosen) and (
            FILE_CHANNEL in channels or not chosen):
        # asked for, or the rule's channels are not configured: an .eml file, never nothing
        chosen.append(Target(FILE_CHANNEL))
    return chosen


def _configured_targets(config: ServiceConfig, athlete_id: str, kind: str) -> list[Target]:
    notify: NotifyConfig = config.notify
    targets: list[Target] = []
    if notify.email is not None and kind == "firing":
        athlete = config.athlete(athlete_id)
        recipients = ([athlete.email] if athlete and athlete.email else []) + list(notify.email.to)
        if recipients:
            targets.append(Target(EMAIL_CHANNEL, tuple(dict.fromkeys(recipients))))
    targets.extend(Target(webhook_channel(w)) for w in notify.webhooks)
    if notify.email is None and not notify.webhooks and kind == "firing":
        targets.append(Target(FILE_CHANNEL))
    return targets


def enqueue_alert(
    session: Session, config: ServiceConfig, alert: Alert, kind: str, now: datetime | None = None
) -> list[OutboxMessage]:
    """Render and queue one notification per target, in the caller's transaction; idempotent."""
    moment = now or utc_now()
    queued: list[OutboxMessage] = []
    for target in targets_for(config, alert.athlete_id, kind, alert.payload.get("channels")):
        if kind == "resolved" and not _firing_delivered(session, alert, target.channel):
            continue
        dedupe_key = f"{target.channel}|{alert.id}|{kind}|{alert.severity}"
        if session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)):
            continue
        event_id = f"msg_{uuid.uuid4().hex}"
        row = OutboxMessage(
            event_id=event_id,
            dedupe_key=dedupe_key,
            alert_id=alert.id,
            channel=target.channel,
            kind=kind,
            recipients=list(target.recipients),
            status="pending",
            attempts=0,
            payload=_render(config, alert, kind, target, event_id, moment),
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
                OutboxMessage.status != "dead",
            )
        )
        is not None
    )


def _render(
    config: ServiceConfig, alert: Alert, kind: str, target: Target, event_id: str, moment: datetime
) -> bytes:
    if target.channel == EMAIL_CHANNEL and config.notify.email is not None:
        return render_email(
            alert.payload,
            kind,
            sender=config.notify.email.sender,
            to=list(target.recipients),
            event_id=event_id,
        )
    if target.channel == FILE_CHANNEL:
        athlete = config.athlete(alert.athlete_id)
        to = [athlete.email] if athlete and athlete.email else [f"{alert.athlete_id}@localhost"]
        return render_email(
            alert.payload,
            kind,
            sender="StrideGuard <strideguard@localhost>",
            to=to,
            event_id=event_id,
        )
    return render_webhook_body(alert.payload, kind, moment)


@dataclass(frozen=True)
class Claimed:
    """A row claimed for one attempt: everything needed to send it outside any transaction."""

    id: int
    event_id: str
    channel: str
    recipients: tuple[str, ...]
    payload: bytes
    attempts: int


def claim_due(
    store: Store, now: datetime, *, ignore_backoff: bool = False, batch: int = 50
) -> list[Claimed]:
    """Lease due rows (pending, retry, or sending with an expired lease) to this worker."""
    due = or_(
        OutboxMessage.status == "pending",
        OutboxMessage.status == "retry"
        if ignore_backoff
        else (OutboxMessage.status == "retry") & (OutboxMessage.next_attempt_at <= now),
        (OutboxMessage.status == "sending") & (OutboxMessage.lease_until < now),
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
            row.status, row.lease_until, row.attempts = "sending", now + LEASE, row.attempts + 1
            claimed.append(
                Claimed(
                    row.id,
                    row.event_id,
                    row.channel,
                    tuple(row.recipients),
                    row.payload,
                    row.attempts,
                )
            )
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
) -> str:
    """Write the attempt's outcome: sent, retry later, or dead (permanent or out of time)."""
    with store.session() as session:
        row = session.get(OutboxMessage, claimed.id)
        if row is None:
            return "missing"
        row.lease_until = None
        row.last_error = None if result.ok else result.reason[:2000]
        if result.ok:
            row.status, row.sent_at = "sent", now
            if result.reason:
                row.last_error = result.reason[:2000]
        elif result.retryable and row.attempts < max_attempts and now < row.give_up_at:
            row.status = "retry"
            row.next_attempt_at = now + timedelta(
                seconds=next_delay_s(row.attempts, result.retry_after_s)
            )
        else:
            row.status = "dead"
        return row.status
