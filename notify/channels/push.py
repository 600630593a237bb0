"""Push channel: short notifications to phones through Apprise (ntfy, Telegram, Signal, Pushover,
Discord, Slack, Matrix, ... one URL each), one outbox row per URL.

Apprise URLs are secrets: they are never stored (a row names its URL by a hash), printed or
logged; while one is in use every log record is scrubbed of it (notify.redact). Apprise is
imported only to send or to check a URL, so `--help` and a config without push stay fast.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from config.schema import ServiceConfig
from config.yaml_tree import Loc, Problem, format_key_path, load_yaml_tree, node_position
from notify.channel import DeliveryResult, Notice, NoticeKind, Outgoing, Target
from notify.push_text import PushText, render_push, shorten
from notify.redact import REDACTED, hidden_in_logs, scrub, secret_fragments

log = logging.getLogger(__name__)

# Apprise's default is 4 s each (`?cto=` / `?rto=` in a URL change it): a slow service must not
# hold the dispatcher, so a URL may lower them but not raise them past these
CONNECT_TIMEOUT_MAX_S = 10.0
READ_TIMEOUT_MAX_S = 30.0
# A plugin may sleep inside one send: Discord until its 429's X-RateLimit-Reset (days, with a
# skewed clock), Matrix for retry_after_ms. The dispatcher must not stall, so each such wait is
# cut to THROTTLE_WAIT_MAX_S and all of one send's to THROTTLE_BUDGET_S; the outbox waits the
# rest (retry_after_s). One send then lasts at most its requests' timeouts plus the budget.
THROTTLE_WAIT_MAX_S = 5.0
THROTTLE_BUDGET_S = 10.0
REASON_MAX_CHARS = 500
REASON_LOG_LINES = 3  # Apprise's last warnings of a failed send: enough to say why
APPRISE_WIKI = "https://github.com/caronc/apprise/wiki"
# "Unparseable URL <redacted>", "Could not load X URL: x://<redacted>": the tail, not the reason
_HIDDEN_URL_TAIL_RE = re.compile(r"[\s:]*(?:\S+://)?" + re.escape(REDACTED) + r"\W*$")
# Apprise's plugins end a failed request's warning with the status: "..., error=401."
_STATUS_RE = re.compile(r"\berror=(\d{3})\b")
# statuses a later attempt may get past; any other 4xx (a revoked token, an unknown topic)
# will be answered the same way for the 48 hours of retries
_RETRYABLE_4XX = frozenset({408, 425, 429})


class PushChannel:
    """Firing alerts (and tests) to the runner's own URLs and the coach's; a runner's digest and
    notices to the runner's own URLs; the squad digest to the coach's. A resolved alert is not
    pushed (as with email: a phone need not buzz because a risk has passed)."""

    kind = "push"

    def configured(self, config: ServiceConfig) -> bool:
        return bool(configured_urls(config))

    def targets(
        self, config: ServiceConfig, athlete_id: str | None, kind: NoticeKind
    ) -> list[Target]:
        athlete = config.athlete(athlete_id) if athlete_id is not None else None
        own = [url.get_secret_value() for url in athlete.apprise] if athlete else []
        coach = [url.get_secret_value() for url in config.notify.apprise]
        urls = {"firing": own + coach, "digest": own, "notice": own,
                "squad-digest": coach, "test": own + coach}.get(kind, [])
        # one row per distinct URL: the coach's phone may also be a runner's
        return [Target(name) for name in dict.fromkeys(channel_name(url) for url in urls)]

    def render(self, config: ServiceConfig, notice: Notice) -> bytes:
        return render_push(notice).to_bytes()

    def send(self, config: ServiceConfig, message: Outgoing) -> DeliveryResult:
        url = next((url for _loc, url in configured_urls(config)
                    if channel_name(url) == message.channel), None)
        if url is None:
            return DeliveryResult(ok=False, reason=f"channel {message.channel} is no longer "
                                                   "configured")
        try:
            push = PushText.from_bytes(message.payload)
        except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            return DeliveryResult(ok=False, reason="the stored push is not readable")
        return send_push(url, push)


CHANNEL = PushChannel()


def channel_name(url: str) -> str:
    """`push:<12 hex>`: a stable stored name that does not reveal the URL."""
    return "push:" + hashlib.sha256(url.encode("utf-8")).hexdigest()[:12]


def configured_urls(config: ServiceConfig) -> list[tuple[Loc, str]]:
    """Every push URL with its place in the config: `notify.apprise[i]`, then each runner's."""
    found: list[tuple[Loc, str]] = [(("notify", "apprise", index), url.get_secret_value())
                                    for index, url in enumerate(config.notify.apprise)]
    for athlete_index, athlete in enumerate(config.athletes):
        found.extend((("athletes", athlete_index, "apprise", index), url.get_secret_value())
                     for index, url in enumerate(athlete.apprise))
    return found


def send_push(url: str, push: PushText) -> DeliveryResult:
    """One attempt through Apprise, with Apprise's scrubbed reason on failure: permanent when
    the service answered a 4xx other than 408/425/429, else retryable. Nothing logged
    meanwhile, by any logger in any thread, carries the URL's secrets."""
    fragments = secret_fragments(url)
    with hidden_in_logs(fragments):
        result = _attempt(url, push)
        reason = shorten(scrub(result.reason, fragments), REASON_MAX_CHARS)
        result = replace(result, reason=reason)
        log.debug("push %s: ok=%s retryable=%s %s", channel_name(url), result.ok,
                  result.retryable, result.reason)
    return result


def _attempt(url: str, push: PushText) -> DeliveryResult:
    with _apprise_warnings() as warnings:
        try:
            import apprise  # here: the registry and check-config without push never load it

            plugin = load_plugin(apprise, url)
            if plugin is None:
                return DeliveryResult(ok=False, reason=_cannot_load(url, warnings))
            throttle = plugin.throttle = CappedThrottle(plugin.throttle)
            notify_type = getattr(apprise.NotifyType, push.notify_type.upper(),
                                  apprise.NotifyType.INFO)
            # the plugin's own notify: one pass. Apprise.notify would retry on `?retry=N`
            # within this send; the outbox retries instead, with its backoff.
            ok = plugin.notify(body=push.body, title=push.title, notify_type=notify_type,
                               body_format=apprise.NotifyFormat.TEXT)
        except Exception as exc:  # a plugin bug or a missing library: try again later
            return DeliveryResult(ok=False, retryable=True, reason=_exception_text(exc))
    service = getattr(plugin, "service_name", None) or url.partition("://")[0]
    if ok:
        return DeliveryResult(ok=True)
    said = "; ".join(warnings[-REASON_LOG_LINES:]) or "Apprise reported that it failed"
    statuses = {int(code) for warning in warnings for code in _STATUS_RE.findall(warning)}
    permanent = bool(statuses) and all(
        400 <= status < 500 and status not in _RETRYABLE_4XX for status in statuses)
    # the last status named is the answer that ended the send (Apprise does not tell us the
    # status of a success)
    last = next((code for warning in reversed(warnings)
                 for code in reversed(_STATUS_RE.findall(warning))), None)
    return DeliveryResult(ok=False, retryable=not permanent, reason=f"{service}: {said}",
                          retry_after_s=throttle.cut_wait_s,
                          status=f"HTTP {last}" if last else None)


class CappedThrottle:
    """Wraps a plugin's `throttle(last_io=None, wait=None)`: each forced wait within
    THROTTLE_WAIT_MAX_S and all of them within THROTTLE_BUDGET_S. `cut_wait_s` is the longest
    wait it had to cut (None: none), for the outbox to wait instead."""

    def __init__(self, throttle: Callable[..., Any]) -> None:
        self._throttle = throttle
        self.spent_s = 0.0
        self.cut_wait_s: float | None = None

    def __call__(self, last_io: Any = None, wait: float | None = None, **kwargs: Any) -> Any:
        if wait is not None:
            allowed_s = max(0.0, min(THROTTLE_WAIT_MAX_S, THROTTLE_BUDGET_S - self.spent_s))
            if wait > allowed_s:
                self.cut_wait_s = max(wait, self.cut_wait_s or 0.0)
                wait = allowed_s
            self.spent_s += wait
        return self._throttle(last_io=last_io, wait=wait, **kwargs)


@cache
def _asset(apprise: ModuleType) -> Any:
    return apprise.AppriseAsset(app_id="StrideGuard", app_desc="StrideGuard")


def load_plugin(apprise: ModuleType, url: str) -> Any:
    """Apprise's plugin for `url`, within our timeouts; None if it cannot load the URL
    (unknown scheme, malformed token, missing library). `?retry=N` needs nothing here: only
    Apprise.notify reads it, and the channel calls the plugin's notify, one pass."""
    plugin = apprise.Apprise.instantiate(url, asset=_asset(apprise))
    if plugin is None:
        return None
    for name, cap_s in (("socket_connect_timeout", CONNECT_TIMEOUT_MAX_S),
                        ("socket_read_timeout", READ_TIMEOUT_MAX_S)):
        value = getattr(plugin, name, None)
        if isinstance(value, int | float) and value > cap_s:
            setattr(plugin, name, cap_s)
    return plugin


class _ThreadWarnings(logging.Handler):
    """Apprise's warnings and errors from this thread: why a send failed, in its words."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(" ".join(record.getMessage().split()))


@contextmanager
def _apprise_warnings(*, quiet: bool = False) -> Iterator[list[str]]:
    """Collect Apprise's warnings meanwhile; `quiet` also keeps them off StrideGuard's log (a
    check reports them itself)."""
    apprise_log = logging.getLogger("apprise")
    handler = _ThreadWarnings()
    propagate = apprise_log.propagate
    apprise_log.addHandler(handler)
    if quiet:
        apprise_log.propagate = False
    try:
        yield handler.messages
    finally:
        apprise_log.removeHandler(handler)
        if quiet:
            apprise_log.propagate = propagate


def _exception_text(exc: BaseException) -> str:
    """`Type: message` with any URL in it hidden (the secrets go in `send_push`)."""
    return scrub(f"{type(exc).__name__}: {exc}", (), urls=True)


def _cannot_load(url: str, warnings: list[str]) -> str:
    """Why Apprise cannot load a URL, naming nothing of it but its scheme (Apprise's warnings
    come with their URLs already hidden: notify.redact)."""
    said = "; ".join(_HIDDEN_URL_TAIL_RE.sub("", w).rstrip(" :.") for w in warnings[-2:])
    scheme = url.partition("://")[0]
    return f"Apprise cannot load this {scheme}:// URL" + (f" ({said})" if said else "")


def push_url_problems(config: ServiceConfig, config_path: Path | None) -> list[str]:
    """`file:line:col: notify.apprise[0]: problem` for each URL Apprise cannot load (for
    check-config); never the URL. Imports Apprise only when some URL is configured."""
    urls = configured_urls(config)
    if not urls:
        return []
    import apprise

    problems: list[tuple[Loc, str]] = []
    for loc, url in urls:
        fragments = secret_fragments(url)
        with hidden_in_logs(fragments), _apprise_warnings(quiet=True) as warnings:
            try:
                plugin = load_plugin(apprise, url)
            except Exception as exc:  # a plugin that raises instead of returning None
                plugin = None
                warnings.append(_exception_text(exc))
            if plugin is None:
                scheme = url.partition("://")[0]
                why = scrub(_cannot_load(url, warnings), fragments)
                problems.append((loc, f"{why}; see {APPRISE_WIKI} for the {scheme}:// form"))
    if not problems or config_path is None:
        return [f"{format_key_path(loc)}: {why}" for loc, why in problems]
    tree = load_yaml_tree(config_path)
    return [Problem(*node_position(tree, loc), format_key_path(loc), why).render(config_path)
            for loc, why in problems]
