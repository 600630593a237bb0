"""An alert as an RFC 5322 message: subject, text + HTML bodies, threading headers, stored bytes."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from notify.channel import NoticeKind

if TYPE_CHECKING:
    from jinja2 import Environment

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "config" / "templates"


@cache
def _templates() -> Environment:
    """The Jinja environment, built on first render: commands that only list channels skip it."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2")),
        keep_trailing_newline=True,
    )


def value_text(alert: Mapping[str, Any]) -> str:
    """The alert's value with its unit for a subject or body line, or `no data`."""
    value, unit = alert.get("value"), alert.get("unit", "")
    if not isinstance(value, int | float):
        return "no data"
    number = f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{number} {unit}".strip() if unit != "×" else f"{number} ×"


def email_subject(alert: Mapping[str, Any], kind: NoticeKind) -> str:
    label = "resolved" if kind == "resolved" else alert["severity"]
    return f"[StrideGuard {label}] {alert['athlete_name']}: {alert['description'] or alert['rule']}"


def render_alert_email(
    alert: Mapping[str, Any], kind: NoticeKind, *, sender: str, to: list[str], event_id: str
) -> bytes:
    """Text + HTML email, Message-ID fixed by the event id so a retry is the same message."""
    context = {"a": alert, "kind": kind, "value_text": value_text(alert)}
    templates = _templates()
    message = build_message(
        subject=email_subject(alert, kind),
        text=templates.get_template("alert.txt.j2").render(context),
        html=templates.get_template("alert.html.j2").render(context),
        sender=sender,
        to=to,
        message_id=f"<{event_id}@strideguard>",
        thread_key=f"{alert['rule']}/{alert['athlete']}/{alert['alert_id']}",
        extra_headers={
            "X-StrideGuard-Alert": alert["alert_id"],
            "X-StrideGuard-Severity": alert["severity"],
        },
    )
    return render(message)


def thread_root_id(thread_key: str) -> str:
    """Synthetic Message-ID every mail of one alert replies to, so clients thread them."""
    digest = hashlib.sha256(thread_key.encode("utf-8")).hexdigest()[:16]
    return f"<alert-{digest}@strideguard>"


def build_message(
    *,
    subject: str,
    text: str,
    html: str | None,
    sender: str,
    to: list[str],
    message_id: str,
    thread_key: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> EmailMessage:
    """text/plain then HTML alternative; the caller fixes Message-ID so a retry is the same mail."""
    message = EmailMessage()  # policy.default: headers are folded and encoded for us
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id if message_id.startswith("<") else f"<{message_id}>"
    # RFC 3834: tells vacation responders and ticket systems not to answer.
    message["Auto-Submitted"] = "auto-generated"
    if thread_key is not None:
        root = thread_root_id(thread_key)
        message["In-Reply-To"] = root
        message["References"] = root
    for name, value in (extra_headers or {}).items():
        del message[name]
        message[name] = value
    # Quoted-printable keeps the body 7-bit clean for servers without 8BITMIME.
    message.set_content(text, cte="quoted-printable")
    if html is not None:
        message.add_alternative(html, subtype="html", cte="quoted-printable")
    return message


def render(message: EmailMessage) -> bytes:
    """The bytes to store at enqueue and send unchanged: CRLF line ends, as SMTP wants."""
    return message.as_bytes(policy=SMTP_POLICY)
