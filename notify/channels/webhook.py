"""Webhook channel: alerts and digests as JSON, one signed POST (Standard Webhooks v1) each."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from email.utils import parsedate_to_datetime
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from config.schema import ServiceConfig, WebhookConfig
from notify.channel import DeliveryResult, Notice, NoticeKind, Outgoing, Target
from notify.redact import REDACTED, hidden_in_logs, scrub, secret_fragments

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
REASON_BODY_CHARS = 200
# Read at most this much of a response: enough for the reason, bounded against huge bodies.
_BODY_PEEK_BYTES = 4096
# 408 Request Timeout, 425 Too Early, 429 Too Many Requests; every 5xx is retryable too.
_RETRYABLE_STATUS = frozenset({408, 425, 429})
# how a 410 answer's reason starts (the receiver asked to be sent nothing more): the stored
# `last_error` of a row that died on it, which `outbox retry --dead` leaves dead (notify.requeue)
GONE_REASON_PREFIX = "gone: HTTP 410"


class WebhookChannel:
    """Alerts (firing and resolved) and runners' digests to every configured webhook, one
    target per URL; the squad digest is the coach's email, not an event."""

    kind = "webhook"

    def configured(self, config: ServiceConfig) -> bool:
        return bool(config.notify.webhooks)

    def targets(
        self, config: ServiceConfig, athlete_id: str | None, kind: NoticeKind
    ) -> list[Target]:
        if kind in ("squad-digest", "notice"):  # DESIGN §2.3 has no event type for these
            return []
        return [Target(channel_name(hook)) for hook in config.notify.webhooks]

    def render(self, config: ServiceConfig, notice: Notice) -> bytes:
        if notice.digest is not None:
            return render_event("digest.weekly", notice.digest.data, notice.created_at)
        return render_body(notice.payload, notice.kind, notice.created_at)

    def send(self, config: ServiceConfig, message: Outgoing) -> DeliveryResult:
        for hook in config.notify.webhooks:
            if channel_name(hook) == message.channel:
                return post_signed(message.payload, message.event_id, hook)
        return DeliveryResult(ok=False, reason=f"channel {message.channel} is no longer configured")


CHANNEL = WebhookChannel()


def channel_name(hook: WebhookConfig) -> str:
    """A stable stored channel name that does not reveal the URL (it may carry a token)."""
    return "webhook:" + hashlib.sha256(hook.url.encode("utf-8")).hexdigest()[:12]


def render_body(alert: Mapping[str, Any], kind: NoticeKind, event_time: datetime) -> bytes:
    """DESIGN §2.3 body of an alert: `alert.firing` or `alert.resolved`."""
    return render_event(f"alert.{kind}", alert, event_time)


def render_event(event_type: str, data: Mapping[str, Any], event_time: datetime) -> bytes:
    """`{"type", "timestamp", "data"}`, serialised once so the signature covers what is sent."""
    body = {
        "type": event_type,
        "timestamp": event_time.isoformat().replace("+00:00", "Z"),
        "data": data,
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@cache
def user_agent() -> str:
    """`strideguard/<installed version>`, or `strideguard/dev` when running from a checkout."""
    try:
        return f"strideguard/{version('strideguard')}"
    except PackageNotFoundError:
        return "strideguard/dev"


def signature_key(secret: str) -> bytes:
    """HMAC key of a secret: base64 after `whsec_` (Standard Webhooks), else the UTF-8 bytes."""
    if secret.startswith(SECRET_PREFIX):
        encoded = secret[len(SECRET_PREFIX) :]
        try:
            # Tolerate unpadded base64, as the reference verifier does.
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except binascii.Error:
            # No `from exc`: the chained error could carry the secret into a traceback.
            raise ValueError("webhook secret: text after 'whsec_' is not valid base64") from None
    else:
        key = secret.encode("utf-8")
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def sign(secret: str, event_id: str, timestamp_s: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256(key, "{id}.{ts}." + body)>` over the exact bytes sent."""
    if "." in event_id:
        # The signed content is dot-separated, so a dot in the id would make it ambiguous.
        raise ValueError(f"webhook id must not contain '.': {event_id!r}")
    signed = f"{event_id}.{int(timestamp_s)}.".encode() + body
    digest = hmac.new(signature_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def build_headers(secret: str, event_id: str, timestamp_s: int, body: bytes) -> dict[str, str]:
    """Request headers: content type, user agent, Standard Webhooks trio and Idempotency-Key."""
    return {
        "Content-Type": "application/json",
        "User-Agent": user_agent(),
        "webhook-id": event_id,
        "webhook-timestamp": str(int(timestamp_s)),
        "webhook-signature": sign(secret, event_id, timestamp_s, body),
        "Idempotency-Key": event_id,
    }


def url_label(url: str) -> str:
    """`scheme://host[:port]/…`: which receiver, fit to print. Userinfo, path, query and
    fragment are hidden (`/…`): Svix, Zapier and Discord put their tokens in the path."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return REDACTED
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    hidden = parts.path not in ("", "/") or parts.query or parts.fragment
    return urlunsplit((parts.scheme, netloc, "/…" if hidden else parts.path, "", ""))


def secret_parts(hook: WebhookConfig) -> tuple[str, ...]:
    """What must never be printed or logged of a webhook, longest first: its secret (with and
    without `whsec_`) and every part of its URL that may be a token (notify.redact: the user
    and password, each alone, path segments, query values), but not its host, which names
    the receiver (`receiver:8080` in a compose network, where Apprise's rules would hide it)."""
    secret = hook.secret.get_secret_value()
    try:
        host = (urlsplit(hook.url).hostname or "").lower()
    except ValueError:
        host = ""
    found = {secret, secret.removeprefix(SECRET_PREFIX),
             *(part for part in secret_fragments(hook.url) if part.lower() != host)}
    return tuple(sorted(filter(None, found), key=lambda part: (-len(part), part)))


def post_signed(
    body: bytes,
    event_id: str,
    config: WebhookConfig,
    *,
    session: requests.Session | None = None,
    now_s: Callable[[], float] = time.time,
) -> DeliveryResult:
    """POST `body` once to `config.url`, signed with a fresh timestamp, and classify the outcome."""
    secret = config.secret.get_secret_value()
    target = url_label(config.url)
    try:
        headers = build_headers(secret, event_id, int(now_s()), body)
    except ValueError as exc:
        return DeliveryResult(ok=False, reason=f"{target}: cannot sign the webhook: {exc}")
    secrets = secret_parts(config)
    # urllib3 logs the request line (path and query) at DEBUG, requests its URL on errors
    with hidden_in_logs(secrets):
        result = _scrubbed(_attempt(body, headers, config, session, now_s, target),
                           config.url, secrets, target)
        log.debug("webhook %s id=%s: ok=%s %s", target, event_id, result.ok, result.reason)
    return result


def _attempt(
    body: bytes,
    headers: dict[str, str],
    config: WebhookConfig,
    session: requests.Session | None,
    now_s: Callable[[], float],
    target: str,
) -> DeliveryResult:
    """One POST and its outcome; a reason that names the receiver starts with `target: `."""
    import requests  # here, not at the top: listing the channels need not load it

    try:
        if session is None:
            with requests.Session() as own_session:
                return _post(own_session, body, headers, config, now_s)
        return _post(session, body, headers, config, now_s)
    except requests.Timeout as exc:
        # Ambiguous: the receiver may have processed it, so the retry reuses the same webhook-id.
        return DeliveryResult(ok=False, retryable=True,
                              reason=f"{target}: timed out: {_root_cause(exc)}")
    except requests.ConnectionError as exc:
        # Includes refused connections, DNS failures, resets and TLS errors on the receiver.
        return DeliveryResult(ok=False, retryable=True, reason=_connection_failure(exc, target))
    except requests.RequestException as exc:
        # Invalid URL, schema or header: retrying cannot help.
        return DeliveryResult(ok=False, reason=f"{target}: request error: {_root_cause(exc)}")


def _post(
    session: requests.Session,
    body: bytes,
    headers: dict[str, str],
    config: WebhookConfig,
    now_s: Callable[[], float],
) -> DeliveryResult:
    response = session.post(
        config.url,
        data=body,
        headers=headers,
        timeout=(config.connect_timeout.total_seconds(), config.read_timeout.total_seconds()),
        allow_redirects=False,
        stream=True,
    )
    try:
        snippet = _body_snippet(response)
        return classify_status(
            response.status_code, snippet, response.headers.get("Retry-After"), now_s()
        )
    finally:
        response.close()


def classify_status(
    status: int, body_snippet: str, retry_after: str | None, now_s: float
) -> DeliveryResult:
    """Map an HTTP status to a DeliveryResult (2xx ok; 408/425/429/5xx retry; 410 disables)."""
    verdict = _judge_status(status, body_snippet, retry_after, now_s)
    return replace(verdict, status=f"HTTP {status}")


def _judge_status(
    status: int, body_snippet: str, retry_after: str | None, now_s: float
) -> DeliveryResult:
    detail = f"HTTP {status}" + (f": {body_snippet}" if body_snippet else "")
    if 200 <= status < 300:
        return DeliveryResult(ok=True, reason=f"HTTP {status}")
    if status in _RETRYABLE_STATUS or 500 <= status < 600:
        return DeliveryResult(
            ok=False,
            retryable=True,
            reason=detail,
            retry_after_s=parse_retry_after(retry_after, now_s),
        )
    if status == 410:
        return DeliveryResult(ok=False, reason=f"gone: {detail}", disable_endpoint=True)
    if 300 <= status < 400:
        return DeliveryResult(ok=False, reason=f"redirect not followed: {detail}")
    if status in (401, 403):
        return DeliveryResult(ok=False, reason=f"authentication rejected: {detail}")
    return DeliveryResult(ok=False, reason=f"rejected: {detail}")


def parse_retry_after(value: str | None, now_s: float) -> float | None:
    """Seconds to wait from a `Retry-After` of delta-seconds or an HTTP-date; None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None  # RFC 9110 dates are GMT; a date without a zone is not one of them
    return max(0.0, when.timestamp() - now_s)


def _body_snippet(response: requests.Response) -> str:
    """First REASON_BODY_CHARS of the body on one line; a failed body read is not a failure."""
    import requests
    import urllib3
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(chunk_size=1024):
            chunks.append(chunk)
            size += len(chunk)
            if size >= _BODY_PEEK_BYTES:
                break
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError):
        pass  # the status line already arrived; that is what we judge
    text = b"".join(chunks).decode("utf-8", errors="replace")
    return " ".join(text.split())[:REASON_BODY_CHARS]


def _connection_failure(exc: BaseException, target: str) -> str:
    """What kept the request from arriving, in an operator's words: the start of the reason."""
    import ssl

    chain = _cause_chain(exc)
    if any(isinstance(cause, ConnectionRefusedError) for cause in chain):
        return f"{target}: connection refused"  # all there is to say
    if any(isinstance(cause, ssl.SSLCertVerificationError) for cause in chain):
        return f"{target}: certificate not trusted: {_root_cause(exc)}"
    return f"{target}: connection error: {_root_cause(exc)}"


def _cause_chain(exc: BaseException) -> list[BaseException]:
    """The exception and what it wraps (requests and urllib3 nest them in `reason`, `args`,
    `__cause__` and `__context__`), bounded: chains can be cyclic."""
    found: list[BaseException] = []
    pending: list[object] = [exc]
    while pending and len(found) < 16:
        cause = pending.pop(0)
        if not isinstance(cause, BaseException) or any(cause is seen for seen in found):
            continue
        found.append(cause)
        args = getattr(cause, "args", ())
        pending.extend([getattr(cause, "reason", None), *args[:1], cause.__cause__,
                        cause.__context__])
    return found


def _root_cause(exc: BaseException) -> str:
    """The innermost useful message: urllib3's MaxRetryError text names the full URL."""
    cause: object = exc
    for _ in range(8):  # bounded: exception chains can be cyclic
        inner = getattr(cause, "reason", None)
        if isinstance(inner, BaseException):
            cause = inner
            continue
        args = getattr(cause, "args", ())
        if args and isinstance(args[0], BaseException):
            cause = args[0]
            continue
        break
    return f"{type(cause).__name__}: {cause}"


def _scrubbed(result: DeliveryResult, url: str, secrets: tuple[str, ...],
              target: str) -> DeliveryResult:
    """The reason without the webhook's secrets (`secret_parts`): a receiver's answer and an
    exception may echo the URL, its password or the secret."""
    reason = scrub(result.reason.replace(url, target), secrets)
    return result if reason == result.reason else replace(result, reason=reason)
