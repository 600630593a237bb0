"""What a channel reports after one delivery attempt; the dispatcher decides what happens next."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeliveryResult:
    """Outcome of one attempt: `ok`, or a failure the channel judged `retryable` or permanent."""

    ok: bool
    retryable: bool = False
    reason: str = ""
    retry_after_s: float | None = None
    disable_endpoint: bool = False
