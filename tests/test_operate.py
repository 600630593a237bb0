"""`strideguard outbox retry` and `strideguard status`: dead and waiting notifications sent again
under the same ids, and what an operator sees before and after; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO, STRIDEGUARD
from pytest_httpserver import HTTPServer
from smtp_sink import Collector, LoopbackController
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook
from werkzeug import Request, Response

from cli import EXIT_DATABASE, main
from config.schema import ServiceConfig
from fitwriter.synthetic import weekly_plan, write_plan
from notify.channels.push import channel_name as push_name
from notify.channels.webhook import channel_name as webhook_name
from notify.channels.webhook import url_label
from notify.outbox import OutboxStatus, enqueue_notice
from notify.requeue import requeue
from store import (
    Alert,
    FileOutcome,
    OutboxMessage,
    Silence,
    Store,
    Worker,
    ensure_athlete,
    open_store,
)
from store.status import local_day_bounds, read_status
from wiring import open_app

WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
GIVE_UP_AFTER = timedelta(hours=48)
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
# the channels requeue's own tests' rows are on: email, one webhook and one push URL
CONFIG = ServiceConfig.model_validate({
    "athletes": [{"id": "ana", "email": "ana@example.com"}],
    "notify": {"email": {"host": "127.0.0.1", "sender": "sg@example.com"},
               "webhooks": [{"url": "https://hooks.example.com/in/T0kenPath",
                             "secret": WEBHOOK_SECRET}],
               "apprise": ["json://127.0.0.1:9/push/C0achToken"]}})
HOOK = webhook_name(CONFIG.notify.webhooks[0])
PUSH = push_name(CONFIG.notify.apprise[0].get_secret_value())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_config(folder: Path, database_url: str, smtp_port: int,
                 webhook_url: str | None = None, timezone: str = "UTC") -> Path:
    webhooks = (f"  webhooks:\n    - url: {webhook_url}\n      secret: {WEBHOOK_SECRET}\n"
                if webhook_url else "")
    config = folder / "strideguard.yaml"
    config.write_text(f"""
database: "{database_url}"
timezone: {timezone}
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
    sender: "StrideGuard <alerts@example.com>"
    timeout: 5s
{webhooks}""", encoding="utf-8")
    return config


def strideguard(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command in a child process, as an operator runs it (wide, so tables do not wrap)."""
    return subprocess.run([*STRIDEGUARD, "--config", str(config), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=180,
                          env={**os.environ, "COLUMNS": "400"})


@pytest.fixture
def smtp() -> Iterator[tuple[Collector, LoopbackController]]:
    collector = Collector()
    controller = LoopbackController(collector, hostname="127.0.0.1", port=0)
    controller.start()
    yield collector, controller
    controller.stop()


class Receiver:
    """A webhook endpoint whose answer the test changes; keeps the ids it accepted."""

    def __init__(self) -> None:
        self.status = 400
        self.accepted: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, request: Request) -> Response:
        if self.status != 200:
            return Response("endpoint not set up yet", status=self.status)
        body = Webhook(WEBHOOK_SECRET).verify(request.get_data(), dict(request.headers))
        self.accepted.append((request.headers["webhook-id"], body))
        return Response("ok", status=200)


# --- end to end: dead while SMTP refused, sent once after `outbox retry --dead` -----------------


def test_dead_alert_is_shown_then_sent_once_with_the_same_ids(
        tmp_path: Path, database_url: str, smtp: tuple[Collector, LoopbackController],
        httpserver: HTTPServer) -> None:
    collector, controller = smtp
    collector.data_reply = "550 5.7.1 sender rejected by policy"  # permanent: dead at once
    receiver = Receiver()  # 400: permanent too
    httpserver.expect_request("/hook", method="POST").respond_with_handler(receiver)
    config = write_config(tmp_path, database_url, controller.port, httpserver.url_for("/hook"))
    today = datetime.now(UTC).date()
    # eight steady weeks, then a 16 km long run today: a single_run_spike alert fires
    write_plan(weekly_plan(today, 9, [7.0, 7.0, 7.0, 7.0, 8.0], final_run_km=16.0),
               tmp_path / "data" / "inbox" / "ana")

    done = strideguard(config, "run", "--once")
    assert done.returncode == 0, done.stderr
    assert collector.received == [] and receiver.accepted == []

    # status shows both dead, with their errors, and the cycle as the last scan
    shown = strideguard(config, "status", "--json")
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)
    [worker] = status["workers"]
    assert status["last_scan_at"] == worker["last_scan_at"] is not None
    assert worker["stopped_at"] is not None and worker["last_dispatch_at"] is not None
    assert status["dead"]["count"] == 2
    dead = {row["channel_kind"]: row for row in status["dead"]["recent"]}
    assert set(dead) == {"email", "webhook"}
    assert dead["email"]["kind"] == "firing" and dead["email"]["athlete"] == "ana"
    assert "550 5.7.1 sender rejected by policy" in dead["email"]["last_error"]
    assert "400" in dead["webhook"]["last_error"]
    assert status["files_today"]["by_status"] == {"ingested": 9 * 7}
    assert status["files_today"]["day"] == today.isoformat()
    assert status["open_alerts"]["by_severity"]["warn"] == {"open": 1, "silenced": 0}
    assert status["outbox"]["depth"] == 0
    text = strideguard(config, "status").stdout
    assert "dead notifications: 2" in text
    assert "last scan: never" not in text
    assert "email firing ana" in text and "550 5.7.1 sender rejected" in text
    table = strideguard(config, "alerts").stdout
    assert "email firing dead: 127.0.0.1:" in table and "550 5.7.1" in table

    # both fixed; only the webhook is retried first: the email stays dead and unsent
    collector.data_reply = None
    receiver.status = 200
    webhook_only = strideguard(config, "outbox", "retry", "--dead", "--channel", "webhook")
    assert webhook_only.returncode == 0, webhook_only.stdout + webhook_only.stderr
    assert webhook_only.stdout.startswith("1 notifications put back in the queue on webhook")
    hook_label = f"{url_label(httpserver.url_for('/hook'))} ({dead['webhook']['channel']})"
    assert "/hook" not in hook_label  # the path may hold a token: never printed
    assert (f"webhook firing {dead['webhook']['event_id']} to {hook_label}: sent"
            in webhook_only.stdout)
    [(webhook_id, body)] = receiver.accepted
    assert webhook_id == dead["webhook"]["event_id"] and body["type"] == "alert.firing"
    assert collector.received == []
    assert json.loads(strideguard(config, "status", "--json").stdout)["dead"]["count"] == 1

    retried = strideguard(config, "outbox", "retry", "--dead")
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert retried.stdout.startswith("1 notifications put back in the queue (0 waiting to "
                                     "retry, 1 dead)")
    assert f"email firing {dead['email']['event_id']}: sent" in retried.stdout
    [mail] = collector.received
    message = message_from_bytes(mail.content, policy=default_policy)
    assert message["Message-ID"] == f"<{dead['email']['event_id']}@strideguard>"
    assert mail.rcpt_tos == ["ana@example.com"]

    again = strideguard(config, "outbox", "retry", "--dead")
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.startswith("0 notifications put back")
    assert len(collector.received) == 1 and len(receiver.accepted) == 1
    after = json.loads(strideguard(config, "status", "--json").stdout)
    assert after["dead"] == {"count": 0, "recent": []}
    deliveries = json.loads(strideguard(config, "alerts", "--json").stdout)[0]["deliveries"]
    assert {d["status"] for d in deliveries} == {"sent"}
    # the attempt that sent it replaced the old errors (a webhook's success says "HTTP 200")
    assert not any("550" in (d["last_error"] or "") or "400" in (d["last_error"] or "")
                   for d in deliveries), deliveries


def test_retry_failing_again_exits_non_zero_and_stays_dead(
        tmp_path: Path, database_url: str, smtp: tuple[Collector, LoopbackController],
        capsys: pytest.CaptureFixture[str]) -> None:
    collector, controller = smtp
    collector.data_reply = "554 5.7.1 still refused"
    config = write_config(tmp_path, database_url, controller.port)
    event_id = _queue_notice(config)
    with open_app(str(config)) as app:
        assert app.dispatch() == {"dead": 1}

    assert main(["--config", str(config), "outbox", "retry", "--dead"]) == 1
    out = capsys.readouterr().out
    assert f"email notice {event_id}: failed, dead: 127.0.0.1:{controller.port}: 554" in out
    assert "1 failed again" in out
    with open_app(str(config)) as app, app.store.session() as session:
        row = session.scalars(select(OutboxMessage)).one()
        assert (row.status, row.attempts, row.event_id) == ("dead", 1, event_id)
        assert "554 5.7.1 still refused" in (row.last_error or "")


def test_outbox_retry_without_dead_sends_waiting_rows_now(
        tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()  # nothing listens yet: the email waits to retry
    config = write_config(tmp_path, database_url, port)
    event_id = _queue_notice(config)
    with open_app(str(config)) as app:
        assert app.dispatch() == {"retry": 1}
        with app.store.session() as session:
            row = session.scalars(select(OutboxMessage)).one()
            assert row.next_attempt_at > datetime.now(UTC) + timedelta(seconds=20)

    collector = Collector()
    controller = LoopbackController(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert main(["--config", str(config), "outbox", "retry"]) == 0
    finally:
        controller.stop()
    out = capsys.readouterr().out
    assert out.startswith("1 notifications put back in the queue (1 waiting to retry)")
    assert f"email notice {event_id}: sent" in out
    [mail] = collector.received
    assert message_from_bytes(mail.content, policy=default_policy)["Message-ID"] == (
        f"<{event_id}@strideguard>")


def test_unknown_channel_kind_is_a_clear_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'sg.db'}", free_port())
    assert main(["--config", str(config), "outbox", "retry", "--channel", "sms"]) != 0
    err = capsys.readouterr().err
    assert "--channel: unknown channel kind 'sms'; the kinds are: email, webhook" in err


def test_a_database_that_is_down_is_one_line_and_exit_3(tmp_path: Path) -> None:
    password = "DbPassw0rd-9f1e"
    url = f"postgresql+psycopg://sg:{password}@127.0.0.1:{free_port()}/sg?connect_timeout=5"
    config = write_config(tmp_path, url, free_port())
    for args in (("status",), ("outbox", "retry", "--dead"), ("test-notify", "--athlete", "ana")):
        done = strideguard(config, *args)
        assert done.returncode == EXIT_DATABASE == 3, done.stdout + done.stderr
        [line] = done.stderr.splitlines()
        assert line.startswith("strideguard: cannot use the database postgresql+psycopg://sg:***@"
                               "127.0.0.1:"), line
        assert "refused" in line.lower()
        assert password not in done.stdout + done.stderr


def _queue_notice(config: Path) -> str:
    """Queue one real email (a runner notice) through the outbox; its event id."""
    notice = {"athlete": "ana", "athlete_name": "Ana", "subject": "Your silence ends tomorrow",
              "lines": ["The holiday silence ends tomorrow."], "disclaimer": "Not advice."}
    with open_app(str(config)) as app, app.store.session() as session:
        [row] = enqueue_notice(session, app.config, notice, key=f"test-{uuid.uuid4().hex}")
        return row.event_id


# --- requeue on its own: which rows, which fields ---------------------------------------------


def _alert(session: Any, athlete: str = "ana", severity: str = "warn", rule: str = "spike",
           silence_id: str | None = None, resolved: bool = False) -> Alert:
    ensure_athlete(session, athlete)
    alert = Alert(id=str(uuid.uuid4()), rule_id=rule, athlete_id=athlete, episode=1,
                  severity=severity, metric="m", value=2.0, threshold=1.1,
                  as_of=NOW.date(), fired_at=NOW - timedelta(days=1),
                  resolved_at=NOW if resolved else None, silence_id=silence_id, payload={})
    session.add(alert)
    session.flush()
    return alert


def _outbox(session: Any, channel: str, status: str, *, alert: Alert | None = None,
            attempts: int = 3, due: datetime = NOW + timedelta(hours=1),
            lease_until: datetime | None = None, error: str | None = "boom",
            created: datetime = NOW - timedelta(days=2)) -> OutboxMessage:
    row = OutboxMessage(
        event_id=f"msg_{uuid.uuid4().hex}", dedupe_key=uuid.uuid4().hex, channel=channel,
        kind="firing", recipients=[], payload=b"x", status=status, attempts=attempts,
        next_attempt_at=due, lease_until=lease_until, give_up_at=created + GIVE_UP_AFTER,
        last_error=error, created_at=created, alert_id=alert.id if alert else None)
    session.add(row)
    session.flush()
    return row


def _rows(store: Store) -> dict[str, OutboxMessage]:
    with store.session() as session:
        rows = session.scalars(select(OutboxMessage)).all()
        session.expunge_all()
    return {row.event_id: row for row in rows}


def test_requeue_picks_rows_by_status_and_channel_kind(store: Store) -> None:
    with store.session() as session:
        alert = _alert(session)
        ids = {name: _outbox(session, channel, status, alert=alert).event_id
               for name, channel, status in [
                   ("email_retry", "email", "retry"), ("email_dead", "email", "dead"),
                   ("hook_dead", HOOK, "dead"), ("hook_retry", HOOK, "retry"),
                   ("email_sent", "email", "sent"), ("push_dead", PUSH, "dead"),
                   ("pending", "email", "pending")]}
        _outbox(session, "email", "sending", alert=alert, lease_until=NOW + timedelta(minutes=4))
    before = _rows(store)

    waiting = requeue(store, CONFIG, NOW, dead=False, channel_kind=None).requeued
    assert {row.event_id for row in waiting} == {ids["email_retry"], ids["hook_retry"]}
    assert {row.attempts for row in waiting} == {3}  # as put back: unchanged while waiting
    assert {row.was for row in waiting} == {OutboxStatus.RETRY}
    after = _rows(store)
    for name in ("email_retry", "hook_retry"):
        row = after[ids[name]]
        assert (row.status, row.next_attempt_at, row.attempts) == ("retry", NOW, 3)
        assert row.give_up_at == before[ids[name]].give_up_at
    assert after[ids["email_dead"]].status == "dead"

    later = NOW + timedelta(minutes=1)
    hooks = requeue(store, CONFIG, later, dead=True, channel_kind="webhook").requeued
    assert {row.event_id for row in hooks} == {ids["hook_dead"], ids["hook_retry"]}
    assert {(row.was, row.attempts) for row in hooks} == {(OutboxStatus.DEAD, 0),
                                                         (OutboxStatus.RETRY, 3)}
    hook = _rows(store)[ids["hook_dead"]]
    assert (hook.status, hook.attempts, hook.next_attempt_at) == ("retry", 0, later)
    assert hook.give_up_at == later + GIVE_UP_AFTER
    assert hook.last_error == "boom"  # kept until the next attempt says more
    assert _rows(store)[ids["email_dead"]].status == "dead"  # --channel webhook: left alone

    everything = requeue(store, CONFIG, later, dead=True, channel_kind=None).requeued
    assert {row.event_id for row in everything} == {
        ids["email_retry"], ids["email_dead"], ids["hook_dead"], ids["hook_retry"],
        ids["push_dead"]}
    final = _rows(store)
    assert final[ids["email_sent"]].status == "sent"  # never resurrected
    assert final[ids["pending"]].status == "pending"
    assert sum(row.status == "sending" for row in final.values()) == 1  # another worker's
    assert {row.event_id for row in final.values()} == set(before)  # the same ids, no new rows


def test_requeue_refuses_an_unknown_kind(store: Store) -> None:
    with pytest.raises(ValueError, match="unknown channel kind 'sms'"):
        requeue(store, CONFIG, NOW, dead=True, channel_kind="sms")


# --- status from the store --------------------------------------------------------------------


def test_status_reads_workers_files_outbox_dead_alerts_and_silences(store: Store) -> None:
    timezone = "America/New_York"  # UTC-5 in November: today began at 05:00 UTC
    day, start, end = local_day_bounds(NOW, timezone)
    assert (day, start, end) == (date(2026, 11, 20), datetime(2026, 11, 20, 5, tzinfo=UTC),
                                 datetime(2026, 11, 21, 5, tzinfo=UTC))
    with store.session() as session:
        ensure_athlete(session, "ana")
        ensure_athlete(session, "ben")
        for index, (status, received) in enumerate([
                ("ingested", start), ("ingested", NOW), ("quarantined", NOW),
                ("duplicate", end - timedelta(seconds=1)),
                ("ingested", start - timedelta(seconds=1)), ("ingested", end)]):
            session.add(FileOutcome(at=received, athlete_id="ana", status=status,
                                    file_name=f"{index}.fit"))
        session.add_all([
            Worker(id="h1:10:aa", hostname="h1", pid=10, started_at=NOW - timedelta(hours=2),
                   last_seen_at=NOW - timedelta(seconds=20),
                   last_scan_at=NOW - timedelta(seconds=25)),
            Worker(id="h2:11:bb", hostname="h2", pid=11, started_at=NOW - timedelta(days=1),
                   last_seen_at=NOW - timedelta(hours=3), last_scan_at=NOW - timedelta(hours=3),
                   stopped_at=NOW - timedelta(hours=3))])
        silence = Silence(id=str(uuid.uuid4()), athlete_id="ben", rule_ids=["cadence_drop"],
                          preset="holiday", starts_at=NOW - timedelta(days=1),
                          ends_at=NOW + timedelta(days=6), reason="away")
        session.add(Silence(id=str(uuid.uuid4()), athlete_id="ben", rule_ids=["x"],
                            starts_at=NOW - timedelta(days=9), ends_at=NOW - timedelta(days=2),
                            reason="over"))
        session.add(silence)
        session.flush()
        firing = _alert(session, "ana", "warn", "spike")
        _alert(session, "ana", "critical", "pain_reported")
        _alert(session, "ben", "warn", "cadence_drop", silence_id=silence.id)
        _alert(session, "ben", "info", "old", resolved=True)
        _outbox(session, "email", "pending", due=NOW - timedelta(minutes=3),
                created=NOW - timedelta(minutes=3))
        _outbox(session, "webhook:1a2b", "retry", due=NOW + timedelta(minutes=5),
                created=NOW - timedelta(hours=1))
        _outbox(session, "email", "sending", due=NOW - timedelta(minutes=1),
                lease_until=NOW + timedelta(minutes=4))
        _outbox(session, "email", "sent")
        _outbox(session, "email", "dead", alert=firing, due=NOW - timedelta(hours=5),
                error="smtp.example.com:465: authentication refused: 535")
        _outbox(session, "webhook:1a2b", "dead", due=NOW - timedelta(hours=1), error="HTTP 410")

    with store.session() as session:
        report = read_status(session, NOW, timezone)

    assert report.last_scan_at == NOW - timedelta(seconds=25)
    assert [worker.id for worker in report.workers] == ["h1:10:aa"]
    assert report.files_today == {"duplicate": 1, "ingested": 2, "quarantined": 1}
    outbox = report.outbox
    assert (outbox.pending, outbox.retry, outbox.sending, outbox.depth) == (1, 1, 1, 3)
    assert outbox.due_now == 1 and outbox.oldest_due_at == NOW - timedelta(minutes=3)
    assert outbox.oldest_queued_at == NOW - timedelta(days=2)  # the one being sent
    assert report.dead_count == 2
    assert [(row.channel, row.athlete_id, row.last_error) for row in report.dead_recent] == [
        ("webhook:1a2b", None, "HTTP 410"),
        ("email", "ana", "smtp.example.com:465: authentication refused: 535")]
    counts = {count.severity: (count.open, count.silenced) for count in report.open_alerts}
    assert counts == {"critical": (1, 0), "warn": (2, 1)}
    assert [s.id for s in report.silences] == [silence.id]


def test_status_command_text_and_json(tmp_path: Path, database_url: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, database_url, free_port(), timezone="Europe/Berlin")
    opened = open_store(database_url)
    try:
        now = datetime.now(UTC)
        with opened.session() as session:
            alert = _alert(session)
            session.add(FileOutcome(at=now, athlete_id="ana", status="quarantined",
                                    problem="damaged", file_name="a.fit"))
            session.add(Worker(id="h1:10:aa", hostname="h1", pid=10, started_at=now,
                               last_seen_at=now, last_scan_at=now))
            _outbox(session, "email", "dead", alert=alert, error="all recipients refused: 550")
    finally:
        opened.dispose()

    assert main(["--config", str(config), "status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"generated_at", "timezone", "last_scan_at", "last_scan_age_s",
                         "workers_seen_within_s", "workers", "files_today", "outbox", "dead",
                         "open_alerts", "silences"}
    assert data["timezone"] == "Europe/Berlin"
    assert data["files_today"]["by_status"] == {"quarantined": 1}
    assert [worker["id"] for worker in data["workers"]] == ["h1:10:aa"]
    assert data["outbox"]["depth"] == 0 and data["outbox"]["oldest_due_age_s"] is None
    [dead] = data["dead"]["recent"]
    assert (dead["channel_kind"], dead["kind"], dead["athlete"]) == ("email", "firing", "ana")
    assert dead["last_error"] == "all recipients refused: 550"
    assert data["open_alerts"] == {"total": 1, "silenced": 0,
                                   "by_severity": {"warn": {"open": 1, "silenced": 0}}}
    assert data["silences"] == {"active": 0, "items": []}

    assert main(["--config", str(config), "status"]) == 0
    text = capsys.readouterr().out
    assert "workers seen in the last 5 min: 1" in text and "h1:10:aa" in text
    assert "1 quarantined" in text and "Europe/Berlin" in text
    assert "dead notifications: 1" in text
    assert "email firing ana (3 attempts" in text and "all recipients refused: 550" in text
    assert "open alerts: 1 (1 warn), 0 silenced" in text
