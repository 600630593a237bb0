"""`outbox retry --dead` tells no receiver something false: a dead firing of an alert that resolved
meanwhile goes back with its resolved notice; the firing of a silenced alert, of an alert the
channel was told had resolved, rows of channels no longer configured and rows a receiver
answered 410 Gone stay as they are; a row another transaction holds is left to it. On SQLite
and PostgreSQL, with a real loopback webhook receiver."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook
from werkzeug import Request, Response

from cli import main
from cli.operate import _outcome
from config.schema import ServiceConfig
from notify.channels.webhook import GONE_REASON_PREFIX
from notify.channels.webhook import channel_name as webhook_name
from notify.dispatch import dispatch_due
from notify.outbox import OutboxStatus, enqueue_alert
from notify.requeue import Requeued, RowState, requeue
from store import (
    Alert,
    NotificationTest,
    OutboxMessage,
    Silence,
    Store,
    ensure_athlete,
    open_store,
)

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NOW = datetime.now(UTC).replace(microsecond=0)


def hook_config(url: str = "https://hooks.example.com/in/T0kenPath") -> ServiceConfig:
    return ServiceConfig.model_validate(
        {"athletes": [{"id": "ana"}], "notify": {"webhooks": [{"url": url, "secret": SECRET}]}})


def new_alert(session: Any, *, resolved: bool = False, rule: str = "spike") -> Alert:
    ensure_athlete(session, "ana")
    alert = Alert(id=str(uuid.uuid4()), rule_id=rule, athlete_id="ana", episode=1,
                  severity="warn", metric="m", value=2.0, threshold=1.1, as_of=NOW.date(),
                  fired_at=NOW - timedelta(hours=3),
                  resolved_at=NOW - timedelta(hours=1) if resolved else None,
                  payload={"rule": rule, "athlete": "ana", "summary": "Long run spike"})
    session.add(alert)
    session.flush()
    return alert


def dead_firing(session: Any, config: ServiceConfig, alert: Alert,
                error: str = "HTTP 400: endpoint not set up yet") -> OutboxMessage:
    """The alert's firing, queued for real and then dead, as a refused receiver leaves it."""
    [row] = enqueue_alert(session, config, alert, "firing", NOW - timedelta(hours=3))
    row.status, row.attempts, row.last_error = "dead", 1, error
    row.next_attempt_at = NOW - timedelta(hours=2)
    session.flush()
    return row


def resolve(session: Any, config: ServiceConfig, alert: Alert) -> list[OutboxMessage]:
    """What an evaluation does when the condition clears."""
    alert.resolved_at = NOW - timedelta(hours=1)
    return enqueue_alert(session, config, alert, "resolved", NOW - timedelta(hours=1))


def test_a_dead_firing_of_a_resolved_alert_goes_back_with_its_resolved_notice(
        tmp_path: Path, database_url: str, httpserver_ipv4: HTTPServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    received: list[tuple[str, dict[str, Any]]] = []

    def receiver(request: Request) -> Response:
        body = Webhook(SECRET).verify(request.get_data(), dict(request.headers))
        received.append((request.headers["webhook-id"], body))
        return Response("", status=204)

    httpserver_ipv4.expect_request("/hook", method="POST").respond_with_handler(receiver)
    config = hook_config(httpserver_ipv4.url_for("/hook"))
    config_file = tmp_path / "strideguard.yaml"
    config_file.write_text(json.dumps({
        "database": database_url, "athletes": [{"id": "ana"}],
        "notify": {"webhooks": [{"url": httpserver_ipv4.url_for("/hook"), "secret": SECRET}]}}))
    store = open_store(database_url)
    try:
        with store.session() as session:
            alert = new_alert(session)
            firing = dead_firing(session, config, alert)
            assert resolve(session, config, alert) == []  # the channel never heard the firing
            firing_id = firing.event_id

        assert main(["--config", str(config_file), "outbox", "retry", "--dead"]) == 0
        out = capsys.readouterr().out
        assert out.startswith("1 notifications put back in the queue (0 waiting to retry, 1 dead),"
                              " 1 resolved notices queued after their firings\n")
        assert [(event_id, body["type"]) for event_id, body in received] == [
            (firing_id, "alert.firing"), (received[1][0], "alert.resolved")]
        assert out.count(": sent") == 2
        with store.session() as session:
            rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
            assert [(row.kind, row.status) for row in rows] == [("firing", "sent"),
                                                                ("resolved", "sent")]
    finally:
        store.dispose()


def test_silenced_told_resolved_unconfigured_and_gone_rows_stay_as_they_are(
        store: Store) -> None:
    config = hook_config()
    hook = webhook_name(config.notify.webhooks[0])
    with store.session() as session:
        silenced = new_alert(session, rule="silenced_rule")
        session.add(Silence(id=str(uuid.uuid4()), athlete_id="ana", rule_ids=["silenced_rule"],
                            starts_at=NOW - timedelta(days=1), ends_at=NOW + timedelta(days=3),
                            reason="holiday"))
        silenced_row = dead_firing(session, config, silenced)
        told = new_alert(session, rule="told_rule")
        told_row = dead_firing(session, config, told)
        told_row.status = "retry"  # the firing was still retrying when the alert resolved
        session.flush()
        [told_resolved] = resolve(session, config, told)
        told_resolved.status, told_resolved.sent_at = "sent", NOW - timedelta(minutes=50)
        told_row.status = "dead"  # and died later: the receiver knows it resolved
        gone = dead_firing(session, config, new_alert(session, rule="gone_rule"),
                           error=f"{GONE_REASON_PREFIX}: no such endpoint")
        gone.next_attempt_at = NOW - timedelta(minutes=30)  # after the resolved notice went
        stale = dead_firing(session, config, new_alert(session, rule="stale_rule"))
        stale.channel = "webhook:000000000000"  # a URL since removed from the config
        waiting = dead_firing(session, config, new_alert(session, rule="waiting_rule"))
        waiting.channel, waiting.status = "webhook:000000000000", "retry"
        ids = {name: row.id for name, row in [("silenced", silenced_row), ("told", told_row),
                                             ("gone", gone), ("stale", stale),
                                             ("waiting", waiting)]}

    report = requeue(store, config, NOW, dead=True, channel_kind=None)

    assert report.requeued == []
    why = {left.id: (left.was, left.why) for left in report.left}
    assert why[ids["silenced"]][1].startswith("the alert is silenced now (silence ")
    assert "a late firing would reopen it" in why[ids["told"]][1]
    assert why[ids["gone"]][1].startswith("the receiver answered 410 Gone")
    assert why[ids["stale"]] == (OutboxStatus.DEAD,
                                 "channel webhook:000000000000 is no longer configured")
    assert why[ids["waiting"]][0] is OutboxStatus.RETRY
    with store.session() as session:
        statuses = {row.id: row.status for row in session.scalars(select(OutboxMessage))}
    assert [statuses[ids[name]] for name in ("silenced", "told", "gone", "stale", "waiting")] \
        == ["dead", "dead", "dead", "dead", "retry"]

    # the gone receiver accepted a test since: its row goes back
    with store.session() as session:
        session.add(NotificationTest(event_id="msg_test", channel=hook, athlete_id=None, ok=True,
                                     status="HTTP 204", latency_ms=3.0, error=None,
                                     sent_at=NOW - timedelta(minutes=5)))
    again = requeue(store, config, NOW, dead=True, channel_kind="webhook")
    assert [row.id for row in again.requeued] == [ids["gone"]]


def test_a_row_another_transaction_holds_is_left_to_it(store: Store) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no row locks: one process sends (DESIGN §7)")
    config = hook_config()
    with store.session() as session:
        held = dead_firing(session, config, new_alert(session, rule="held"))
        free = dead_firing(session, config, new_alert(session, rule="free"))
        held_id, free_id = held.id, free.id
    with store.session() as holder:
        holder.scalars(select(OutboxMessage).where(OutboxMessage.id == held_id)
                       .with_for_update()).one()
        report = requeue(store, config, NOW, dead=True, channel_kind=None)
        assert [row.id for row in report.requeued] == [free_id] and report.left == []
    with store.session() as session:
        assert session.get(OutboxMessage, held_id).status == "dead"


def test_retry_lines_say_failed_only_for_an_attempt_made_since() -> None:
    put_back = Requeued(7, "msg_x", "email", "firing", OutboxStatus.DEAD, attempts=0)
    due = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)

    def state(status: str, attempts: int) -> RowState:
        return RowState(7, status, attempts, "old error", due)

    assert _outcome(put_back, state("retry", 0)) == (
        "queued, not tried yet: the service (or `run --once`) sends it", False)
    assert _outcome(put_back, state("sending", 1)) == ("being sent by another worker", False)
    assert _outcome(put_back, state("retry", 1)) == ("failed, next try at 2026-12-01T07:00:00Z",
                                                     True)
    assert _outcome(put_back, state("dead", 1)) == ("failed, dead", True)
    assert _outcome(put_back, None) == ("deleted meanwhile", False)


def test_a_resolved_notice_waits_for_its_firing(store: Store,
                                                httpserver_ipv4: HTTPServer) -> None:
    """The firing failed for a moment when the alert resolved: the resolved notice goes only
    after the firing did, never before (the receiver would keep the alert open)."""
    answers = iter([503, 204, 204])
    types: list[str] = []

    def receiver(request: Request) -> Response:
        types.append(json.loads(request.get_data())["type"])
        return Response("", status=next(answers))

    httpserver_ipv4.expect_request("/hook", method="POST").respond_with_handler(receiver)
    config = hook_config(httpserver_ipv4.url_for("/hook"))
    with store.session() as session:
        alert = new_alert(session)
        enqueue_alert(session, config, alert, "firing", NOW)
    assert dispatch_due(store, config, now=NOW) == {"retry": 1}
    with store.session() as session:
        assert len(resolve(session, config, session.get(Alert, alert.id))) == 1

    assert dispatch_due(store, config, now=NOW + timedelta(seconds=1)) == {}  # held back
    assert dispatch_due(store, config, now=NOW + timedelta(hours=1)) == {"sent": 2}
    assert types == ["alert.firing", "alert.firing", "alert.resolved"]
