"""Render an alert (plain data) into the bytes each channel sends: an email, a webhook body."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from notify.email import build_message, render

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "config" / "templates"
_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    undefined=StrictUndefined,
    autoescape=select_autoescape(enabled_extensions=("html", "html.j2")),
    keep_trailing_newline=True,
)


def value_text(alert: dict[str, Any]) -> str:
    value, unit = alert.get("value"), alert.get("unit", "")
    if not isinstance(value, int | float):
        return "no data"
    number = f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{number} {unit}".strip() if unit != "×" else f"{number} ×"


def email_subject(alert: dict[str, Any], kind: str) -> str:
    label = "resolved" if kind == "resolved" else alert["severity"]
    return f"[StrideGuard {label}] {alert['athlete_name']}: {alert['description'] or alert['rule']}"


def render_email(
    alert: dict[str, Any], kind: str, *, sender: str, to: list[str], event_id: str
) -> bytes:
    """Text + HTML email, Message-ID fixed by the event id so a retry is the same message."""
    context = {"a": alert, "kind": kind, "value_text": value_text(alert)}
    message = build_message(
        subject=email_subject(alert, kind),
        text=_ENV.get_template("alert.txt.j2").render(context),
        html=_ENV.get_template("alert.html.j2").render(context),
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


def render_webhook_body(alert: dict[str, Any], kind: str, event_time: datetime) -> bytes:
    """DESIGN §2.3 body; serialised once so the signature covers exactly what is sent."""
    body = {
        "type": f"alert.{kind}",
        "timestamp": event_time.isoformat().replace("+00:00", "Z"),
        "data": alert,
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
