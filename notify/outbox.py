"""The outbox: a rendered notification per target of an alert or a digest, leased, sent once."""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache, partial
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session, aliased

from config.schema import ServiceConfig
from notify import channels
from notify.alert_chart import draw_alert_chart
from notify.channel import (
    DIGEST_KINDS,
    DeliveryResult,
    DigestContent,
    Notice,
    NoticeKind,
    Outgoing,
)
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
    """Render and queue one notification per target, in the caller's transaction; idempotent.

    The alert's chart (`payload["chart"]`) is drawn at most once, shared by every email target.
    """
    moment = now or utc_now()
    chart = cache(partial(draw_alert_chart, alert.payload.get("chart")))
    queued: list[OutboxMessage] = []
    targets = channels.targets_for(config, alert.athlete_id, kind, alert.payload.get("channels"))
    for target in targets:
        if kind == "resolved" and not _firing_delivered(session, alert, target.channel):
            continue
        dedupe_key = f"{target.channel}|{alert.id}|{kind}|{alert.severity}"
        if _queued(session, dedupe_key):
            continue
        event_id = new_event_id()
        notice = Notice(alert.payload, alert.athlete_id, kind, target, event_id, moment,
                        chart=chart)
        row = _row(config, notice, dedupe_key, moment)
        row.alert_id = alert.id
        session.add(row)
        queued.append(row)
    session.flush()
    return queued


def enqueue_digest(
    session: Session,
    config: ServiceConfig,
    content: DigestContent,
    digest_id: str,
    now: datetime | None = None,
) -> list[OutboxMessage]:
    """Queue a rendered digest once per target, in the transaction that writes its ledger row.

    A runner's digest (`kind` "digest") goes to the runner's own address, every webhook and
    the runner's push URLs; the squad digest ("squad-digest") to the coach's addresses and push
    URLs only; with nothing configured,
    both become .eml files. Idempotent: one row per (target, digest).
    """
    if content.kind not in DIGEST_KINDS:
        raise ValueError(f"not a digest kind: {content.kind!r}")
    kind: NoticeKind = "digest" if content.kind == "digest" else "squad-digest"
    moment = now or utc_now()
    queued: list[OutboxMessage] = []
    for target in channels.targets_for(config, content.athlete_id, kind):
        dedupe_key = f"{target.channel}|digest|{digest_id}"
        if _queued(session, dedupe_key):
            continue
        notice = Notice(content.data, content.athlete_id, kind, target, new_event_id(), moment,
                        digest=content)
        row = _row(config, notice, dedupe_key, moment)
        row.digest_id = digest_id
        session.add(row)
        queued.append(row)
    session.flush()
    return queued


def enqueue_notice(
    session: Session,
    config: ServiceConfig,
    notice: Mapping[str, Any],
    key: str,
    now: datetime | None = None,
) -> list[OutboxMessage]:
    """Queue a short message to the runner (`notice["athlete"]`), once per `key` and target,
    in the caller's transaction: email to the runner's own address, else an .eml file."""
    moment = now or utc_now()
    queued: list[OutboxMessage] = []
    athlete_id = str(notice["athlete"])
    for target in channels.targets_for(config, athlete_id, "notice"):
        dedupe_key = f"{target.channel}|notice|{key}"
        if _queued(session, dedupe_key):
            continue
        row = _row(config, Notice(notice, athlete_id, "notice", target, new_event_id(), moment),
                   dedupe_key, moment)
        session.add(row)
        queued.append(row)
    session.flush()
    return queued


def check_channel_kind(kind: str) -> None:
    """ValueError unless `kind` is a registered channel kind (a `--channel` value): the one
    wording of `test-notify` and `outbox retry`."""
    if kind not in channels.channel_kinds():
        raise ValueError(f"--channel: unknown channel kind {kind!r}; the kinds are: "
                         f"{', '.join(channels.channel_kinds())}")


def new_event_id() -> str:
    """A fresh event id: Message-ID, webhook-id and .eml name; no dots (the signature's
    separator)."""
    return f"msg_{uuid.uuid4().hex}"


def _queued(session: Session, dedupe_key: str) -> bool:
    found = session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key))
    return found is not None


def _row(config: ServiceConfig, notice: Notice, dedupe_key: str, moment: datetime) -> OutboxMessage:
    """A pending row holding the notice rendered by its target's channel."""
    channel = channels.channel_for(notice.target.channel)
    if channel is None:  # targets come from the registry, so this is a bug, not a config
        raise LookupError(f"no registered channel for {notice.target.channel}")
    return OutboxMessage(
        event_id=notice.event_id,
        dedupe_key=dedupe_key,
        channel=notice.target.channel,
        kind=notice.kind,
        recipients=list(notice.target.recipients),
        status=OutboxStatus.PENDING.value,
        attempts=0,
        payload=channel.render(config, notice),
        next_attempt_at=moment,
        give_up_at=moment + config.notify.give_up_after,
        created_at=moment,
    )


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
    """Lease due rows (pending, retry, or sending with an expired lease) to this worker.

    A resolved notice waits while its channel's firing of the alert is still on its way
    (pending, retry, sending): told in the other order, a receiver would reopen the alert for
    good. A firing that died releases it (a receiver ignores the close of an unknown alert).
    """
    retry = OutboxMessage.status == OutboxStatus.RETRY.value
    due = or_(
        OutboxMessage.status == OutboxStatus.PENDING.value,
        retry if ignore_backoff else retry & (OutboxMessage.next_attempt_at <= now),
        (OutboxMessage.status == OutboxStatus.SENDING.value) & (OutboxMessage.lease_until < now),
    )
    firing = aliased(OutboxMessage)
    firing_on_its_way = exists().where(
        firing.alert_id == OutboxMessage.alert_id, firing.channel == OutboxMessage.channel,
        firing.kind == "firing",
        firing.status.in_((OutboxStatus.PENDING.value, OutboxStatus.RETRY.value,
                           OutboxStatus.SENDING.value)))
    with store.session() as session:
        rows = session.scalars(
            select(OutboxMessage)
            .where(due, ~((OutboxMessage.kind == "resolved") & firing_on_its_way))
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
