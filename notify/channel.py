"""The channel interface: who a notification goes to, the bytes it is stored as, one send."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from config.schema import ServiceConfig

if TYPE_CHECKING:
    from charts import Png

# firing: an alert's episode started (or got worse); resolved: its condition cleared;
# digest: a runner's weekly digest; squad-digest: the coach's weekly digest of every runner;
# notice: a short message to the runner that is not an alert (a silence ends tomorrow);
# test: `strideguard test-notify`, sent at once past the outbox, to show that a channel works
NoticeKind = Literal["firing", "resolved", "digest", "squad-digest", "notice", "test"]
DIGEST_KINDS: tuple[NoticeKind, ...] = ("digest", "squad-digest")


def channel_kind(stored_name: str) -> str:
    """The channel kind a rule's `channels:` names: `webhook` for `webhook:<hash>`."""
    return stored_name.split(":", 1)[0]


class InlineImage(Protocol):
    """A PNG shown inside an HTML email, referenced from the HTML as `src="cid:<cid>"`.

    The PNG is drawn at twice `width_px` x `height_px`, the size the `<img>` shows it at.
    """

    @property
    def cid(self) -> str: ...
    @property
    def png(self) -> bytes: ...
    @property
    def alt(self) -> str: ...
    @property
    def width_px(self) -> int: ...
    @property
    def height_px(self) -> int: ...


class DigestContent(Protocol):
    """A rendered weekly digest as notify needs it; digest/ satisfies this by shape alone."""

    @property
    def kind(self) -> str: ...  # "digest" (a runner's) | "squad-digest" (the coach's)
    @property
    def athlete_id(self) -> str | None: ...  # None for the squad digest
    @property
    def week(self) -> str: ...  # ISO week, "2026-W48"
    @property
    def subject(self) -> str: ...
    @property
    def text(self) -> str: ...  # holds every number: nothing is only in a picture
    @property
    def html(self) -> str: ...  # references each image as src="cid:<cid>"
    @property
    def images(self) -> Sequence[InlineImage]: ...
    @property
    def data(self) -> Mapping[str, Any]: ...  # the `digest.weekly` webhook's `data`


@dataclass(frozen=True)
class DeliveryResult:
    """Outcome of one attempt: `ok`, or a failure the channel judged `retryable` or permanent.

    `status` is the server's answer where there was one (`SMTP 250`, `HTTP 204`, `HTTP 500`):
    what `test-notify` shows; None when no answer came (refused, timed out, a file written).
    """

    ok: bool
    retryable: bool = False
    reason: str = ""
    retry_after_s: float | None = None
    disable_endpoint: bool = False
    status: str | None = None


@dataclass(frozen=True)
class Target:
    """One destination: the stored channel name (`kind` or `kind:<id>`) and its recipients."""

    channel: str
    recipients: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return channel_kind(self.channel)


def no_chart() -> Png | None:
    return None


@dataclass(frozen=True)
class Notice:
    """One notification to render at enqueue, about an alert or a weekly digest.

    `payload` is the webhook body's `data`: the alert's payload, or the digest's `data`.
    `digest` is set exactly when `kind` is `digest` or `squad-digest`. `chart` draws the alert's
    chart on first call, once for every target of one enqueue (None: no chart, or it failed).
    """

    payload: Mapping[str, Any]
    athlete_id: str | None  # None for the squad digest
    kind: NoticeKind
    target: Target
    event_id: str  # stable across retries: Message-ID, webhook-id, .eml file name
    created_at: datetime
    digest: DigestContent | None = None
    chart: Callable[[], Png | None] = no_chart


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

    def targets(
        self, config: ServiceConfig, athlete_id: str | None, kind: NoticeKind
    ) -> list[Target]:
        """Where a notice of `kind` about this athlete (None: the squad) goes; may be empty."""
        ...

    def render(self, config: ServiceConfig, notice: Notice) -> bytes:
        """The bytes stored in the outbox at enqueue and sent unchanged on every attempt."""
        ...

    def send(self, config: ServiceConfig, message: Outgoing) -> DeliveryResult:
        """One attempt; the channel alone judges whether a failure is worth retrying."""
        ...
