"""Alerts and digests as RFC 5322 messages: subject, text + HTML (+ inline PNGs), headers, bytes."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

from config.jinja import email_templates
from notify.channel import DigestContent, InlineImage, Notice, NoticeKind

if TYPE_CHECKING:

    from charts import Png

log = logging.getLogger(__name__)

# the budget of one message (DESIGN §8): far below every provider's limit, kind to phones
MAX_MESSAGE_BYTES = 1_000_000
# X-StrideGuard-Kind per notice kind (DESIGN §2.1)
HEADER_KIND: dict[str, str] = {
    "firing": "alert", "resolved": "resolved", "digest": "digest", "squad-digest": "squad-digest",
    "notice": "notice", "test": "test",
}


@dataclass(frozen=True)
class Inline:
    """An `InlineImage`: a PNG at twice the display size, shown where the HTML says `cid:`."""

    cid: str
    png: bytes
    alt: str
    width_px: int
    height_px: int


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


def chart_image(chart: Png, event_id: str) -> Inline:
    """The alert's chart as the message's one inline image; its cid is unique to the message."""
    return Inline(cid=f"chart.{event_id}@strideguard", png=chart.data, alt=chart.alt,
                  width_px=chart.width_px, height_px=chart.height_px)


def render_alert_email(
    alert: Mapping[str, Any],
    kind: NoticeKind,
    *,
    sender: str,
    to: list[str],
    event_id: str,
    chart: Png | None = None,
) -> bytes:
    """Text + HTML email (+ the chart inline), Message-ID fixed by the event id so a retry is
    the same message; the text part says in words what the chart shows."""
    image = chart_image(chart, event_id) if chart is not None else None
    context = {"a": alert, "kind": kind, "value_text": value_text(alert), "chart": image}
    templates = email_templates()
    message = build_message(
        subject=email_subject(alert, kind),
        text=templates.get_template("alert.txt.j2").render(context),
        html=templates.get_template("alert.html.j2").render(context),
        sender=sender,
        to=to,
        message_id=f"<{event_id}@strideguard>",
        thread_key=f"{alert['rule']}/{alert['athlete']}/{alert['alert_id']}",
        extra_headers={
            "X-StrideGuard-Kind": HEADER_KIND[kind],
            "X-StrideGuard-Athlete": str(alert["athlete"]),
            "X-StrideGuard-Rule": str(alert["rule"]),
            "X-StrideGuard-Alert": alert["alert_id"],
            "X-StrideGuard-Severity": alert["severity"],
        },
        images=[image] if image is not None else (),
    )
    return render_within_budget(message, f"alert {alert['alert_id']}")


def render_notice_email(
    notice: Mapping[str, Any], *, sender: str, to: list[str], event_id: str
) -> bytes:
    """A short message to the runner that is not an alert (`notice` templates): its
    `subject`, `athlete_name`, `lines` (paragraphs) and `disclaimer`."""
    templates = email_templates()
    context = {"n": notice}
    message = build_message(
        subject=notice["subject"],
        text=templates.get_template("notice.txt.j2").render(context),
        html=templates.get_template("notice.html.j2").render(context),
        sender=sender,
        to=to,
        message_id=f"<{event_id}@strideguard>",
        extra_headers={"X-StrideGuard-Kind": HEADER_KIND["notice"],
                       "X-StrideGuard-Athlete": notice["athlete"]},
    )
    return render(message)


def render_test_email(
    test: Mapping[str, Any], *, sender: str, to: list[str], event_id: str
) -> bytes:
    """`strideguard test-notify`'s message (`test` templates): it says it is a test, for whom
    (`athlete`, `athlete_name`; None: the coach) and that nothing needs doing."""
    templates = email_templates()
    context = {"t": test, "event_id": event_id}
    athlete = test.get("athlete")
    message = build_message(
        subject=subject_for_test(test),
        text=templates.get_template("test.txt.j2").render(context),
        html=templates.get_template("test.html.j2").render(context),
        sender=sender,
        to=to,
        message_id=f"<{event_id}@strideguard>",
        extra_headers={"X-StrideGuard-Kind": HEADER_KIND["test"],
                       "X-StrideGuard-Athlete": str(athlete) if athlete else SQUAD_ATHLETE},
    )
    return render(message)


def subject_for_test(test: Mapping[str, Any]) -> str:
    """`[StrideGuard test] Test message for Ana`, or `... for the coach` without an athlete."""
    whom = test.get("athlete_name") or test.get("athlete") or "the coach"
    return f"[StrideGuard test] Test message for {whom}"


def render_digest_email(
    content: DigestContent, *, sender: str, to: list[str], event_id: str
) -> bytes:
    """The digest's own text and HTML with its charts inline; Message-ID fixed by the event id."""
    # every mail names its athlete (DESIGN §2.1); the squad digest is about all of them: "*"
    headers = {"X-StrideGuard-Kind": HEADER_KIND[content.kind], "X-StrideGuard-Week": content.week,
               "X-StrideGuard-Athlete": content.athlete_id or SQUAD_ATHLETE}
    message = build_message(
        subject=content.subject,
        text=content.text,
        html=content.html,
        sender=sender,
        to=to,
        message_id=f"<{event_id}@strideguard>",
        extra_headers=headers,
        images=content.images,
    )
    what = " ".join(part for part in (content.kind, content.athlete_id, content.week) if part)
    return render_within_budget(message, what)


def thread_root_id(thread_key: str) -> str:
    """Synthetic Message-ID every mail of one alert replies to, so clients thread them."""
    digest = hashlib.sha256(thread_key.encode("utf-8")).hexdigest()[:16]
    return f"<alert-{digest}@strideguard>"


SQUAD_ATHLETE = "*"  # X-StrideGuard-Athlete of the squad digest


def one_line(value: str) -> str:
    """A header value without line breaks: ids and names come from folders and config files,
    and the email library refuses CR or LF in a header (a crafted one could add headers)."""
    return " ".join(value.splitlines()) if "\n" in value or "\r" in value else value


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
    images: Sequence[InlineImage] = (),
) -> EmailMessage:
    """text/plain, then the HTML alternative as multipart/related with its images inline.

    The caller fixes Message-ID so a retry is the same mail. Images need HTML to show them.
    """
    message = EmailMessage()  # policy.default: headers are folded and encoded for us
    subject, sender = one_line(subject), one_line(sender)
    extra_headers = {name: one_line(value) for name, value in (extra_headers or {}).items()}
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
        html_part = message.get_payload()[1]
        for image in images:
            # multipart/related (RFC 2387): the HTML refers to each image by its Content-ID
            html_part.add_related(image.png, "image", "png", cid=f"<{one_line(image.cid)}>",
                                  disposition="inline", filename=image_filename(image.cid))
    elif images:
        raise ValueError("inline images need an HTML part to show them")
    return message


def image_filename(cid: str) -> str:
    """A safe file name for an inline image, from the local part of its Content-ID."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", cid.partition("@")[0]).strip(".-") or "image"
    return f"{stem}.png"


def render(message: EmailMessage) -> bytes:
    """The bytes to store at enqueue and send unchanged: CRLF line ends, as SMTP wants."""
    return message.as_bytes(policy=SMTP_POLICY)


def render_within_budget(message: EmailMessage, what: str) -> bytes:
    """`render`, warning when the message is over MAX_MESSAGE_BYTES: it is still sent, since
    a late or missing alert or digest is worse than a heavy one."""
    rendered = render(message)
    if len(rendered) >= MAX_MESSAGE_BYTES:
        log.warning("the %s email is %d bytes, over the %d-byte budget", what, len(rendered),
                    MAX_MESSAGE_BYTES)
    return rendered


def render_email(notice: Notice, *, sender: str, to: list[str]) -> bytes:
    """Any notice as the message the email and file channels store: a digest, a runner's
    notice, a test, or an alert (with its chart)."""
    if notice.digest is not None:
        return render_digest_email(notice.digest, sender=sender, to=to, event_id=notice.event_id)
    if notice.kind == "notice":
        return render_notice_email(notice.payload, sender=sender, to=to, event_id=notice.event_id)
    if notice.kind == "test":
        return render_test_email(notice.payload, sender=sender, to=to, event_id=notice.event_id)
    return render_alert_email(notice.payload, notice.kind, sender=sender, to=to,
                              event_id=notice.event_id, chart=notice.chart())
