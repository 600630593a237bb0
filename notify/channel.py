"""The channel interface: who a notification goes to, the bytes it is stored as, one send."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from config.schema import ServiceConfig

# firing: an alert's episode started (or got worse); resolved: its condition cleared
NoticeKind = Literal["firing", "resolved"]


def channel_kind(stored_name: str) -> str:
    """The channel kind a rule's `channels:` names: `webhook` for `webhook:<hash>`."""
    return stored_name.split(":", 1)[0]


@dataclass(frozen=True)
class DeliveryResult:
    """Outcome of one attempt: `ok`, or a failure the channel judged `retryable` or permanent."""

    ok: bool
    retryable: bool = False
    reason: str = ""
    retry_after_s: float | None = None
    disable_endpoint: bool = False


@dataclass(frozen=True)
class Target:
    """One destination: the stored channel name (`kind` or `kind:<id>`) and its recipients."""

    channel: str
    recipients: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return channel_kind(self.channel)


@dataclass(frozen=True)
class Notice:
    """One notification to render at enqueue: the alert as plain data, where and when it goes."""

    alert: Mapping[str, Any]  # the alert's payload, as the webhook body carries it
    athlete_id: str
    kind: NoticeKind
    target: Target
    event_id: str  # stable across retries: Message-ID, webhook-id, .eml file name
    created_at: datetime


@dataclass(frozen=True)
class Outgoing:
    """A queued notification as a channel sends it: the stored bytes and where they go."""

    event_id: str
    channel: str
    recipients: tuple[str, ...]
    payload: bytes


class Channel(Protocol):
    """One way of delivering; the outbox and the dispatcher own state, retries and timing."""

    @property
    def kind(self) -> str:
        """The word a rule's `channels:` uses, and the stored channel name or its prefix."""
        ...

    def configured(self, config: ServiceConfig) -> bool:
        """Whether the config sets this channel up (with none set up, the fallback is used)."""
        ...

    def targets(self, config: ServiceConfig, athlete_id: str, kind: NoticeKind) -> list[Target]:
        """Where a notice of `kind` about this athlete goes on this channel; may be empty."""
        ...

    def render(self, config: ServiceConfig, notice: Notice) -> bytes:
        """The bytes stored in the outbox at enqueue and sent unchanged on every attempt."""
        ...

    def send(self, config: ServiceConfig, message: Outgoing) -> DeliveryResult:
        """One attempt; the channel alone judges whether a failure is worth retrying."""
        ...
