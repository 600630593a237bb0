"""`strideguard test-notify` end to end, as a child process, against a real aiosmtpd server, a
loopback HTTP receiver (webhooks and Apprise's json:// push) and SQLite or PostgreSQL: one
line per target with ok or failed, the status, the latency and the cause; a signed
`alert.test` webhook; a row per send; nothing secret on the terminal."""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import ssl
import subprocess
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.smtp import AuthResult, LoginPassword
from helpers import REPO, STRIDEGUARD
from pytest_httpserver import HTTPServer
from smtp_sink import Collector, StartServer
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from cli import main
from config.schema import ServiceConfig
from notify.channel import Target
from notify.channels.webhook import channel_name as webhook_channel_name
from notify.channels.webhook import url_label
from notify.probe import probe_targets, send_probe
from store import NotificationTest, open_store

SMTP_PASSWORD = "smtp-Pa55word-77f1"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"test-notify-secret-0123456789ab").decode()
COACH_TOKEN = "CoachPushToken5e1d"
RUNNER_TOKEN = "RunnerPushToken93aa"
SECRETS = (SMTP_PASSWORD, WEBHOOK_SECRET, WEBHOOK_SECRET.removeprefix("whsec_"), COACH_TOKEN,
           RUNNER_TOKEN)
COACH = "coach@example.org"
ANA = "ana@example.org"



def _accepting(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data == (b"alerts", SMTP_PASSWORD.encode())
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


def _refusing(server, session, envelope, mechanism, auth_data) -> AuthResult:
    return AuthResult(success=False, handled=False)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def email_config(port: int, **overrides: Any) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "security": "none", "username": "alerts",
            "password": "${SMTP_PASSWORD}", "sender": "StrideGuard <sg@example.org>",
            "to": [COACH], "timeout": "5s", **overrides}


def push_url(server: HTTPServer, who: str, token: str) -> str:
    return f"json://127.0.0.1:{server.port}/{who}/{token}"


def write_config(folder: Path, database_url: str, **notify: Any) -> Path:
    """A config (JSON is YAML) with Ana (an address and a phone) and Ben (neither)."""
    athletes = notify.pop("athletes", [{"id": "ana", "name": "Ana", "email": ANA},
                                       {"id": "ben", "name": "Ben"}])
    config = folder / "strideguard.yaml"
    config.write_text(json.dumps({"database": database_url, "timezone": "UTC",
                                  "mail_dir": str(folder / "mail"), "athletes": athletes,
                                  "notify": notify}), encoding="utf-8")
    return config


def run_test_notify(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`strideguard --config CONFIG test-notify ARGS`, the SMTP password from the environment."""
    return subprocess.run([*STRIDEGUARD, "--config", str(config), "test-notify", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "SMTP_PASSWORD": SMTP_PASSWORD})


def assert_no_secret(run: subprocess.CompletedProcess[str], database_url: str | None = None,
                     secrets: tuple[str, ...] = SECRETS) -> None:
    """Neither printed nor, with `database_url`, stored in a test's recorded error."""
    stored = [row.error or "" for row in rows(database_url)] if database_url else []
    for secret in secrets:
        assert secret not in run.stdout + run.stderr, f"{secret!r} was printed"
        assert not any(secret in error for error in stored), f"{secret!r} was stored"


def line_of(run: subprocess.CompletedProcess[str], kind: str) -> str:
    [line] = [line for line in run.stdout.splitlines() if line.split()[0] == kind]
    return line


def mail(handler: Collector, index: int = 0) -> EmailMessage:
    message = message_from_bytes(handler.received[index].content, policy=default_policy)
    assert isinstance(message, EmailMessage)
    return message


def rows(database_url: str) -> list[NotificationTest]:
    store = open_store(database_url)
    try:
        with store.session() as session:
            return list(session.scalars(select(NotificationTest).order_by(NotificationTest.id)))
    finally:
        store.dispose()


def test_email_and_a_verified_alert_test_webhook_are_sent_now_and_recorded(
        tmp_path: Path, database_url: str, smtp_server: StartServer,
        httpserver_ipv4: HTTPServer) -> None:
    handler = Collector()
    server = smtp_server(handler, authenticator=_accepting, auth_require_tls=False)
    httpserver_ipv4.expect_request("/hook", method="POST").respond_with_data("", status=204)
    hook_url = httpserver_ipv4.url_for("/hook")
    config = write_config(tmp_path, database_url, email=email_config(server.port),
                          webhooks=[{"url": hook_url, "secret": WEBHOOK_SECRET}])

    run = run_test_notify(config)

    assert run.returncode == 0, run.stdout + run.stderr
    assert len(run.stdout.splitlines()) == 2
    assert line_of(run, "email").split()[1:4] == ["ok", "SMTP", "250"]
    assert f"{COACH} via 127.0.0.1:{server.port}" in line_of(run, "email")
    webhook_line = line_of(run, "webhook")
    assert webhook_line.split()[1:4] == ["ok", "HTTP", "204"]
    # the path may hold a token: the receiver is named by scheme, host, port and hashed name
    hook_name = webhook_channel_name(ServiceConfig.model_validate(
        {"notify": {"webhooks": [{"url": hook_url, "secret": WEBHOOK_SECRET}]}}
    ).notify.webhooks[0])
    assert webhook_line.endswith(f"{url_label(hook_url)} ({hook_name})")
    assert "/hook" not in webhook_line
    message = mail(handler)
    assert handler.received[0].rcpt_tos == [COACH]
    assert message["X-StrideGuard-Kind"] == "test" and message["X-StrideGuard-Athlete"] == "*"
    assert message["Subject"].startswith("[StrideGuard test]")
    assert "This is a test message" in message.get_body(("plain",)).get_content()
    [(request, _response)] = httpserver_ipv4.log
    event = Webhook(WEBHOOK_SECRET).verify(request.get_data(), dict(request.headers))
    assert event["type"] == "alert.test" and event["data"]["test"] is True
    assert event["data"]["athlete"] is None and event["timestamp"].endswith("Z")
    recorded = rows(database_url)
    assert [(r.channel.split(":")[0], r.ok, r.status, r.athlete_id, r.error) for r in recorded] \
        == [("email", True, "SMTP 250", None, None), ("webhook", True, "HTTP 204", None, None)]
    assert recorded[1].event_id == request.headers["webhook-id"]
    assert message["Message-ID"] == f"<{recorded[0].event_id}@strideguard>"
    assert all(r.latency_ms > 0 for r in recorded)
    assert_no_secret(run)


def test_smtp_server_down_fails_with_the_cause_on_one_line_and_the_webhook_still_goes(
        tmp_path: Path, httpserver_ipv4: HTTPServer) -> None:
    database_url = f"sqlite:///{tmp_path / 'sg.db'}"
    httpserver_ipv4.expect_request("/hook").respond_with_data("", status=200)
    config = write_config(tmp_path, database_url, email=email_config(_closed_port()),
                          webhooks=[{"url": httpserver_ipv4.url_for("/hook"),
                                     "secret": WEBHOOK_SECRET}])

    run = run_test_notify(config)

    assert run.returncode != 0
    assert len(run.stdout.splitlines()) == 2  # one line each, the cause included
    email_line = line_of(run, "email")
    assert email_line.split()[1:3] == ["failed", "-"] and "connection refused" in email_line
    assert line_of(run, "webhook").split()[1] == "ok"
    assert "1 of 2 test notifications failed" in run.stderr
    [email_row, webhook_row] = rows(database_url)
    assert not email_row.ok and email_row.status is None
    assert "connection refused" in (email_row.error or "") and webhook_row.ok
    assert_no_secret(run, database_url)


def test_a_refused_login_says_authentication_refused(
        tmp_path: Path, smtp_server: StartServer) -> None:
    handler = Collector()
    server = smtp_server(handler, authenticator=_refusing, auth_require_tls=False)
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'sg.db'}",
                          email=email_config(server.port))

    run = run_test_notify(config)

    assert run.returncode != 0 and handler.received == []
    email_line = line_of(run, "email")
    assert "failed  SMTP 535" in email_line and "authentication refused" in email_line
    assert_no_secret(run)


def test_an_untrusted_certificate_is_named_and_a_trusted_one_works(
        tmp_path: Path, smtp_server: StartServer) -> None:
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    handler = Collector()
    # implicit TLS: aiosmtpd cannot tell the session is encrypted, so AUTH must be allowed
    server = smtp_server(handler, ssl_context=server_tls, authenticator=_accepting,
                         auth_require_tls=False)
    database_url = f"sqlite:///{tmp_path / 'sg.db'}"

    untrusted = run_test_notify(write_config(tmp_path, database_url,
                                         email=email_config(server.port, security="ssl")))
    trusted = run_test_notify(write_config(tmp_path, database_url, email=email_config(
        server.port, security="ssl", ca_file=str(ca_file))))

    assert untrusted.returncode != 0
    assert "certificate not trusted" in line_of(untrusted, "email")
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    assert len(handler.received) == 1 and handler.received[0].tls
    assert_no_secret(untrusted)


def test_a_webhook_answering_500_shows_the_status_and_the_start_of_the_body(
        tmp_path: Path, httpserver_ipv4: HTTPServer) -> None:
    httpserver_ipv4.expect_request("/hook").respond_with_data(
        "receiver exploded:\ndatabase is locked " + "x" * 5000, status=500)
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'sg.db'}",
                          webhooks=[{"url": httpserver_ipv4.url_for("/hook"),
                                     "secret": WEBHOOK_SECRET}])

    run = run_test_notify(config)

    assert run.returncode != 0
    [line] = run.stdout.splitlines()
    assert line.split()[:4] == ["webhook", "failed", "HTTP", "500"]
    assert "HTTP 500: receiver exploded: database is locked xxx" in line
    assert len(line) < 500  # the start of the body, not all of it
    assert len(httpserver_ipv4.log) == 1  # never retried
    assert_no_secret(run)


def test_a_push_reaches_a_loopback_receiver_without_printing_its_token(
        tmp_path: Path, httpserver_ipv4: HTTPServer) -> None:
    httpserver_ipv4.expect_request(f"/coach/{COACH_TOKEN}").respond_with_data("", status=200)
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'sg.db'}",
                          apprise=[push_url(httpserver_ipv4, "coach", COACH_TOKEN)])

    run = run_test_notify(config)

    assert run.returncode == 0, run.stdout + run.stderr
    line = line_of(run, "push")
    assert line.split()[1] == "ok"
    assert f"json://127.0.0.1:{httpserver_ipv4.port}/coach/<redacted>" in line
    [(request, _response)] = httpserver_ipv4.log
    pushed = json.loads(request.get_data())
    assert pushed["title"] == "StrideGuard test" and "test message" in pushed["message"]
    assert_no_secret(run)


def test_channel_picks_one_kind(tmp_path: Path, smtp_server: StartServer,
                                httpserver_ipv4: HTTPServer) -> None:
    handler = Collector()
    server = smtp_server(handler, authenticator=_accepting, auth_require_tls=False)
    httpserver_ipv4.expect_request("/hook").respond_with_data("", status=204)
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'sg.db'}",
                          email=email_config(server.port),
                          webhooks=[{"url": httpserver_ipv4.url_for("/hook"),
                                     "secret": WEBHOOK_SECRET}],
                          apprise=[push_url(httpserver_ipv4, "coach", COACH_TOKEN)])

    webhook_only = run_test_notify(config, "--channel", "webhook")
    file_only = run_test_notify(config, "--channel", "file")

    assert webhook_only.returncode == 0, webhook_only.stdout + webhook_only.stderr
    assert file_only.returncode == 0, file_only.stdout + file_only.stderr
    assert [line.split()[0] for line in file_only.stdout.splitlines()] == ["file"]
    assert [line.split()[0] for line in webhook_only.stdout.splitlines()] == ["webhook"]
    assert [request.path for request, _ in httpserver_ipv4.log] == ["/hook"]  # no push
    assert handler.received == []
    [eml] = (tmp_path / "mail").glob("*.eml")
    assert str(eml) in line_of(file_only, "file")
    written = message_from_bytes(eml.read_bytes(), policy=default_policy)
    assert written["X-StrideGuard-Kind"] == "test"


def test_athlete_gets_what_their_alerts_reach(tmp_path: Path, smtp_server: StartServer,
                                              httpserver_ipv4: HTTPServer) -> None:
    handler = Collector()
    server = smtp_server(handler, authenticator=_accepting, auth_require_tls=False)
    for path in ("/hook", f"/coach/{COACH_TOKEN}", f"/runner/{RUNNER_TOKEN}"):
        httpserver_ipv4.expect_request(path).respond_with_data("", status=200)
    database_url = f"sqlite:///{tmp_path / 'sg.db'}"
    config = write_config(
        tmp_path, database_url, email=email_config(server.port),
        webhooks=[{"url": httpserver_ipv4.url_for("/hook"), "secret": WEBHOOK_SECRET}],
        apprise=[push_url(httpserver_ipv4, "coach", COACH_TOKEN)],
        athletes=[{"id": "ana", "name": "Ana", "email": ANA,
                   "apprise": [push_url(httpserver_ipv4, "runner", RUNNER_TOKEN)]},
                  {"id": "ben", "name": "Ben"}])

    ana = run_test_notify(config, "--athlete", "ana")
    ben = run_test_notify(config, "--athlete", "ben")

    assert ana.returncode == 0 and ben.returncode == 0, ana.stdout + ana.stderr + ben.stderr
    assert [line.split()[0] for line in ana.stdout.splitlines()] == [
        "email", "webhook", "push", "push"]  # Ana's phone and the coach's
    ana_push, coach_push = [line for line in ana.stdout.splitlines() if line.startswith("push")]
    assert "/runner/<redacted> (ana's, push:" in ana_push
    assert "/coach/<redacted> (the coach's, push:" in coach_push
    assert [line.split()[0] for line in ben.stdout.splitlines()] == ["email", "webhook", "push"]
    assert [r.rcpt_tos for r in handler.received] == [[ANA, COACH], [COACH]]
    to_ana, to_ben = mail(handler, 0), mail(handler, 1)
    assert to_ana["X-StrideGuard-Athlete"] == "ana" and "for Ana" in to_ana["Subject"]
    assert to_ben["X-StrideGuard-Athlete"] == "ben"
    hooks = [json.loads(r.get_data()) for r, _ in httpserver_ipv4.log if r.path == "/hook"]
    assert [(h["type"], h["data"]["athlete"]) for h in hooks] == [
        ("alert.test", "ana"), ("alert.test", "ben")]
    pushes = [r.path.split("/")[1] for r, _ in httpserver_ipv4.log if r.path != "/hook"]
    assert sorted(pushes) == ["coach", "coach", "runner"]
    assert {r.athlete_id for r in rows(database_url)} == {"ana", "ben"}
    assert_no_secret(ana)


def test_bad_requests_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       httpserver_ipv4: HTTPServer) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'sg.db'}",
                          webhooks=[{"url": httpserver_ipv4.url_for("/hook"),
                                     "secret": WEBHOOK_SECRET}])
    base = ["--config", str(config), "test-notify"]
    cases = {("--channel", "sms"): "unknown channel kind 'sms'; the kinds are: email, webhook, "
                                   "push, file",
             ("--channel", "push"): "no push URL reaches the coach: add one to notify.apprise",
             ("--channel", "email"): "no email is configured (notify.email)",
             ("--athlete", "zoe"): "unknown athlete 'zoe'; the athletes are: ana, ben"}
    for args, message in cases.items():
        assert main([*base, *args]) != 0
        captured = capsys.readouterr()
        assert message in captured.err and captured.out == ""
    assert httpserver_ipv4.log == []  # nothing was sent


def test_with_nothing_configured_the_test_is_an_eml_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'sg.db'}")
    apprise_log = logging.getLogger("apprise")
    assert apprise_log.propagate
    assert main(["--config", str(config), "test-notify", "--athlete", "ana"]) == 0
    assert apprise_log.propagate  # quiet during the command only: later tests still see it
    [eml] = (tmp_path / "mail").glob("*.eml")
    assert capsys.readouterr().out.split()[:2] == ["file", "ok"]
    written = message_from_bytes(eml.read_bytes(), policy=default_policy)
    assert (written["X-StrideGuard-Kind"], written["X-StrideGuard-Athlete"]) == ("test", "ana")


def test_an_unreachable_webhook_says_connection_refused() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/hooks/strideguard?token=QueryTok3n"
    config = ServiceConfig.model_validate(
        {"notify": {"webhooks": [{"url": url, "secret": WEBHOOK_SECRET}]}})
    target = Target(webhook_channel_name(config.notify.webhooks[0]))
    outcome = send_probe(config, target, None)
    assert not outcome.ok and outcome.status is None
    assert outcome.cause == "connection refused"  # the target names the receiver once
    assert outcome.target.startswith("http://127.0.0.1:") and "/…" in outcome.target
    assert "QueryTok3n" not in outcome.cause + outcome.target


def test_a_failed_push_shows_the_status_apprise_saw_without_the_token(
        httpserver_ipv4: HTTPServer) -> None:
    httpserver_ipv4.expect_request(f"/coach/{COACH_TOKEN}").respond_with_data(
        f"no such topic {COACH_TOKEN}", status=500)
    config = ServiceConfig.model_validate(
        {"notify": {"apprise": [push_url(httpserver_ipv4, "coach", COACH_TOKEN)]}})
    [target] = probe_targets(config, None, "push")
    outcome = send_probe(config, target, None)
    assert (outcome.ok, outcome.status) == (False, "HTTP 500")
    assert "error=500" in outcome.cause
    assert COACH_TOKEN not in outcome.cause + outcome.target


def test_a_webhook_with_an_untrusted_certificate_says_so() -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class NoContent(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(server_tls)
    with HTTPServer(("127.0.0.1", 0), NoContent) as receiver:
        receiver.socket = server_tls.wrap_socket(receiver.socket, server_side=True)
        threading.Thread(target=receiver.serve_forever, daemon=True).start()
        url = f"https://127.0.0.1:{receiver.server_address[1]}/hook"
        config = ServiceConfig.model_validate(
            {"notify": {"webhooks": [{"url": url, "secret": WEBHOOK_SECRET}]}})
        outcome = send_probe(config, Target(webhook_channel_name(config.notify.webhooks[0])),
                             None)
        receiver.shutdown()
    assert not outcome.ok and outcome.cause.startswith("certificate not trusted: ")
    assert outcome.target.startswith(f"{url_label(url)} (webhook:")


def test_a_webhook_url_password_and_tokens_are_never_printed_stored_or_logged(
        tmp_path: Path, httpserver_ipv4: HTTPServer) -> None:
    """The receiver echoes the URL's password and path token in its answer; `-v` logs every
    request line (urllib3 at DEBUG) and every log record."""
    password, path_token, query_token = "HookPassw0rd", "PathT0kenZap", "QueryS3cretTok"
    httpserver_ipv4.expect_request(f"/hooks/{path_token}").respond_with_data(
        f"401 bad login for alerts:{password} on {path_token}", status=401)
    url = (f"http://alerts:{password}@127.0.0.1:{httpserver_ipv4.port}/hooks/{path_token}"
           f"?token={query_token}")
    database_url = f"sqlite:///{tmp_path / 'sg.db'}"
    config = write_config(tmp_path, database_url,
                          webhooks=[{"url": url, "secret": WEBHOOK_SECRET}])

    run = subprocess.run([*STRIDEGUARD, "--config", str(config), "-v", "test-notify"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)

    assert run.returncode == 1, run.stdout + run.stderr
    line = line_of(run, "webhook")
    assert "failed  HTTP 401" in line and "authentication rejected" in line
    assert "DEBUG urllib3.connectionpool" in run.stderr  # -v did log the request line
    assert len(httpserver_ipv4.log) == 1
    assert_no_secret(run, database_url,
                     secrets=(*SECRETS, password, path_token, query_token,
                              base64.b64encode(f"alerts:{password}".encode()).decode()))



def test_an_smtp_server_that_never_greets_says_timed_out() -> None:
    with socket.socket() as silent:  # the kernel accepts the connection; nobody ever answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        config = ServiceConfig.model_validate({"notify": {"email": {
            "host": "127.0.0.1", "port": silent.getsockname()[1], "security": "none",
            "sender": "sg@example.org", "to": [COACH], "timeout": "1s"}}})
        [target] = probe_targets(config, None, "email")
        outcome = send_probe(config, target, None)
    assert (outcome.ok, outcome.status) == (False, None)
    assert outcome.cause == "timed out waiting for the server's reply"
