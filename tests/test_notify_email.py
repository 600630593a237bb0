"""Email channel against real loopback aiosmtpd servers: MIME, TLS modes, SMTP error verdicts."""

from __future__ import annotations

import socket
import ssl
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.smtp import AuthResult, LoginPassword
from smtp_sink import Collector, StartServer

from config.schema import EmailConfig
from notify.channels.email import send_smtp
from notify.channels.file import write_eml
from notify.mail import build_message, render, thread_root_id

SENDER = "strideguard@example.org"
RECIPIENT = "coach@example.org"
PASSWORD = "s3cret-Pa55word"
MESSAGE_ID = "<evt-0001@strideguard>"




@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def _config(port: int, **overrides: Any) -> EmailConfig:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "sender": SENDER,
        "to": [RECIPIENT],
        "timeout": 2,
    }
    values.update(overrides)
    return EmailConfig(**values)


def _message(to: list[str] | None = None) -> EmailMessage:
    return build_message(
        subject="[FIRING] weekly_load_spike ana – Ruhetag",
        text="Weekly load is 1.6× your 4-week average.\nAdvice: rest.",
        html="<p>Weekly load is <b>1.6×</b> your 4-week average.</p>",
        sender=SENDER,
        to=to or [RECIPIENT],
        message_id=MESSAGE_ID,
        thread_key="ana/weekly_load_spike/episode-1",
        extra_headers={"X-Alert-Status": "firing"},
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data == (b"alerts", PASSWORD.encode())
    # handled=False makes aiosmtpd answer 535 itself instead of leaving the client waiting.
    return AuthResult(success=ok, handled=False)


# --- message ----------------------------------------------------------------------------------


def test_message_structure_and_headers() -> None:
    message = _message()
    assert message.get_content_type() == "multipart/alternative"
    text_part, html_part = message.iter_parts()
    assert text_part.get_content_type() == "text/plain"
    assert html_part.get_content_type() == "text/html"
    assert message["Message-ID"] == MESSAGE_ID
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Date"]
    root = thread_root_id("ana/weekly_load_spike/episode-1")
    assert root.startswith("<alert-") and root.endswith("@strideguard>")
    assert len(root) == len("<alert-@strideguard>") + 16
    assert message["In-Reply-To"] == message["References"] == root
    assert message["X-Alert-Status"] == "firing"


def test_firing_and_resolved_share_a_thread_root() -> None:
    key = "ana/weekly_load_spike/episode-1"
    firing = build_message(
        subject="f",
        text="f",
        html=None,
        sender=SENDER,
        to=[RECIPIENT],
        message_id="<a@x>",
        thread_key=key,
    )
    resolved = build_message(
        subject="r",
        text="r",
        html=None,
        sender=SENDER,
        to=[RECIPIENT],
        message_id="<b@x>",
        thread_key=key,
    )
    assert firing["References"] == resolved["References"]
    assert firing["Message-ID"] != resolved["Message-ID"]
    assert firing.get_content_type() == "text/plain"  # no HTML: a single part
    unthreaded = build_message(
        subject="s", text="t", html=None, sender=SENDER, to=[RECIPIENT], message_id="<c@x>"
    )
    assert unthreaded["In-Reply-To"] is None


def test_rendered_bytes_are_7bit_with_crlf() -> None:
    rendered = render(_message())
    assert max(rendered) < 128
    assert b"\r\n" in rendered
    assert b"\n" not in rendered.replace(b"\r\n", b"")


# --- delivery -----------------------------------------------------------------------------------


def test_plain_delivery_preserves_bytes_and_mime(smtp_server: StartServer) -> None:
    handler = Collector()
    server = smtp_server(handler)
    rendered = render(_message())

    result = send_smtp(rendered, SENDER, [RECIPIENT], _config(server.port))

    assert (result.ok, result.reason) == (True, "")
    (received,) = handler.received
    assert (received.mail_from, received.rcpt_tos) == (SENDER, [RECIPIENT])
    parsed = message_from_bytes(received.content, policy=default_policy)
    assert parsed["Message-ID"] == MESSAGE_ID
    assert parsed.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert "1.6×" in parsed.get_body(("plain",)).get_content()
    assert "<b>1.6×</b>" in parsed.get_body(("html",)).get_content()
    assert str(parsed["Subject"]).endswith("Ruhetag")


def test_retry_sends_the_same_message(smtp_server: StartServer) -> None:
    handler = Collector()
    server = smtp_server(handler)
    rendered = render(_message())
    for _ in range(2):
        assert send_smtp(rendered, SENDER, [RECIPIENT], _config(server.port)).ok
    first, second = handler.received
    assert first.content == second.content


def test_starttls_rejects_untrusted_certificate(
    smtp_server: StartServer, server_tls: ssl.SSLContext
) -> None:
    handler = Collector()
    server = smtp_server(handler, tls_context=server_tls, require_starttls=True)

    result = send_smtp(
        render(_message()), SENDER, [RECIPIENT], _config(server.port, security="starttls")
    )

    assert (result.ok, result.retryable) == (False, False)
    assert "certificate verification failed" in result.reason
    assert handler.received == []


def test_starttls_with_ca_file_delivers_over_tls(
    smtp_server: StartServer, server_tls: ssl.SSLContext, ca_file: Path
) -> None:
    handler = Collector()
    server = smtp_server(handler, tls_context=server_tls, require_starttls=True)
    config = _config(server.port, security="starttls", ca_file=ca_file)

    result = send_smtp(render(_message()), SENDER, [RECIPIENT], config)

    assert result.ok, result.reason
    assert handler.received[0].tls


def test_starttls_not_offered_is_permanent_never_downgraded(smtp_server: StartServer) -> None:
    handler = Collector()
    server = smtp_server(handler)  # plaintext only: no STARTTLS advertised

    result = send_smtp(
        render(_message()), SENDER, [RECIPIENT], _config(server.port, security="starttls")
    )

    assert (result.ok, result.retryable) == (False, False)
    assert "STARTTLS" in result.reason
    assert handler.received == []


def test_starttls_then_auth_logs_in_over_tls(
    smtp_server: StartServer, server_tls: ssl.SSLContext, ca_file: Path
) -> None:
    handler = Collector()
    server = smtp_server(
        handler,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=_authenticator,
        auth_required=True,
        auth_require_tls=True,  # AUTH is only offered after STARTTLS
    )
    config = _config(
        server.port, security="starttls", ca_file=ca_file, username="alerts", password=PASSWORD
    )

    result = send_smtp(render(_message()), SENDER, [RECIPIENT], config)

    assert result.ok, result.reason
    assert handler.received[0].tls


def test_implicit_tls_rejects_untrusted_then_accepts_with_ca_file(
    smtp_server: StartServer, server_tls: ssl.SSLContext, ca_file: Path
) -> None:
    handler = Collector()
    server = smtp_server(handler, ssl_context=server_tls)
    rendered = render(_message())

    untrusted = send_smtp(rendered, SENDER, [RECIPIENT], _config(server.port, security="ssl"))
    trusted = send_smtp(
        rendered, SENDER, [RECIPIENT], _config(server.port, security="ssl", ca_file=ca_file)
    )

    assert (untrusted.ok, untrusted.retryable) == (False, False)
    assert "certificate verification failed" in untrusted.reason
    assert trusted.ok, trusted.reason
    assert len(handler.received) == 1 and handler.received[0].tls


def test_implicit_tls_against_plaintext_server_is_permanent(smtp_server: StartServer) -> None:
    server = smtp_server(Collector())
    config = _config(server.port, security="ssl")
    result = send_smtp(render(_message()), SENDER, [RECIPIENT], config)
    assert (result.ok, result.retryable) == (False, False)


def test_missing_ca_file_is_permanent(tmp_path: Path) -> None:
    config = _config(_closed_port(), security="ssl", ca_file=tmp_path / "missing.pem")
    result = send_smtp(b"x", SENDER, [RECIPIENT], config)
    assert (result.ok, result.retryable) == (False, False)
    assert "ca_file" in result.reason


@pytest.mark.parametrize(
    ("reply", "retryable"),
    [
        ("451 4.3.0 try later", True),
        ("452 4.2.2 mailbox full", True),
        ("550 5.1.1 no such user", False),
        ("553 5.1.3 bad address", False),
    ],
)
def test_rcpt_reply_decides_retry(smtp_server: StartServer, reply: str, retryable: bool) -> None:
    handler = Collector(rcpt_replies={RECIPIENT: reply})
    server = smtp_server(handler)

    result = send_smtp(render(_message()), SENDER, [RECIPIENT], _config(server.port))

    assert (result.ok, result.retryable) == (False, retryable)
    assert reply.split()[0] in result.reason and RECIPIENT in result.reason
    assert handler.received == []


@pytest.mark.parametrize(
    ("reply", "retryable"), [("451 4.3.0 try later", True), ("554 5.6.0 rejected", False)]
)
def test_data_reply_decides_retry(smtp_server: StartServer, reply: str, retryable: bool) -> None:
    server = smtp_server(Collector(data_reply=reply))
    result = send_smtp(render(_message()), SENDER, [RECIPIENT], _config(server.port))
    assert (result.ok, result.retryable) == (False, retryable)
    assert reply.split()[0] in result.reason


def test_partial_refusal_is_ok_and_names_the_refused(smtp_server: StartServer) -> None:
    refused = "gone@example.org"
    handler = Collector(rcpt_replies={refused: "550 5.1.1 no such user"})
    server = smtp_server(handler)

    result = send_smtp(render(_message()), SENDER, [RECIPIENT, refused], _config(server.port))

    assert result.ok
    assert refused in result.reason and "550" in result.reason
    assert RECIPIENT not in result.reason
    assert handler.received[0].rcpt_tos == [RECIPIENT]


def test_server_not_running_is_retryable() -> None:
    result = send_smtp(render(_message()), SENDER, [RECIPIENT], _config(_closed_port()))
    assert (result.ok, result.retryable) == (False, True)


def test_silent_server_times_out_retryable() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # the kernel accepts; nobody ever sends the 220 greeting
        config = _config(listener.getsockname()[1], timeout=0.2)
        result = send_smtp(render(_message()), SENDER, [RECIPIENT], config)
    assert (result.ok, result.retryable) == (False, True)


def test_auth_failure_is_permanent_and_hides_password(smtp_server: StartServer) -> None:
    handler = Collector()
    server = smtp_server(handler, authenticator=_authenticator, auth_require_tls=False)
    wrong = _config(server.port, username="alerts", password="wrong-" + PASSWORD)
    right = _config(server.port, username="alerts", password=PASSWORD)

    failed = send_smtp(render(_message()), SENDER, [RECIPIENT], wrong)
    delivered = send_smtp(render(_message()), SENDER, [RECIPIENT], right)

    assert (failed.ok, failed.retryable) == (False, False)
    assert "535" in failed.reason
    assert PASSWORD not in failed.reason
    assert delivered.ok, delivered.reason
    assert len(handler.received) == 1


def test_no_recipients_is_permanent() -> None:
    result = send_smtp(b"x", SENDER, [], _config(_closed_port()))
    assert (result.ok, result.retryable) == (False, False)


# --- .eml fallback ------------------------------------------------------------------------------


def test_write_eml_is_atomic_and_idempotent(tmp_path: Path) -> None:
    mail_dir = tmp_path / "mail"
    rendered = render(_message())

    first = write_eml(rendered, mail_dir, "evt-0001")
    second = write_eml(rendered, mail_dir, "evt-0001")

    assert first == second == mail_dir / "evt-0001.eml"
    assert first.read_bytes() == rendered
    assert sorted(p.name for p in mail_dir.iterdir()) == ["evt-0001.eml"]  # no temp files left
    parsed = message_from_bytes(first.read_bytes(), policy=default_policy)
    assert parsed["Message-ID"] == MESSAGE_ID


@pytest.mark.parametrize("name", ["", "../escape", "a/b", ".hidden"])
def test_write_eml_rejects_unsafe_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError):
        write_eml(b"x", tmp_path, name)
