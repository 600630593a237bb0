"""A notice as a phone notification: a title and a few short plain-text lines, stored at enqueue.

What a push says (DESIGN §5: every message says it is not medical advice):
- a firing alert: the summary, "see a professional" when the rule's advice has it, the first
  other advice line (its title and first sentence), the disclaimer;
- a runner's weekly digest and a runner's notice: their one-line subject and first point;
- the squad digest: its subject and who needs a look;
- `strideguard test-notify`'s test: that it is a test, and whose alerts reach this phone.
Every push ends with the disclaimer: the payload's own (the rule set's advice library), else,
for the squad digest's data and rows queued before payloads carried one, the shipped one.
The body stays under Pushover's 1,024 characters, the tightest of the common services.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from config.locate import SHIPPED_DIR
from config.yaml_tree import load_yaml_tree
from notify.channel import Notice

log = logging.getLogger(__name__)

PROFESSIONAL_ADVICE_KEY = "see_a_professional"  # config/advice.yaml: the rule's advice key
TITLE_MAX_CHARS = 100
LINE_MAX_CHARS = 280
DISCLAIMER_MAX_CHARS = 150
BODY_MAX_CHARS = 1000
# the disclaimer lives in config/advice.yaml (rules/ loads it into payloads; notify may not
# import rules, so it reads the shipped file itself); this only if that cannot be read
SHIPPED_ADVICE = SHIPPED_DIR / "advice.yaml"
FALLBACK_DISCLAIMER = "This is not medical advice and no alert can promise to prevent injury."
NEED_A_LOOK = ("critical", "warn")  # open alerts a coach should act on (as the squad digest)
# Apprise's notify types: the icon or colour a service shows
NOTIFY_TYPE = {"critical": "failure", "warn": "warning", "info": "info"}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])")


@dataclass(frozen=True)
class PushText:
    """One notification: `notify_type` is Apprise's `info`, `success`, `warning` or `failure`."""

    title: str
    body: str
    notify_type: str = "info"

    def to_bytes(self) -> bytes:
        """The outbox payload: JSON, so a retry sends exactly what was rendered."""
        data = {"title": self.title, "body": self.body, "type": self.notify_type}
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_bytes(cls, payload: bytes) -> PushText:
        """Read a stored payload back; ValueError (JSON or a missing field) if it is not one."""
        data = json.loads(payload.decode("utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("body"), str):
            raise ValueError("not a stored push notification")
        return cls(str(data.get("title") or ""), data["body"], str(data.get("type") or "info"))


def render_push(notice: Notice) -> PushText:
    """The push of any notice: an alert, a runner's digest or notice, or the squad digest."""
    if notice.digest is not None:
        if notice.kind == "squad-digest":
            return squad_digest_push(notice.digest.subject, notice.digest.data)
        return digest_push(notice.digest.subject, notice.digest.data)
    if notice.kind == "notice":
        return notice_push(notice.payload)
    if notice.kind == "test":
        return push_for_test(notice.payload)
    return alert_push(notice.payload)


def alert_push(alert: Mapping[str, Any]) -> PushText:
    """Title `StrideGuard warn: Ana`; the summary, the professional line, one advice line."""
    name = str(alert.get("athlete_name") or alert.get("athlete") or "")
    severity = str(alert.get("severity") or "")
    blocks = [b for b in alert.get("advice_blocks") or () if isinstance(b, Mapping)]
    lines = [str(alert.get("summary") or alert.get("description") or alert.get("rule"))]
    if needs_a_professional(blocks):
        # the safety line before any other advice: it is the one a runner must not miss
        lines.append(first_sentence(str(alert.get("see_a_professional") or ""))
                     or _block_line(_professional_block(blocks)))
    other = next((b for b in blocks if b.get("key") != PROFESSIONAL_ADVICE_KEY), None)
    if other is not None:
        lines.append(_block_line(other))
    elif not blocks and alert.get("advice"):  # a payload without blocks: its first text
        lines.append(first_sentence(str(alert["advice"][0])))
    return PushText(shorten(f"StrideGuard {severity}: {name}", TITLE_MAX_CHARS),
                    _body(lines, alert.get("disclaimer")), NOTIFY_TYPE.get(severity, "info"))


def digest_push(subject: str, data: Mapping[str, Any]) -> PushText:
    """A runner's week: the digest's subject line and the suggested next step."""
    lines = [subject]
    suggestion = data.get("suggestion")
    if isinstance(suggestion, Mapping) and suggestion.get("title"):
        text = first_sentence(str(suggestion.get("text") or ""))
        lines.append(f"Next: {suggestion['title']}" + (f": {text}" if text else ""))
    return PushText(f"StrideGuard: week {data.get('week', '')}".strip(),
                    _body(lines, data.get("disclaimer")))


def squad_digest_push(subject: str, data: Mapping[str, Any]) -> PushText:
    """The coach's week: the squad digest's subject and the runners who need a look."""
    lines = [subject]
    look = [f"{a.get('athlete_name') or a.get('athlete')} ({a['open_severity']})"
            for a in data.get("athletes") or () if isinstance(a, Mapping)
            and a.get("open_severity") in NEED_A_LOOK]
    if look:
        lines.append("Needs a look: " + ", ".join(look))
    return PushText(f"StrideGuard squad: week {data.get('week', '')}".strip(),
                    _body(lines, data.get("disclaimer")))


def notice_push(notice: Mapping[str, Any]) -> PushText:
    """A short message that is not an alert (a silence ends tomorrow): subject, first line."""
    subject = str(notice.get("subject") or "StrideGuard notice")
    title = "StrideGuard: " + subject.removeprefix("[StrideGuard]").strip()
    lines: Sequence[Any] = notice.get("lines") or ()
    first = [str(lines[0])] if lines else []
    return PushText(shorten(title, TITLE_MAX_CHARS), _body(first, notice.get("disclaimer")))


def push_for_test(test: Mapping[str, Any]) -> PushText:
    """`strideguard test-notify`'s push: a title and a line that say it is a test."""
    whom = test.get("athlete_name") or test.get("athlete")
    title = "StrideGuard test" + (f": {whom}" if whom else "")
    lines = ["This is a test message from StrideGuard.", str(test.get("summary") or "")]
    return PushText(shorten(title, TITLE_MAX_CHARS), _body(lines, test.get("disclaimer")))


def needs_a_professional(blocks: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the rule's advice includes seeing a physiotherapist or doctor."""
    return any(block.get("key") == PROFESSIONAL_ADVICE_KEY for block in blocks)


def first_sentence(text: str) -> str:
    """The text up to its first full stop followed by a new sentence, on one line."""
    flat = " ".join(text.split())
    return _SENTENCE_END.split(flat, maxsplit=1)[0] if flat else ""


def shorten(text: str, max_chars: int) -> str:
    """One line of at most `max_chars`, cut at a word boundary with an ellipsis."""
    flat = " ".join(text.split())
    if len(flat) <= max_chars:
        return flat
    cut = flat[: max_chars - 1]
    if " " in cut[max_chars // 2:]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + "…"


def _professional_block(blocks: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    return next(b for b in blocks if b.get("key") == PROFESSIONAL_ADVICE_KEY)


def _block_line(block: Mapping[str, Any]) -> str:
    """`Title: first sentence of the text` of one advice block."""
    title, text = str(block.get("title") or ""), first_sentence(str(block.get("text") or ""))
    return f"{title}: {text}" if title and text else title or text


def _body(lines: Sequence[str], disclaimer: object) -> str:
    """Non-empty lines, each shortened, then the disclaimer (the shipped one if `disclaimer` is
    not a text); within BODY_MAX_CHARS, which cuts the lines, never the disclaimer."""
    given = isinstance(disclaimer, str) and disclaimer.strip()
    note = shorten(disclaimer if given else shipped_disclaimer(), DISCLAIMER_MAX_CHARS)
    text = "\n".join(shorten(line, LINE_MAX_CHARS) for line in lines if line and line.strip())
    # the line limits keep an alert within bounds; this guards any future longer line
    room = BODY_MAX_CHARS - len(note) - 1
    if len(text) > room:
        text = text[: room - 1].rstrip() + "…"
    return f"{text}\n{note}" if text else note


@cache
def shipped_disclaimer() -> str:
    """The `disclaimer` of the shipped config/advice.yaml (read once)."""
    try:
        text = load_yaml_tree(SHIPPED_ADVICE)["disclaimer"]
    except Exception as exc:  # a broken install must still not send a push without one
        log.warning("cannot read the disclaimer of %s (%s): using the built-in one",
                    SHIPPED_ADVICE, exc)
        return FALLBACK_DISCLAIMER
    return " ".join(str(text).split()) or FALLBACK_DISCLAIMER
