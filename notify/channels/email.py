"""Email channel: who gets alerts and digests, rendered by `notify.mail`, and one SMTP delivery."""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import replace
from email.utils import parseaddr

from config.schema import EmailConfig, ServiceConfig
from notify.channel import DeliveryResult, Notice, NoticeKind, Outgoing, Target
from notify.mail import render_email

log = logging.getLogger(__name__)

_REDACTED = "<redacted>"


class EmailChannel:
    """Firing alerts (and tests) to the athlete and the coach copies (resolved ones are not
    mailed); a runner's digest to the runner alone; the squad digest to the coach addresses."""

    kind = "email"

    def configured(self, config: ServiceConfig) -> bool:
        return config.notify.email is not None

    def targets(
        self, config: ServiceConfig, athlete_id: str | None, kind: NoticeKind
    ) -> list[Target]:
        # a runner needs no mail saying a risk has passed
        if config.notify.email is None or kind == "resolved":
            return []
        athlete = config.athlete(athlete_id) if athlete_id is not None else None
        own = [athlete.email] if athlete and athlete.email else []
        if kind in ("digest", "notice"):
            recipients = own
        elif kind == "squad-digest":
            recipients = list(config.notify.email.to)
        else:
            recipients = own + config.notify.email.to
        if not recipients:
            return []
        return [Target(self.kind, tuple(dict.fromkeys(recipients)))]

    def render(self, config: ServiceConfig, notice: Notice) -> bytes:
        if config.notify.email is None:
            raise ValueError("email is not configured")
        return render_email(notice, sender=config.notify.email.sender,
                            to=list(notice.target.recipients))

    def send(self, config: ServiceConfig, message: Outgoing) -> DeliveryResult:
        email = config.notify.email
        if email is None:
            return DeliveryResult(ok=False, reason="email is no longer configured")
        sender = parseaddr(email.sender)[1] or email.sender  # the envelope wants the bare address
        return send_smtp(message.payload, sender, list(message.recipients), email)


CHANNEL = EmailChannel()


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
        result = replace(verdict, reason=f"{server}: {verdict.reason}", status=smtp_status(exc))
    else:
        # sendmail raises unless DATA was answered 250, so an accepted message means 250
        result = replace(_partial_result(refused), status="SMTP 250")
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
        return _permanent(
            f"certificate not trusted (TLS certificate verification failed: {exc.verify_message})")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        reason = "all recipients refused: " + _describe_refused(exc.recipients)
        return _by_codes(codes, reason)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return _permanent(f"authentication refused: {_reply(exc.smtp_code, exc.smtp_error)}")
    if isinstance(exc, smtplib.SMTPServerDisconnected) and isinstance(exc.__context__,
                                                                       TimeoutError):
        # smtplib turns a reply that never came (a server that accepts but never greets)
        # into "Connection unexpectedly closed: timed out"
        return _retryable("timed out waiting for the server's reply")
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
    if isinstance(exc, ConnectionRefusedError):
        return _retryable(f"connection refused ({exc})")
    if isinstance(exc, TimeoutError):  # socket.timeout too
        said = str(exc)
        return _retryable("timed out" if said in ("", "timed out") else f"timed out ({said})")
    if isinstance(exc, OSError):
        # Reset, DNS failure: the server may be back later.
        return _retryable(f"{type(exc).__name__}: {exc}")
    return _permanent(f"{type(exc).__name__}: {exc}")


def smtp_status(exc: BaseException) -> str | None:
    """`SMTP <code>` of the server's reply that ended the session; None when none came."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"SMTP {exc.smtp_code}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        code, _message = next(iter(exc.recipients.values()))
        return f"SMTP {code}"
    return None


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
