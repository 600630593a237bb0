"""Keeping a URL's secrets out of log lines and stored reasons, whoever writes them.

An Apprise URL holds its token anywhere: in the user and password, the host (`tgram://BOT_ID:
TOKEN/...`), the path (`json://host/hooks/TOKEN`), the query (`?token=...`) or the topic that
is itself the secret (`ntfy://ntfy.sh/TOPIC`). Apprise's privacy form hides only what each
plugin calls private, and Apprise, urllib3 and the plugins log URLs, paths, payloads and
headers at DEBUG. So while a URL is in use every log record created in the process is
scrubbed of that URL's parts (a LogRecord factory: it sees every logger, any library).
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus

REDACTED = "<redacted>"
# what a record says when scrubbing it failed: fail closed, never the unscrubbed text
UNFORMATTABLE = "<log message could not be formatted>"
# shorter parts are not tokens ("v1", "yes", a chat id's tail) and would maul every message
MIN_FRAGMENT_CHARS = 4
# a part of lowercase letters alone this short is a word ("hooks", "coach"), not a token
WORD_MIN_CHARS = 6
# words URLs are made of that are never the secret, at any length: scrubbing them would hide
# them from every log line of every thread while a push is sent
COMMON_URL_WORDS = frozenset({
    "admin", "alert", "alerts", "api", "athlete", "athletes", "bot", "channel", "channels",
    "chat", "coach", "default", "event", "events", "general", "health", "hook", "hooks", "host",
    "incoming", "json", "localhost", "message", "messages", "notification", "notifications",
    "notify", "path", "post", "push", "room", "rooms", "runner", "runners", "send", "service",
    "services", "squad", "status", "strideguard", "team", "topic", "topics", "trigger",
    "user", "users", "webhook", "webhooks",
})
# Apprise's own URL parameters: their values are settings, not secrets
PUBLIC_PARAMS = frozenset({
    "format", "overflow", "emojis", "tz", "store", "retry", "wait", "optional", "cto", "rto",
    "verify", "method", "priority", "mode", "image", "avatar", "auth", "lang", "detect",
    "silent", "preview", "content", "mdv", "album", "tags",
})
_URL_RE = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*)://\S+")
_WORD_RE = re.compile(r"[a-z]+")


def secret_fragments(url: str) -> tuple[str, ...]:
    """Every part of `url` that may be secret, in each form a log line may show it (raw,
    percent-decoded, percent- and form-encoded as requests sends a query value, and the
    base64 `user:password` of a Basic auth header), longest first.

    Kept out: the scheme, a dotted host name or IP address (a server, not a token), a numeric
    port, query keys, the values of Apprise's own settings (`format=text`), and words: a part
    shorter than MIN_FRAGMENT_CHARS, lowercase letters alone shorter than WORD_MIN_CHARS, or one
    of COMMON_URL_WORDS (`/hooks/`, `#general`). A token is long, mixed or has digits, so it
    never falls under these; a topic or room that is a plain word was never a secret anyway.
    """
    rest = url.partition("://")[2] or url
    # Apprise splits at the first `?` wherever it is: `json://host/hooks/#room?-apikey=KEY`
    # sends `#room` in the path and `apikey=KEY` as a parameter. So the query is what follows
    # the first `?`, and a `#` or `?` inside it may start another pair.
    before_query, _, query = rest.partition("?")
    body, _, anchor = before_query.partition("#")
    netloc, _, path = body.partition("/")
    userinfo, at, hostport = netloc.rpartition("@")
    parts = [url, rest, anchor, *anchor.split("/"), *path.split("/")]
    user, _, password = userinfo.partition(":")
    if at:
        parts.extend((user, password, _basic_auth(unquote(userinfo))))
    if not hostport.startswith("["):  # an IPv6 literal is an address, never a token
        host, _, port = hostport.partition(":")
        if "." not in host and host.lower() != "localhost":
            parts.append(host)  # a dotless host is a bot id or key: tgram://ID:TOKEN
        if not port.isdigit():
            parts.append(port)
    values: list[str] = []
    users, passwords = {user}, {password}
    for pair in {*re.split(r"[&;]", query), *re.split(r"[&;#?]", query)}:
        key, equals, value = pair.partition("=")
        name = unquote(key).lstrip("+-:").lower()
        if name not in PUBLIC_PARAMS:
            values.append(value if equals else key)  # a bare piece (`#room`) may be a name
        if name == "user":
            users.add(value)
            passwords.add(user)  # `PASSWORD@host?user=name`: Apprise's reading
        elif name in ("pass", "password"):
            passwords.add(value)
    # credentials from `?user=` / `?pass=` go out in a Basic auth header too
    parts.extend(_basic_auth(f"{unquote(u)}:{unquote(p)}") for u in users for p in passwords
                 if u and p and (u, p) != (user, password))
    variants = {form for part in parts for form in _encodings(part)}
    variants.update(form for value in values for form in (*_encodings(value),
                                                          unquote_plus(value)))
    return tuple(sorted((v for v in variants if _may_be_secret(v)), key=lambda v: (-len(v), v)))


def _encodings(part: str) -> tuple[str, ...]:
    """`part` as written, decoded, and encoded as a path (quote) or a query value (requests
    uses quote_plus)."""
    plain = unquote(part)
    return part, plain, quote(plain, safe=""), quote_plus(plain)


def _basic_auth(credentials: str) -> str:
    return base64.b64encode(credentials.encode("utf-8")).decode("ascii")


def _may_be_secret(fragment: str) -> bool:
    """Not a word: see secret_fragments."""
    if len(fragment) < MIN_FRAGMENT_CHARS or fragment.lower() in COMMON_URL_WORDS:
        return False
    return not (len(fragment) < WORD_MIN_CHARS and _WORD_RE.fullmatch(fragment))


def scrub(text: str, fragments: Iterable[str], *, urls: bool = False) -> str:
    """`text` with every fragment replaced (longest first); `urls` also hides any `x://...`.

    Never inside a `<redacted>` already there: a fragment such as `dact` would maul it."""
    for fragment in fragments:
        if fragment in text:
            text = REDACTED.join(piece.replace(fragment, REDACTED)
                                 for piece in text.split(REDACTED))
    if urls:
        text = _URL_RE.sub(lambda m: f"{m.group(1)}://{REDACTED}", text)
    return text


class _ScrubbingFactory:
    """The LogRecord factory installed: the previous one's record, scrubbed of the secrets of
    every URL in use. It never raises for a record it cannot scrub: it fails closed."""

    def __init__(self, scrubber: _LogScrubber, previous: Callable[..., logging.LogRecord]):
        self.scrubber = scrubber
        self.previous = previous

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        fragments = self.scrubber.fragments
        if fragments:
            try:
                scrub_record(record, fragments)
            except Exception:  # e.g. a msg object whose __str__ raises, from any thread
                record.msg, record.args = UNFORMATTABLE, None
                record.exc_info = record.exc_text = record.stack_info = None
        return record


class _LogScrubber:
    """Scrubs the secrets of every URL in use (any thread) from each new record: its message,
    its traceback and its stack, through the record factory, installed on first use and again
    whenever someone else's factory has replaced it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[int, tuple[str, ...]] = {}
        self.fragments: tuple[str, ...] = ()  # replaced whole: readers need no lock
        self._next_key = 0

    @contextmanager
    def hiding(self, fragments: tuple[str, ...]) -> Iterator[None]:
        with self._lock:
            current = logging.getLogRecordFactory()
            if not (isinstance(current, _ScrubbingFactory) and current.scrubber is self):
                logging.setLogRecordFactory(_ScrubbingFactory(self, current))
            key, self._next_key = self._next_key, self._next_key + 1
            self._active[key] = fragments
            self._refresh()
        try:
            yield
        finally:
            with self._lock:
                del self._active[key]
                self._refresh()

    def _refresh(self) -> None:
        every = {fragment for fragments in self._active.values() for fragment in fragments}
        self.fragments = tuple(sorted(every, key=lambda v: (-len(v), v)))


def scrub_record(record: logging.LogRecord, fragments: tuple[str, ...]) -> None:
    """Scrub the record's message (formatted now), traceback and stack. A record with nothing
    to hide keeps its msg, args and exc_info for the handlers; Apprise's own lose every URL."""
    urls = record.name == "apprise" or record.name.startswith("apprise.")
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: keep its text, never the arguments
        message = str(record.msg)
        record.args = None
    clean = scrub(message, fragments, urls=urls)
    if clean != message or record.args is None:
        record.msg, record.args = clean, None
    if record.exc_info:
        trace = logging.Formatter().formatException(record.exc_info)
        clean_trace = scrub(trace, fragments, urls=urls)
        if clean_trace != trace:
            # exc_text is what formatters print; the exception object itself would still leak
            record.exc_text, record.exc_info = clean_trace, None
    if record.stack_info:
        record.stack_info = scrub(record.stack_info, fragments, urls=urls)


_SCRUBBER = _LogScrubber()


def hidden_in_logs(fragments: tuple[str, ...]) -> AbstractContextManager[None]:
    """`with hidden_in_logs(secret_fragments(url)):` no log record created inside (by any
    logger, in any thread) carries those fragments."""
    return _SCRUBBER.hiding(fragments)
