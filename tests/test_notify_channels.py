"""Channels behind one registry: an extra channel plugs in, targets fall back, names stay stable."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import notify.channels
from config.schema import ServiceConfig
from notify.channel import DeliveryResult, Notice, NoticeKind, Outgoing, Target
from notify.channels import targets_for
from notify.dispatch import dispatch_due
from notify.outbox import OutboxStatus, claim_due, enqueue_alert, record_result
from store import Alert, Athlete, OutboxMessage, Store, utc_now

# the dispatcher records results at the real time, so the test clock starts there
NOW = utc_now().replace(microsecond=0)
HOOK_URL = "https://hooks.example.com/strideguard?token=abc"
HOOK_NAME = "webhook:" + hashlib.sha256(HOOK_URL.encode()).hexdigest()[:12]


@dataclass
class ListChannel:
    """A channel that keeps what it is given: `fail_first` attempts fail with a retryable error."""

    kind: str = "memo"
    fail_first: int = 0
    sent: list[Outgoing] = field(default_factory=list)

    def configured(self, config: ServiceConfig) -> bool:
        return True

    def targets(self, config: ServiceConfig, athlete_id: str | None,
                kind: NoticeKind) -> list[Target]:
        return [Target(f"{self.kind}:{athlete_id}", (f"{athlete_id}@memo",))]

    def render(self, config: ServiceConfig, notice: Notice) -> bytes:
        return json.dumps({"kind": notice.kind, "rule": notice.payload["rule"]}).encode()

    def send(self, config: ServiceConfig, message: Outgoing) -> DeliveryResult:
        if self.fail_first > 0:
            self.fail_first -= 1
            return DeliveryResult(ok=False, retryable=True, reason="busy", retry_after_s=60)
        self.sent.append(message)
        return DeliveryResult(ok=True)


@pytest.fixture
def memo(monkeypatch: pytest.MonkeyPatch) -> ListChannel:
    """The extra channel, registered for this test only."""
    channel = ListChannel()
    monkeypatch.setattr(notify.channels, "CHANNELS", (*notify.channels.CHANNELS, channel))
    return channel


def payload(alert_id: str, channels: list[str] | None = None) -> dict[str, Any]:
    """An alert as plain data with every field the email templates read."""
    return {
        "alert_id": alert_id, "rule": "single_run_spike", "athlete": "ana",
        "athlete_name": "Ana", "severity": "warn", "metric": "longest_run_ratio_30d",
        "value": 2.0, "unit": "×", "threshold": 1.1, "as_of": "2026-11-21",
        "description": "Long run spike", "summary": "Your long run doubled.",
        "metric_meaning": "longest run against the month's longest", "condition": "> 1.1",
        "why": "Spikes raise injury risk.", "source": "Frandsen 2025",
        "advice_blocks": [{"title": "Rest", "text": "Take easy days."}],
        "advice": ["Rest: Take easy days."], "see_a_professional": "If pain persists.",
        "disclaimer": "Not medical advice.", "activity_ids": [], "channels": channels,
    }


def queue(store: Store, config: ServiceConfig, channels: list[str] | None = None,
          kind: NoticeKind = "firing", alert_id: str = "a1") -> list[tuple[str, str]]:
    """Store an alert and queue it as evaluation does; returns (channel, dedupe key) per row."""
    with store.session() as session:
        if session.get(Athlete, "ana") is None:
            session.add(Athlete(id="ana"))
        alert = session.get(Alert, alert_id)
        if alert is None:
            alert = Alert(id=alert_id, rule_id="single_run_spike", athlete_id="ana", episode=1,
                          severity="warn", metric="longest_run_ratio_30d", value=2.0,
                          threshold=1.1, as_of=date(2026, 11, 21), fired_at=NOW,
                          payload=payload(alert_id, channels))
            session.add(alert)
            session.flush()
        rows = enqueue_alert(session, config, alert, kind, NOW)
        return [(row.channel, row.dedupe_key) for row in rows]


def rows(store: Store) -> list[tuple[str, str, int]]:
    with store.session() as session:
        found = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        return [(row.channel, row.status, row.attempts) for row in found]


def test_a_registered_channel_is_used_by_the_real_dispatcher(
    store: Store, memo: ListChannel, tmp_path: Path
) -> None:
    config = ServiceConfig(mail_dir=tmp_path / "mail")
    assert queue(store, config) == [("memo:ana", "memo:ana|a1|firing|warn")]
    assert dispatch_due(store, config, now=NOW) == {"sent": 1}
    [message] = memo.sent
    assert (message.channel, message.recipients) == ("memo:ana", ("ana@memo",))
    assert json.loads(message.payload) == {"kind": "firing", "rule": "single_run_spike"}
    assert rows(store) == [("memo:ana", "sent", 1)]
    assert not (tmp_path / "mail").exists()  # a channel is configured: no .eml fallback


def test_an_extra_channel_retries_on_the_outbox_schedule(
    store: Store, memo: ListChannel, tmp_path: Path
) -> None:
    memo.fail_first = 1
    config = ServiceConfig(mail_dir=tmp_path / "mail")
    queue(store, config)
    assert dispatch_due(store, config, now=NOW) == {"retry": 1}
    assert dispatch_due(store, config, now=NOW + timedelta(seconds=30)) == {}  # Retry-After: 60
    assert dispatch_due(store, config, now=NOW + timedelta(seconds=120)) == {"sent": 1}
    assert rows(store) == [("memo:ana", "sent", 2)] and len(memo.sent) == 1


def test_a_rule_can_name_an_extra_channel(store: Store, memo: ListChannel, tmp_path: Path) -> None:
    config = ServiceConfig.model_validate({
        "mail_dir": str(tmp_path / "mail"),
        "notify": {"webhooks": [{"url": HOOK_URL, "secret": "s"}]},
    })
    assert [channel for channel, _ in queue(store, config, ["memo"])] == ["memo:ana"]


def test_nothing_configured_writes_an_eml_file(store: Store, tmp_path: Path) -> None:
    config = ServiceConfig(mail_dir=tmp_path / "mail")
    assert queue(store, config) == [("file", "file|a1|firing|warn")]
    assert queue(store, config, kind="resolved") == []  # nobody mails that a risk has passed
    assert dispatch_due(store, config, now=NOW) == {"sent": 1}
    [eml] = (tmp_path / "mail").glob("*.eml")
    message = message_from_bytes(eml.read_bytes(), policy=default_policy)
    assert message["To"] == "ana@localhost"
    assert message["Subject"] == "[StrideGuard warn] Ana: Long run spike"
    assert message["X-StrideGuard-Alert"] == "a1"


def test_stored_names_and_dedupe_keys_stay_as_existing_databases_hold_them(
    store: Store, tmp_path: Path
) -> None:
    config = ServiceConfig.model_validate({
        "mail_dir": str(tmp_path / "mail"),
        "athletes": [{"id": "ana", "email": "ana@example.com"}],
        "notify": {"email": {"host": "127.0.0.1", "sender": "sg@example.com",
                             "to": ["coach@example.com", "ana@example.com"]},
                   "webhooks": [{"url": HOOK_URL, "secret": "s"}]},
    })
    assert queue(store, config) == [
        ("email", "email|a1|firing|warn"),
        (HOOK_NAME, f"{HOOK_NAME}|a1|firing|warn"),
    ]
    assert queue(store, config) == []  # idempotent
    assert [t.recipients for t in targets_for(config, "ana", "firing")][0] == (
        "ana@example.com", "coach@example.com")
    assert HOOK_URL not in str(rows(store))


EMAIL = {"host": "127.0.0.1", "sender": "sg@example.com"}
HOOK = {"url": HOOK_URL, "secret": "s"}


@pytest.mark.parametrize(
    ("notify_config", "kind", "rule_channels", "expected"),
    [
        ({}, "firing", None, ["file"]),
        ({}, "resolved", None, []),
        ({"email": {**EMAIL, "to": ["c@x.org"]}}, "firing", None, ["email"]),
        ({"email": {**EMAIL, "to": ["c@x.org"]}}, "resolved", None, []),
        # configured, but nobody to mail (or push) for this athlete: a firing alert is an
        # .eml file rather than nothing; a digest is not
        ({"email": EMAIL}, "firing", None, ["file"]),
        ({"email": EMAIL}, "digest", None, []),
        ({"webhooks": [HOOK]}, "resolved", None, [HOOK_NAME]),
        ({"email": {**EMAIL, "to": ["c@x.org"]}, "webhooks": [HOOK]}, "firing", ["webhook"],
         [HOOK_NAME]),
        ({"email": {**EMAIL, "to": ["c@x.org"]}}, "firing", ["webhook"], ["file"]),
        ({"email": {**EMAIL, "to": ["c@x.org"]}}, "resolved", ["webhook"], []),
        ({"email": {**EMAIL, "to": ["c@x.org"]}}, "firing", ["email", "file"], ["email", "file"]),
        ({}, "firing", ["file"], ["file"]),
    ],
)
def test_targets_table(notify_config: dict[str, Any], kind: NoticeKind,
                       rule_channels: list[str] | None, expected: list[str]) -> None:
    config = ServiceConfig.model_validate({"notify": notify_config})
    assert [t.channel for t in targets_for(config, "ana", kind, rule_channels)] == expected


def test_an_athlete_no_channel_reaches_still_gets_a_firing_alert_as_a_file() -> None:
    config = ServiceConfig.model_validate({"athletes": [
        {"id": "ana", "apprise": ["json://127.0.0.1:9/hook"]}, {"id": "ben"}]})
    [ana_target] = targets_for(config, "ana", "firing")
    assert ana_target.kind == "push"
    assert [t.channel for t in targets_for(config, "ben", "firing")] == ["file"]
    assert targets_for(config, "ben", "digest") == []


@pytest.mark.parametrize(
    ("result", "attempts_before", "expected"),
    [
        (DeliveryResult(ok=True), 0, OutboxStatus.SENT),
        (DeliveryResult(ok=False, retryable=True, reason="451"), 0, OutboxStatus.RETRY),
        (DeliveryResult(ok=False, retryable=True, reason="451"), 2, OutboxStatus.DEAD),  # max 3
        (DeliveryResult(ok=False, reason="550"), 0, OutboxStatus.DEAD),
        (DeliveryResult(ok=False, reason="gone", disable_endpoint=True), 0, OutboxStatus.DEAD),
    ],
)
def test_outbox_decision_table(store: Store, tmp_path: Path, result: DeliveryResult,
                               attempts_before: int, expected: OutboxStatus) -> None:
    config = ServiceConfig(mail_dir=tmp_path / "mail")
    queue(store, config)
    with store.session() as session:
        session.scalars(select(OutboxMessage)).one().attempts = attempts_before
    [claimed] = claim_due(store, NOW)
    assert record_result(store, claimed, result, NOW, max_attempts=3) == expected
    assert rows(store)[0][1] == expected.value


def test_rows_of_a_channel_no_longer_there_die_with_a_reason(store: Store, tmp_path: Path) -> None:
    config = ServiceConfig.model_validate({
        "mail_dir": str(tmp_path / "mail"), "notify": {"webhooks": [HOOK]},
    })
    queue(store, config)
    with store.session() as session:  # a row of a channel some other build registered
        row = session.scalars(select(OutboxMessage)).one()
        session.add(OutboxMessage(
            event_id="msg_other", dedupe_key="pager|a1|firing|warn", alert_id="a1",
            channel="pager", kind="firing", recipients=[], payload=b"{}", status="pending",
            attempts=0, next_attempt_at=NOW, give_up_at=row.give_up_at, created_at=NOW))
    unconfigured = ServiceConfig(mail_dir=tmp_path / "mail")  # the webhook was removed
    assert dispatch_due(store, unconfigured, now=NOW) == {"dead": 2}
    with store.session() as session:
        errors = sorted(row.last_error or "" for row in session.scalars(select(OutboxMessage)))
    assert errors == ["channel pager is no longer configured",
                      f"channel {HOOK_NAME} is no longer configured"]
