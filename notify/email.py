"""Email channel: build the alert message, send its pre-rendered bytes over SMTP, or drop a .eml."""

from __future__ import annotations

import hashlib
import logging
import os
import smtplib
import ssl
import tempfile
from dataclasses import replace
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate
from pathlib import Path

from config.schema import EmailConfig
from notify.result import DeliveryResult

log = logging.getLogger(__name__)

_REDACTED = "<redacted>"


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
    """The bytes to store at enqueue and pass to `send`: CRLF line ends, as SMTP wants."""
    return message.as_bytes(policy=SMTP_POLICY)


def send(
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


def write_eml(message_bytes: bytes, mail_dir: Path, name: str) -> Path:
    """Fallback channel: atomically write `mail_dir/<name>.eml`; the same name is the same file."""
    if not name or name.startswith(".") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"unsafe .eml name {name!r}")
    mail_dir.mkdir(parents=True, exist_ok=True)
    target = mail_dir / f"{name}.eml"
    fd, temp_path = tempfile.mkstemp(dir=mail_dir, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(message_bytes)
            handle.flush()
            os.fsync(handle.fileno())
        # Readers see either no file or the whole message, never a partial one.
        os.replace(temp_path, target)
    except BaseException:
        Path(temp_path).unlink(missing_ok=True)
        raise
    return target


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
