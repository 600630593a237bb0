"""The dispatcher: claim due outbox rows, send each on its channel, record what happened."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from email.utils import parseaddr

from config.schema import ServiceConfig
from notify import email, webhook
from notify.outbox import (
    EMAIL_CHANNEL,
    FILE_CHANNEL,
    Claimed,
    claim_due,
    record_result,
    webhook_channel,
)
from notify.result import DeliveryResult
from store import Store, utc_now

log = logging.getLogger("strideguard.notify")
MAX_PASSES = 100  # bounds a loop of very short Retry-After answers


def send_claimed(config: ServiceConfig, claimed: Claimed) -> DeliveryResult:
    """One attempt on the row's own channel; a failure never falls over to another channel."""
    if claimed.channel == FILE_CHANNEL:
        path = email.write_eml(claimed.payload, config.mail_dir, claimed.event_id)
        log.info("alert written to %s", path)
        return DeliveryResult(ok=True)
    if claimed.channel == EMAIL_CHANNEL:
        if config.notify.email is None:
            return DeliveryResult(ok=False, reason="email is no longer configured")
        sender = parseaddr(config.notify.email.sender)[1] or config.notify.email.sender
        return email.send(claimed.payload, sender, list(claimed.recipients), config.notify.email)
    for hook in config.notify.webhooks:
        if webhook_channel(hook) == claimed.channel:
            return webhook.send(claimed.payload, claimed.event_id, hook)
    return DeliveryResult(ok=False, reason=f"channel {claimed.channel} is no longer configured")


def dispatch_due(
    store: Store,
    config: ServiceConfig,
    *,
    now: datetime | None = None,
    ignore_backoff: bool = False,
) -> Counter[str]:
    """Deliver every due notification once; returns how many ended sent, retry or dead."""
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
                log.exception(
                    "sending %s on %s failed unexpectedly", claimed.event_id, claimed.channel
                )
                result = DeliveryResult(ok=False, retryable=True, reason=type(exc).__name__)
            status = record_result(store, claimed, result, utc_now(), config.notify.max_attempts)
            outcomes[status] += 1
            if result.disable_endpoint:
                log.error("%s answered 410 Gone: remove this webhook from the config; "
                          "nothing more is sent to it for this alert", claimed.channel)
            level = logging.INFO if result.ok else logging.WARNING
            log.log(
                level,
                "%s %s on %s (attempt %d)%s",
                status,
                claimed.event_id,
                claimed.channel,
                claimed.attempts,
                f": {result.reason}" if result.reason else "",
            )
        if ignore_backoff:
            # one pass only: rows that failed again stay queued for the next cycle
            return outcomes
    return outcomes
