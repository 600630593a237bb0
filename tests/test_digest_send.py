"""Queueing digests: once per athlete and week, and one athlete's failure costs nobody else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from test_rules import store_plan

from config.schema import AthleteConfig, ServiceConfig
from digest.schedule import FailedDigests
from digest.send import DigestStatus, queue_athlete_digests, queue_squad_digest
from fitwriter.synthetic import weekly_plan
from notify.outbox import enqueue_digest
from rules.loader import load_rules
from store import Digest, OutboxMessage, Store

WEEK, SUNDAY = "2026-W48", datetime(2026, 11, 29, tzinfo=UTC).date()
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.fixture
def config(tmp_path: Path) -> ServiceConfig:
    athletes = [AthleteConfig(id=athlete, name=athlete.title()) for athlete in ("ana", "bo", "cy")]
    return ServiceConfig(mail_dir=tmp_path / "mail", athletes=athletes)


def test_one_athletes_failure_never_stops_the_others(store: Store, config: ServiceConfig) -> None:
    for athlete in ("ana", "bo", "cy"):
        store_plan(store, weekly_plan(SUNDAY, 4, [6.0, 8.0, 10.0]), athlete=athlete)
    rules = load_rules()

    def enqueue(session, mail, digest_id) -> int:
        if mail.athlete_id == "bo":  # e.g. a channel that cannot render this athlete's mail
            raise RuntimeError("bo's digest cannot be rendered")
        return len(enqueue_digest(session, config, mail, digest_id, NOW))

    outcomes = queue_athlete_digests(store, config, rules, dict.fromkeys(("ana", "bo", "cy"), WEEK),
                                     enqueue=enqueue, has_targets=lambda kind, a: True, now=NOW)
    assert {o.athlete_key: o.status for o in outcomes} == {
        "ana": DigestStatus.QUEUED, "bo": DigestStatus.FAILED, "cy": DigestStatus.QUEUED}
    with store.session() as session:
        # bo's failed claim was rolled back with its queueing: nothing half-done
        assert sorted(session.scalars(select(Digest.athlete_key))) == ["ana", "cy"]
        assert len(session.scalars(select(OutboxMessage)).all()) == 2  # the fallback .eml each
    again = queue_athlete_digests(store, config, rules, dict.fromkeys(("ana", "cy"), WEEK),
                                  enqueue=enqueue, has_targets=lambda kind, a: True, now=NOW)
    assert {o.status for o in again} == {DigestStatus.ALREADY_SENT}
    squad = queue_squad_digest(store, config, rules, ["ana", "bo", "cy"], WEEK, enqueue=enqueue,
                               has_targets=lambda kind, a: True, now=NOW)
    assert squad.status == DigestStatus.QUEUED


def test_a_failed_digest_waits_an_hour_before_it_is_tried_again() -> None:
    failed = FailedDigests()
    failed.record("athlete", "bo", WEEK, True, NOW)
    assert failed.waiting("athlete", "bo", WEEK, NOW + timedelta(minutes=59))
    assert not failed.waiting("athlete", "bo", WEEK, NOW + timedelta(minutes=61))
    assert not failed.waiting("athlete", "ana", WEEK, NOW)
    failed.record("athlete", "bo", WEEK, False, NOW)
    assert not failed.waiting("athlete", "bo", WEEK, NOW)


def test_a_shutdown_between_athletes_stops_the_pass(store: Store, config: ServiceConfig) -> None:
    asked = []

    def should_continue() -> bool:
        asked.append(1)
        return len(asked) < 2  # the first athlete is done, then the service is stopping

    outcomes = queue_athlete_digests(
        store, config, load_rules(), dict.fromkeys(("ana", "bo", "cy"), WEEK),
        enqueue=lambda session, mail, digest_id: len(
            enqueue_digest(session, config, mail, digest_id, NOW)),
        has_targets=lambda kind, a: True, now=NOW, should_continue=should_continue)
    assert len(outcomes) == 1 and outcomes[0].status == DigestStatus.QUEUED
