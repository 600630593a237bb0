"""The dispatcher: claim due outbox rows, send each on its channel, record what happened."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from config.schema import ServiceConfig
from notify import channels
from notify.channel import DeliveryResult, channel_kind
from notify.outbox import Claimed, OutboxStatus, claim_due, record_result
from store import Store, utc_now

log = logging.getLogger("strideguard.notify")
MAX_PASSES = 100  # bounds a loop of very short Retry-After answers


class Outcome(StrEnum):
    """How one attempt ended, as `dispatch_due` counts it: the row's new status, or MISSING."""

    SENT = OutboxStatus.SENT.value
    RETRY = OutboxStatus.RETRY.value
    DEAD = OutboxStatus.DEAD.value
    MISSING = "missing"  # the row was deleted while it was being sent: nothing was recorded


def send_claimed(config: ServiceConfig, claimed: Claimed) -> DeliveryResult:
    """One attempt on the row's own channel; a failure never falls over to another channel."""
    channel = channels.channel_for(claimed.message.channel)
    if channel is None:
        reason = f"channel {claimed.message.channel} is no longer configured"
        return DeliveryResult(ok=False, reason=reason)
    return channel.send(config, claimed.message)


def dispatch_due(
    store: Store,
    config: ServiceConfig,
    *,
    now: datetime | None = None,
    ignore_backoff: bool = False,
    on_outcome: Callable[[str, Outcome], None] | None = None,
) -> Counter[str]:
    """Deliver every due notification once; returns how many ended in each `Outcome` (by value).

    `on_outcome(channel kind, outcome)` hears of each attempt as it ends (the service's
    metrics: `email`, `webhook`, `push` or `file`, never a channel's hash-suffixed name).
    """
    outcomes: Counter[str] = Counter()
    for _pass in range(MAX_PASSES):
        moment = now or utc_now()
        batch = claim_due(store, moment, ignore_backoff=ignore_backoff)
        if not batch:
            return outcomes
        for claimed in batch:
            try:
                result = send_claimed(config, claimed)
            except Exception as exc:  # a bug in one channel must not strand the rest
                log.exception("sending %s on %s failed unexpectedly",
                              claimed.message.event_id, claimed.message.channel)
                result = DeliveryResult(ok=False, retryable=True, reason=type(exc).__name__)
            # the clock after the send (it may have taken a while), unless the caller fixed it
            finished = now or utc_now()
            status = record_result(store, claimed, result, finished, config.notify.max_attempts)
            outcome = Outcome(status.value) if status else Outcome.MISSING
            outcomes[outcome.value] += 1
            if on_outcome is not None:
                on_outcome(channel_kind(claimed.message.channel), outcome)
            if result.disable_endpoint:
                log.error("%s answered that it is gone: remove it from the config; "
                          "nothing more is sent to it for this alert", claimed.message.channel)
            level = logging.INFO if result.ok else logging.WARNING
            log.log(
                level,
                "%s %s on %s (attempt %d)%s",
                outcome,
                claimed.message.event_id,
                claimed.message.channel,
                claimed.attempts,
                f": {result.reason}" if result.reason else "",
                extra={"channel": claimed.message.channel, "event_id": claimed.message.event_id},
            )
        if ignore_backoff:
            # one pass only: rows that failed again stay queued for the next cycle
            return outcomes
    return outcomes
