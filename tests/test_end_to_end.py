"""End to end: FIT files dropped in the inbox become one email and one signed webhook, once."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from smtp_sink import Collector, LoopbackController
from standardwebhooks.webhooks import Webhook

from cli import main
from fitwriter.synthetic import weekly_plan, write_plan

WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SMTP_PASSWORD = "never-in-logs-7731"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def hook(httpserver: HTTPServer) -> HTTPServer:
    httpserver.expect_request("/hooks/strideguard", method="POST").respond_with_data("ok")
    return httpserver


def write_config(folder: Path, smtp_port: int, webhook_url: str) -> Path:
    config = folder / "strideguard.yaml"
    config.write_text(f"""
database: sqlite:///data/strideguard.db
timezone: UTC
ingest:
  stability: 0s
athletes:
  - id: ana
    name: Ana
    email: ana@example.com
notify:
  email:
    host: 127.0.0.1
    port: {smtp_port}
    security: none
    password: ${{SMTP_PASSWORD}}
    sender: "StrideGuard <alerts@example.com>"
  webhooks:
    - url: {webhook_url}
      secret: ${{WEBHOOK_SECRET}}
""", encoding="utf-8")
    return config


def drop_history(folder: Path, today: date) -> None:
    """Eight steady weeks (7,7,7,7 km and an 8 km long run, two strength sessions), then a
    week whose long run, today, is 16 km: a 2.0× single-run spike and +22 % for the week."""
    plan = weekly_plan(today, 9, [7.0, 7.0, 7.0, 7.0, 8.0], final_run_km=16.0)
    write_plan(plan, folder / "data" / "inbox" / "ana")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("SMTP_PASSWORD", SMTP_PASSWORD)


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def smtp(smtp_port: int) -> Iterator[tuple[Collector, LoopbackController]]:
    collector = Collector()
    controller = LoopbackController(collector, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    yield collector, controller
    controller.stop()


def run_once(config: Path) -> int:
    return main(["--config", str(config), "run", "--once"])


def test_spike_becomes_one_email_and_one_verified_webhook_exactly_once(
        tmp_path: Path, env: None, smtp: tuple[Collector, LoopbackController], smtp_port: int,
        hook: HTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    collector, _controller = smtp
    config = write_config(tmp_path, smtp_port, hook.url_for("/hooks/strideguard"))
    today = datetime.now(UTC).date()
    drop_history(tmp_path, today)

    assert run_once(config) == 0

    assert len(collector.received) == 1
    mail = collector.received[0]
    assert mail.rcpt_tos == ["ana@example.com"]
    message = message_from_bytes(mail.content, policy=default_policy)
    assert message["Subject"].startswith("[StrideGuard warn] ") and "Ana" in message["Subject"]
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "16.0 km run" in text and "8.0 km" in text  # what was seen, with the numbers
    assert "Frandsen" in text  # why it matters, with its source
    assert "1.1 × your longest run" in text and "8.8 km" in text  # what to do, concretely
    assert "physiotherapist" in text and "not medical advice" in text
    assert message.get_body(preferencelist=("html",)) is not None

    assert len(hook.log) == 1
    request, _response = hook.log[0]
    body = request.get_data()
    verified = Webhook(WEBHOOK_SECRET).verify(body, dict(request.headers))
    assert request.headers["Idempotency-Key"] == request.headers["webhook-id"]
    assert verified["type"] == "alert.firing"
    data = verified["data"]
    assert data["rule"] == "single_run_spike" and data["athlete"] == "ana"
    assert data["severity"] == "warn" and data["metric"] == "longest_run_ratio_30d"
    assert data["value"] == pytest.approx(2.0) and data["threshold"] == pytest.approx(1.1)
    assert data["as_of"] == today.isoformat() and data["activity_ids"]
    assert data["advice"] and data["summary"]

    # nothing new: the second cycle sends nothing
    assert run_once(config) == 0
    assert len(collector.received) == 1 and len(hook.log) == 1

    archived = list((tmp_path / "data" / "archive" / "ana").rglob("*.fit"))
    assert len(archived) == 9 * 7  # 5 runs + 2 strength sessions a week, all archived
    assert SMTP_PASSWORD not in caplog.text and WEBHOOK_SECRET not in caplog.text


def test_email_waits_while_smtp_is_down_and_arrives_once_after(
        tmp_path: Path, env: None, smtp_port: int, hook: HTTPServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, smtp_port, hook.url_for("/hooks/strideguard"))
    drop_history(tmp_path, datetime.now(UTC).date())

    assert run_once(config) == 0  # SMTP server not running: the run still succeeds
    assert len(hook.log) == 1  # the webhook does not wait for the email
    assert main(["--config", str(config), "alerts", "--json"]) == 0
    [alert] = json.loads(capsys.readouterr().out)
    states = {d["channel"]: d["status"] for d in alert["deliveries"]}
    assert states["email"] == "retry"

    collector = Collector()
    controller = LoopbackController(collector, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        assert run_once(config) == 0
        assert run_once(config) == 0
    finally:
        controller.stop()
    assert len(collector.received) == 1
    assert collector.received[0].rcpt_tos == ["ana@example.com"]
    assert len(hook.log) == 1
