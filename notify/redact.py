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
from urllib.parse import quote, unquote

REDACTED = "<redacted>"
# shorter parts are not tokens ("v1", "yes", a chat id's tail) and would maul every message
MIN_FRAGMENT_CHARS = 4
# Apprise's own URL parameters: their values are settings, not secrets
PUBLIC_PARAMS = frozenset({
    "format", "overflow", "emojis", "tz", "store", "retry", "wait", "optional", "cto", "rto",
    "verify", "method", "priority", "mode", "image", "avatar", "auth", "lang", "detect",
    "silent", "preview", "content", "mdv", "album", "tags",
})
_URL_RE = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*)://\S+")


def secret_fragments(url: str) -> tuple[str, ...]:
    """Every part of `url` that may be secret (raw, percent-decoded and -encoded), longest first.

    Kept out: the scheme, a dotted host name or IP address (a server, not a token), a numeric
    port, query keys and the values of Apprise's own settings (`format=text`).
    """
    rest = url.partition("://")[2] or url
    body, _, anchor = rest.partition("#")
    body, _, query = body.partition("?")
    netloc, _, path = body.partition("/")
    userinfo, at, hostport = netloc.rpartition("@")
    parts = [url, rest, anchor, *path.split("/")]
    if at:
        parts.extend(userinfo.split(":", 1))
        parts.append(base64.b64encode(unquote(userinfo).encode("utf-8")).decode("ascii"))
    if not hostport.startswith("["):  # an IPv6 literal is an address, never a token
        host, _, port = hostport.partition(":")
        if "." not in host and host.lower() != "localhost":
            parts.append(host)  # a dotless host is a bot id or key: tgram://ID:TOKEN
        if not port.isdigit():
            parts.append(port)
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if unquote(key).lstrip("+-:").lower() not in PUBLIC_PARAMS:
            parts.append(value)
    variants = {form for part in parts for form in (part, unquote(part), quote(unquote(part),
                                                                          safe=""))}
    return tuple(sorted((v for v in variants if len(v) >= MIN_FRAGMENT_CHARS),
                        key=lambda v: (-len(v), v)))


def scrub(text: str, fragments: Iterable[str], *, urls: bool = False) -> str:
    """`text` with every fragment replaced (longest first); `urls` also hides any `x://...`."""
    for fragment in fragments:
        if fragment in text:
            text = text.replace(fragment, REDACTED)
    if urls:
        text = _URL_RE.sub(lambda m: f"{m.group(1)}://{REDACTED}", text)
    return text


class _LogScrubber:
    """A LogRecord factory that scrubs the secrets of every URL in use (any thread) from each
    new record: its message, its traceback and its stack. Installed once, on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[int, tuple[str, ...]] = {}
        self._fragments: tuple[str, ...] = ()  # replaced whole: readers need no lock
        self._next_key = 0
        self._installed = False

    @contextmanager
    def hiding(self, fragments: tuple[str, ...]) -> Iterator[None]:
        with self._lock:
            if not self._installed:
                self._install(logging.getLogRecordFactory())
            key, self._next_key = self._next_key, self._next_key + 1
            self._active[key] = fragments
            self._refresh()
        try:
            yield
        finally:
            with self._lock:
                del self._active[key]
                self._refresh()

    def _install(self, previous: Callable[..., logging.LogRecord]) -> None:
        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            fragments = self._fragments
            if fragments:
                scrub_record(record, fragments)
            return record

        logging.setLogRecordFactory(factory)
        self._installed = True

    def _refresh(self) -> None:
        every = {fragment for fragments in self._active.values() for fragment in fragments}
        self._fragments = tuple(sorted(every, key=lambda v: (-len(v), v)))


def scrub_record(record: logging.LogRecord, fragments: tuple[str, ...]) -> None:
    """Format the record's message now and scrub it (Apprise's own records lose every URL)."""
    urls = record.name == "apprise" or record.name.startswith("apprise.")
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: keep its text, drop the arguments
        message = str(record.msg)
    clean = scrub(message, fragments, urls=urls)
    if clean != message or record.args:
        record.msg, record.args = clean, None
    if record.exc_info:
        trace = logging.Formatter().formatException(record.exc_info)
        # exc_text is what formatters print; the exception object itself could still leak
        record.exc_text, record.exc_info = scrub(trace, fragments, urls=urls), None
    if record.stack_info:
        record.stack_info = scrub(record.stack_info, fragments, urls=urls)


_SCRUBBER = _LogScrubber()


def hidden_in_logs(fragments: tuple[str, ...]) -> AbstractContextManager[None]:
    """`with hidden_in_logs(secret_fragments(url)):` no log record created inside (by any
    logger, in any thread) carries those fragments."""
    return _SCRUBBER.hiding(fragments)
