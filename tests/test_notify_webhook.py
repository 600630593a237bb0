"""Webhook channel against a real loopback HTTP receiver: status table, signing, redaction."""

from __future__ import annotations

import base64
import json
import logging
import socket
import time
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
import requests
from pytest_httpserver import HTTPServer
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from werkzeug import Request, Response

from config.schema import WebhookConfig
from notify.channels import webhook
from notify.channels.webhook import (
    build_headers,
    post_signed,
    secret_parts,
    sign,
    signature_key,
    url_label,
)

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
SECRET_KEY_B64 = SECRET.removeprefix("whsec_")
EVENT_ID = "evt_01JD3Z8K4QH2W7X9"
BODY = json.dumps(
    {"type": "alert.firing", "timestamp": "2026-11-21T07:00:00Z", "data": {"rule": "r"}},
    separators=(",", ":"),
).encode()


def _config(url: str, **overrides: object) -> WebhookConfig:
    return WebhookConfig(url=url, secret=SECRET, **overrides)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _assert_no_secret(reason: str) -> None:
    assert SECRET not in reason
    assert SECRET_KEY_B64 not in reason


# --- signing ---------------------------------------------------------------------------------


def test_signature_key_strips_prefix_and_decodes_base64() -> None:
    assert signature_key(SECRET) == b"0123456789abcdef0123456789abcdef"
    assert signature_key("plain-secret") == b"plain-secret"


def test_signature_key_rejects_bad_base64_without_echoing_it() -> None:
    with pytest.raises(ValueError) as excinfo:
        signature_key("whsec_not*base64!")
    assert "not*base64" not in str(excinfo.value)


def test_sign_matches_reference_library() -> None:
    timestamp_s = int(time.time())
    headers = {
        "webhook-id": EVENT_ID,
        "webhook-timestamp": str(timestamp_s),
        "webhook-signature": sign(SECRET, EVENT_ID, timestamp_s, BODY),
    }
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(SECRET).verify(BODY, headers)["type"] == "alert.firing"
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY.replace(b"firing", b"fixing"), headers)


def test_secret_without_prefix_is_used_as_utf8_bytes() -> None:
    timestamp_s = int(time.time())
    headers = build_headers("plain-secret", EVENT_ID, timestamp_s, BODY)
    Webhook(b"plain-secret").verify(BODY, headers)


def test_build_headers_carry_id_as_idempotency_key() -> None:
    headers = build_headers(SECRET, EVENT_ID, 1_700_000_000, BODY)
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("strideguard/")
    assert headers["webhook-id"] == headers["Idempotency-Key"] == EVENT_ID
    assert headers["webhook-timestamp"] == "1700000000"


def test_dot_in_event_id_is_a_permanent_failure(httpserver_ipv4: HTTPServer) -> None:
    result = post_signed(BODY, "evt.1", _config(httpserver_ipv4.url_for("/hook")))
    assert (result.ok, result.retryable) == (False, False)
    assert httpserver_ipv4.log == []


# --- delivery ---------------------------------------------------------------------------------


def test_delivery_sends_exact_bytes_verifiable_by_standardwebhooks(
    httpserver_ipv4: HTTPServer,
) -> None:
    httpserver_ipv4.expect_request("/hook", method="POST").respond_with_data("", status=204)

    result = post_signed(BODY, EVENT_ID, _config(httpserver_ipv4.url_for("/hook")))

    assert result.ok, result.reason
    request, _ = httpserver_ipv4.log[0]
    assert request.get_data() == BODY
    assert request.headers["Idempotency-Key"] == EVENT_ID
    assert request.headers["User-Agent"].startswith("strideguard/")
    payload = Webhook(SECRET).verify(request.get_data(), dict(request.headers))
    assert payload["type"] == "alert.firing"


def test_retry_reuses_id_with_fresh_timestamp_and_signature(httpserver_ipv4: HTTPServer) -> None:
    httpserver_ipv4.expect_request("/hook").respond_with_data("", status=503)
    config = _config(httpserver_ipv4.url_for("/hook"))
    now = time.time()

    post_signed(BODY, EVENT_ID, config, now_s=lambda: now)
    post_signed(BODY, EVENT_ID, config, now_s=lambda: now + 30)

    first, second = (request.headers for request, _ in httpserver_ipv4.log)
    assert first["webhook-id"] == second["webhook-id"] == EVENT_ID
    assert int(second["webhook-timestamp"]) == int(first["webhook-timestamp"]) + 30
    assert first["webhook-signature"] != second["webhook-signature"]


STATUS_TABLE = [
    # status, ok, retryable, disable_endpoint
    (200, True, False, False),
    (201, True, False, False),
    (204, True, False, False),
    (301, False, False, False),
    (302, False, False, False),
    (400, False, False, False),
    (401, False, False, False),
    (403, False, False, False),
    (404, False, False, False),
    (410, False, False, True),  # permanent and disables the endpoint
    (422, False, False, False),
    (408, False, True, False),
    (425, False, True, False),
    (429, False, True, False),
    (500, False, True, False),
    (502, False, True, False),
    (503, False, True, False),
    (504, False, True, False),
]


@pytest.mark.parametrize(("status", "ok", "retryable", "disable"), STATUS_TABLE)
def test_status_table(
    httpserver_ipv4: HTTPServer, status: int, ok: bool, retryable: bool, disable: bool
) -> None:
    headers = {"Location": httpserver_ipv4.url_for("/elsewhere")} if 300 <= status < 400 else {}
    httpserver_ipv4.expect_request("/hook").respond_with_data(
        f"status {status} body", status=status, headers=headers
    )
    httpserver_ipv4.expect_request("/elsewhere").respond_with_data("followed", status=200)

    result = post_signed(BODY, EVENT_ID, _config(httpserver_ipv4.url_for("/hook")))

    assert (result.ok, result.retryable, result.disable_endpoint) == (ok, retryable, disable)
    assert [request.path for request, _ in httpserver_ipv4.log] == ["/hook"]  # no redirects
    assert result.retry_after_s is None
    if not ok:
        assert str(status) in result.reason
        assert f"status {status} body" in result.reason
    if status in (401, 403):
        assert "auth" in result.reason
    _assert_no_secret(result.reason)


def test_429_honours_retry_after_seconds(httpserver_ipv4: HTTPServer) -> None:
    httpserver_ipv4.expect_request("/hook").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "7"}
    )
    result = post_signed(BODY, EVENT_ID, _config(httpserver_ipv4.url_for("/hook")))
    assert (result.ok, result.retryable, result.retry_after_s) == (False, True, 7)


def test_503_honours_retry_after_http_date(httpserver_ipv4: HTTPServer) -> None:
    now_s = 1_790_000_000.0
    later = format_datetime(datetime.fromtimestamp(now_s + 120, UTC), usegmt=True)
    httpserver_ipv4.expect_request("/hook").respond_with_data(
        "", status=503, headers={"Retry-After": later}
    )
    config = _config(httpserver_ipv4.url_for("/hook"))
    result = post_signed(BODY, EVENT_ID, config, now_s=lambda: now_s)
    assert result.retryable
    assert result.retry_after_s == pytest.approx(120)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        ("  30 ", 30.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("-5", None),
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert webhook.parse_retry_after(value, now_s=1_000.0) == expected


def test_long_body_is_cut_to_200_chars(httpserver_ipv4: HTTPServer) -> None:
    httpserver_ipv4.expect_request("/hook").respond_with_data("x" * 5000, status=400)
    result = post_signed(BODY, EVENT_ID, _config(httpserver_ipv4.url_for("/hook")))
    assert "x" * 200 in result.reason
    assert "x" * 201 not in result.reason


def test_secret_echoed_by_receiver_is_redacted(httpserver_ipv4: HTTPServer) -> None:
    httpserver_ipv4.expect_request("/hook").respond_with_data(f"bad secret {SECRET}", status=401)
    result = post_signed(BODY, EVENT_ID, _config(httpserver_ipv4.url_for("/hook")))
    assert not result.ok
    assert "<redacted>" in result.reason
    _assert_no_secret(result.reason)


def test_read_timeout_is_retryable(httpserver_ipv4: HTTPServer) -> None:
    def slow(_request: Request) -> Response:
        time.sleep(0.5)
        return Response("late", status=200)

    httpserver_ipv4.expect_request("/hook").respond_with_handler(slow)
    config = _config(httpserver_ipv4.url_for("/hook"), read_timeout=0.1)

    started = time.monotonic()
    result = post_signed(BODY, EVENT_ID, config)
    elapsed_s = time.monotonic() - started
    # Let the single-threaded server finish so its late log entry does not leak into other tests.
    deadline_s = time.monotonic() + 2
    while not httpserver_ipv4.log and time.monotonic() < deadline_s:
        time.sleep(0.01)

    assert elapsed_s < 0.45
    assert (result.ok, result.retryable) == (False, True)
    assert "timeout" in result.reason.lower()
    _assert_no_secret(result.reason)


def test_connection_refused_is_retryable_and_url_redacted() -> None:
    port = _closed_port()
    url = f"http://hookuser:hookpass@127.0.0.1:{port}/hook?token=tok123"
    result = post_signed(BODY, EVENT_ID, _config(url, connect_timeout=1))
    assert (result.ok, result.retryable) == (False, True)
    assert result.reason == f"http://127.0.0.1:{port}/…: connection refused"
    for leaked in ("tok123", "hookpass", "hookuser"):
        assert leaked not in result.reason
    _assert_no_secret(result.reason)


def test_a_url_password_echoed_alone_is_hidden_and_nothing_secret_is_logged(
        httpserver_ipv4: HTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    """The receiver answers with the password alone (not `user:password`); urllib3 logs the
    request line, path and query, at DEBUG."""
    password, path_token, query_token = "HookPassw0rd", "PathT0kenZap", "QueryS3cretTok"
    httpserver_ipv4.expect_request(f"/hooks/{path_token}").respond_with_data(
        f"wrong password {password} for {path_token}", status=401)
    url = (f"http://user:{password}@127.0.0.1:{httpserver_ipv4.port}/hooks/{path_token}"
           f"?token={query_token}")
    with caplog.at_level(logging.DEBUG):
        result = post_signed(BODY, EVENT_ID, _config(url))
    assert not result.ok and result.reason.startswith("authentication rejected: HTTP 401")
    assert "urllib3.connectionpool" in {record.name for record in caplog.records}
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for leaked in (password, path_token, query_token, SECRET, SECRET_KEY_B64):
        assert leaked not in result.reason
        assert leaked not in logged, f"{leaked!r} was logged"


def test_secret_parts_keep_the_host_that_names_the_receiver() -> None:
    parts = secret_parts(_config("http://user:Passw0rd1@receiver:8080/hooks/Tok3nPath?k=Val9ue"))
    assert {"Passw0rd1", "Tok3nPath", "Val9ue", SECRET, SECRET_KEY_B64} <= set(parts)
    assert "receiver" not in parts and "hooks" not in parts


def test_caller_session_is_used(httpserver_ipv4: HTTPServer) -> None:
    httpserver_ipv4.expect_request("/hook").respond_with_data("ok")
    with requests.Session() as session:
        session.headers["X-Probe"] = "1"
        config = _config(httpserver_ipv4.url_for("/hook"))
        result = post_signed(BODY, EVENT_ID, config, session=session)
    assert result.ok
    assert httpserver_ipv4.log[0][0].headers["X-Probe"] == "1"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://u:p@hooks.example.com:8443/a/b?token=x#frag",
            "https://hooks.example.com:8443/…",
        ),
        ("https://api.svix.com/api/v1/receive/T0KEN/", "https://api.svix.com/…"),
        ("http://example.com/hook", "http://example.com/…"),
        ("http://example.com/", "http://example.com/"),
        ("http://example.com", "http://example.com"),
        ("http://example.com/?token=x", "http://example.com/…"),
        ("http://[::1]:9000/h?q=1", "http://[::1]:9000/…"),
        ("http://example.com:notaport/", "<redacted>"),
    ],
)
def test_url_label_names_the_receiver_without_path_or_query(url: str, expected: str) -> None:
    assert url_label(url) == expected
