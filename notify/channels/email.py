"""Email channel: the alert as a text + HTML message, its targets, and one SMTP delivery."""

from __future__ import annotations

import hashlib
import logging
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import replace
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, parseaddr
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from config.schema import EmailConfig, ServiceConfig
from notify.channel import DeliveryResult, Notice, NoticeKind, Outgoing, Target

log = logging.getLogger(__name__)

_REDACTED = "<redacted>"
TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "config" / "templates"
_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    undefined=StrictUndefined,
    autoescape=select_autoescape(enabled_extensions=("html", "html.j2")),
    keep_trailing_newline=True,
)


class EmailChannel:
    """Firing alerts by SMTP to the athlete and the coach copies; resolved ones are not mailed."""

    kind = "email"

    def configured(self, config: ServiceConfig) -> bool:
        return config.notify.email is not None

    def targets(self, config: ServiceConfig, athlete_id: str, kind: NoticeKind) -> list[Target]:
        # a runner needs no mail saying a risk has passed
        if config.notify.email is None or kind != "firing":
            return []
        athlete = config.athlete(athlete_id)
        recipients = [athlete.email] if athlete and athlete.email else []
        recipients += config.notify.email.to
        if not recipients:
            return []
        return [Target(self.kind, tuple(dict.fromkeys(recipients)))]

    def render(self, config: ServiceConfig, notice: Notice) -> bytes:
        if config.notify.email is None:
            raise ValueError("email is not configured")
        return render_alert_email(notice.alert, notice.kind, sender=config.notify.email.sender,
                                  to=list(notice.target.recipients), event_id=notice.event_id)

    def send(self, config: ServiceConfig, message: Outgoing) -> DeliveryResult:
        email = config.notify.email
        if email is None:
            return DeliveryResult(ok=False, reason="email is no longer configured")
        sender = parseaddr(email.sender)[1] or email.sender  # the envelope wants the bare address
        return send_smtp(message.payload, sender, list(message.recipients), email)


CHANNEL = EmailChannel()


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
    """The bytes to store at enqueue and pass to `send_smtp`: CRLF line ends, as SMTP wants."""
    return message.as_bytes(policy=SMTP_POLICY)


def send_smtp(
    message_bytes: bytes, sender: str, recipients: list[str], config: EmailConfig
) -> DeliveryResult:
    """Deliver `message_bytes` as-is to `recipients` through `config`'s server; one attempt."""
    if not recipients:
        return DeliveryResult(ok=False, reason="no recipients")
    password = config.password.get_secret_value() if config.password else ""
    server = f"{config.host}:{config.port}"
    try:
        # Always verify: smtplib without `context=` accepts any certificate (alerting.md §4.2).
        context = ssl.create_default_context(cafile=config.ca_file)
    except OSError as exc:  # missing or unreadable ca_file, bad PEM: configuration
        return DeliveryResult(ok=False, reason=f"cannot load ca_file {config.ca_file}: {exc}")
    try:
        refused = _deliver(message_bytes, sender, recipients, config, context)
    # smtplib and ssl errors are OSError subclasses; UnicodeError: non-ASCII credentials.
    except (OSError, UnicodeError) as exc:
        verdict = classify_error(exc)
        result = replace(verdict, reason=f"{server}: {verdict.reason}")
    else:
        result = _partial_result(refused)
    if password and password in result.reason:
        # Belt and braces: a server reply could echo credentials back.
        result = replace(result, reason=result.reason.replace(password, _REDACTED))
    log.debug("smtp %s: ok=%s retryable=%s %s", server, result.ok, result.retryable, result.reason)
    return result


def _deliver(
    message_bytes: bytes,
    sender: str,
    recipients: list[str],
    config: EmailConfig,
    context: ssl.SSLContext,
) -> dict[str, tuple[int, bytes]]:
    """One SMTP session; returns the recipients the server refused while accepting others."""
    timeout_s = config.timeout.total_seconds()
    smtp: smtplib.SMTP
    if config.security == "ssl":
        smtp = smtplib.SMTP_SSL(config.host, config.port, timeout=timeout_s, context=context)
    else:
        smtp = smtplib.SMTP(config.host, config.port, timeout=timeout_s)
    try:
        if config.security == "starttls":
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                # Never downgrade to cleartext (Alertmanager's require_tls).
                raise smtplib.SMTPNotSupportedError("server does not offer STARTTLS")
            smtp.starttls(context=context)
            smtp.ehlo()
        if config.username:
            password = config.password.get_secret_value() if config.password else ""
            smtp.login(config.username, password)
        refused = smtp.sendmail(sender, recipients, message_bytes)
    except BaseException:
        # No QUIT on a broken session (e.g. mid-handshake): it could block until the timeout.
        smtp.close()
        raise
    _quit_quietly(smtp)
    return refused


def _quit_quietly(smtp: smtplib.SMTP) -> None:
    """QUIT, ignoring failures: the message was accepted, so a lost QUIT must not cause a resend."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def classify_error(exc: BaseException) -> DeliveryResult:
    """SMTP 4xx and network trouble retry; 5xx, auth, missing STARTTLS and bad certs do not."""
    # Order matters: smtplib and ssl errors are OSError subclasses.
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _permanent(f"TLS certificate verification failed: {exc.verify_message}")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        reason = "all recipients refused: " + _describe_refused(exc.recipients)
        return _by_codes(codes, reason)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return _permanent(f"authentication failed: {_reply(exc.smtp_code, exc.smtp_error)}")
    if isinstance(exc, smtplib.SMTPConnectError | smtplib.SMTPServerDisconnected):
        return _retryable(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, smtplib.SMTPResponseException):
        return _by_codes([exc.smtp_code], _reply(exc.smtp_code, exc.smtp_error))
    if isinstance(exc, smtplib.SMTPException):
        # SMTPNotSupportedError (no STARTTLS/AUTH) or no usable AUTH mechanism: configuration.
        return _permanent(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return _retryable(f"TLS connection closed: {exc}")
    if isinstance(exc, ssl.SSLError):
        # Handshake failures such as `ssl` mode against a plaintext port: configuration.
        return _permanent(f"TLS error: {exc}")
    if isinstance(exc, OSError):
        # Refused, reset, timeout, DNS failure: the server may be back later.
        return _retryable(f"{type(exc).__name__}: {exc}")
    return _permanent(f"{type(exc).__name__}: {exc}")


def _partial_result(refused: dict[str, tuple[int, bytes]]) -> DeliveryResult:
    """Accepted by at least one recipient: done; name the refused ones so nobody resends."""
    if not refused:
        return DeliveryResult(ok=True)
    return DeliveryResult(ok=True, reason="some recipients refused: " + _describe_refused(refused))


def _describe_refused(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{rcpt} ({_reply(code, msg)})" for rcpt, (code, msg) in refused.items())


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return f"{code} {' '.join(text.split())}"


def _by_codes(codes: list[int], reason: str) -> DeliveryResult:
    """Any 4xx is temporary by SMTP's own definition; otherwise (5xx) give up."""
    if any(400 <= code < 500 for code in codes):
        return _retryable(reason)
    return _permanent(reason)


def _retryable(reason: str) -> DeliveryResult:
    return DeliveryResult(ok=False, retryable=True, reason=reason)


def _permanent(reason: str) -> DeliveryResult:
    return DeliveryResult(ok=False, retryable=False, reason=reason)
