"""`strideguard outbox retry`: notifications waiting to retry made due now and, with `--dead`,
dead ones put back in the queue under the same event ids (receivers deduplicate).

Putting a dead notification back must not tell a receiver something false or stale, so some
are left as they are, each with the reason `outbox retry` prints:
- a channel the config no longer has (its row could only fail again);
- with `--dead`, a webhook that answered 410 Gone (it asked to be sent nothing more), until it
  has accepted something since: a successful `strideguard test-notify --channel webhook` or
  a notification sent to it after that answer;
- with `--dead`, the firing of an alert a silence covers now (the operator muted that rule),
  or of an alert that resolved while this channel was already told so (a late firing would
  reopen it at the receiver).
The firing of an alert that resolved while the firing was dead goes back together with the
resolved notice, queued in the same transaction and sent after it: the receiver never hears
of the resolution otherwise (the outbox tells a channel of a resolution only if it was told
of the firing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from config.schema import ServiceConfig
from notify.channels import FALLBACK
from notify.channels import push as push_channel
from notify.channels import webhook as webhook_channel
from notify.outbox import OutboxStatus, check_channel_kind, enqueue_alert
from store import Alert, NotificationTest, OutboxMessage, Store
from store.silences import list_silences


@dataclass(frozen=True)
class Requeued:
    """A notification `requeue` made due now, under the id it keeps; or (`was` PENDING) the
    resolved notice of an alert whose dead firing went back, queued now."""

    id: int
    event_id: str  # unchanged: Message-ID, webhook-id, so receivers deduplicate
    channel: str  # stored name: email | webhook:<hash> | push:<hash> | file
    kind: str
    was: OutboxStatus  # RETRY or DEAD; PENDING for a resolved notice queued now
    attempts: int  # as put back (0 for a dead one): a row tried since has more


@dataclass(frozen=True)
class LeftAlone:
    """A notification `requeue` did not put back, and why (a sentence for the operator)."""

    id: int
    event_id: str
    channel: str
    kind: str
    was: OutboxStatus  # RETRY or DEAD: as it stays
    why: str


@dataclass(frozen=True)
class RequeueReport:
    requeued: list[Requeued] = field(default_factory=list)
    left: list[LeftAlone] = field(default_factory=list)


def requeue(
    store: Store,
    config: ServiceConfig,
    now: datetime,
    *,
    dead: bool,
    channel_kind: str | None,
) -> RequeueReport:
    """Make notifications waiting to retry due now and, with `dead`, put dead ones back in the
    queue, under the same event ids; never a sent one; some left alone (see the module).

    A dead row gets a fair new run: attempts from zero and `notify.give_up_after` from now;
    its `last_error` stays until the next attempt replaces it. A row another worker holds
    right now (`sending`, or locked on PostgreSQL) is left out: it is being sent already.
    """
    wanted = [OutboxStatus.RETRY.value] + ([OutboxStatus.DEAD.value] if dead else [])
    query = select(OutboxMessage).where(OutboxMessage.status.in_(wanted))
    if channel_kind is not None:
        check_channel_kind(channel_kind)
        # `email`, `file`, or `webhook:<hash>` / `push:<hash>` (kinds hold no `:` nor `%`)
        query = query.where(or_(OutboxMessage.channel == channel_kind,
                                OutboxMessage.channel.startswith(f"{channel_kind}:")))
    report = RequeueReport()
    sendable = configured_channel_names(config)
    with store.session() as session:
        rows = session.scalars(
            query.order_by(OutboxMessage.id).with_for_update(skip_locked=True)).all()
        for row in rows:
            was = OutboxStatus(row.status)
            alert = _alert_of(session, row) if was is OutboxStatus.DEAD else None
            why = _why_left(session, row, alert, sendable, now)
            if why is not None:
                report.left.append(LeftAlone(row.id, row.event_id, row.channel, row.kind, was,
                                             why))
                continue
            if was is OutboxStatus.DEAD:
                row.status, row.attempts = OutboxStatus.RETRY.value, 0
                row.give_up_at = now + config.notify.give_up_after
            row.next_attempt_at = now
            report.requeued.append(Requeued(row.id, row.event_id, row.channel, row.kind, was,
                                            row.attempts))
            if alert is not None and row.kind == "firing" and alert.resolved_at is not None:
                # idempotent (dedupe key); only on channels told of the firing, as this now is
                report.requeued.extend(
                    Requeued(new.id, new.event_id, new.channel, new.kind, OutboxStatus.PENDING, 0)
                    for new in enqueue_alert(session, config, alert, "resolved", now))
    return report


def configured_channel_names(config: ServiceConfig) -> frozenset[str]:
    """Every stored channel name the config can still send on, as each channel's `send` finds
    it: `email` while notify.email is set, each webhook's and push URL's hashed name, and
    `file` (the .eml fallback needs no config)."""
    names = {FALLBACK.kind}
    if config.notify.email is not None:
        names.add("email")
    names.update(webhook_channel.channel_name(hook) for hook in config.notify.webhooks)
    names.update(push_channel.channel_name(url)
                 for _loc, url in push_channel.configured_urls(config))
    return frozenset(names)


def _alert_of(session: Session, row: OutboxMessage) -> Alert | None:
    """The row's alert, locked: an evaluation resolving it meanwhile either sees the firing
    put back (and queues the resolved notice itself) or is seen resolved here."""
    if row.alert_id is None:
        return None
    return session.get(Alert, row.alert_id, with_for_update=True)


def _why_left(session: Session, row: OutboxMessage, alert: Alert | None,
              sendable: frozenset[str], now: datetime) -> str | None:
    """Why this row stays as it is; None to put it back."""
    if row.channel not in sendable:
        return f"channel {row.channel} is no longer configured"
    if row.status != OutboxStatus.DEAD.value:
        return None
    if (row.last_error or "").startswith(webhook_channel.GONE_REASON_PREFIX) and not (
            _accepted_since(session, row.channel, row.next_attempt_at)):
        return ("the receiver answered 410 Gone (send nothing more); once it is back, a "
                "successful `strideguard test-notify --channel webhook` lets this send it")
    if alert is None or row.kind != "firing":
        return None
    silence = next((s for s in list_silences(session, athlete_id=alert.athlete_id,
                                             active_at=now)
                    if alert.rule_id in s.rule_ids), None)
    if silence is not None:
        ends = silence.ends_at.isoformat(timespec="minutes").replace("+00:00", "Z")
        return f"the alert is silenced now (silence {silence.id[:8]} until {ends})"
    if alert.resolved_at is not None and _resolved_sent(session, alert.id, row.channel):
        return "the alert resolved and this channel was told so: a late firing would reopen it"
    return None


def _accepted_since(session: Session, channel: str, moment: datetime) -> bool:
    """Whether the channel took something after `moment`: a notification sent, or a test."""
    sent = select(OutboxMessage.id).where(
        OutboxMessage.channel == channel, OutboxMessage.status == OutboxStatus.SENT.value,
        OutboxMessage.sent_at > moment).limit(1)
    tested = select(NotificationTest.id).where(
        NotificationTest.channel == channel, NotificationTest.ok.is_(True),
        NotificationTest.sent_at > moment).limit(1)
    return session.scalar(sent) is not None or session.scalar(tested) is not None


def _resolved_sent(session: Session, alert_id: str, channel: str) -> bool:
    return session.scalar(select(OutboxMessage.id).where(
        OutboxMessage.alert_id == alert_id, OutboxMessage.channel == channel,
        OutboxMessage.kind == "resolved",
        OutboxMessage.status == OutboxStatus.SENT.value).limit(1)) is not None


@dataclass(frozen=True)
class RowState:
    """Where one outbox row stands now (after a dispatch, say): what `outbox retry` reports."""

    id: int
    status: str  # an OutboxStatus value
    attempts: int
    last_error: str | None
    next_attempt_at: datetime


def row_states(store: Store, ids: Sequence[int]) -> dict[int, RowState]:
    """The current state of these rows by id; a row deleted meanwhile is absent."""
    states: dict[int, RowState] = {}
    with store.session() as session:
        for start in range(0, len(ids), 500):  # bounded IN lists (SQLite's variable limit)
            chunk = list(ids[start:start + 500])
            for row in session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(chunk))):
                states[row.id] = RowState(row.id, row.status, row.attempts, row.last_error,
                                          row.next_attempt_at)
    return states
