"""Shared evaluation: each athlete evaluated once per trigger across the processes on one
database (evaluation claims, `FOR UPDATE SKIP LOCKED`), one evaluation of an athlete at a
time whatever started it, and three `strideguard run` on an empty PostgreSQL database that all
come up and send each alert once."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import running_service, wait_for
from pytest_httpserver import HTTPServer
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.pool import NullPool
from standardwebhooks.webhooks import Webhook
from test_end_to_end import WEBHOOK_SECRET

from config.schema import ServiceConfig
from fitwriter.synthetic import weekly_plan, write_plan
from ingest import IngestOutcome, IngestSettings, IngestStatus, ingest_inbox
from notify.outbox import enqueue_alert
from rules.evaluate import EvaluationReport, evaluate
from rules.loader import RulesReloader, load_rules
from rules.triggers import daily_trigger, rules_trigger
from store import Alert, EvaluationClaim, OutboxMessage, Store
from store.evaluation_claims import (
    FAILED_PREFIX,
    lock_athlete,
    next_claim,
    open_claims,
    rules_edit_trigger,
)
from wiring import App
from wiring.evaluation import CLAIMS_KEPT, CatchUp, touched_athletes

TODAY = date(2026, 11, 22)  # a Sunday: the long run
NOW = datetime(2026, 11, 22, 19, 0, tzinfo=UTC)
SHIPPED_RULES = Path(__file__).resolve().parents[1] / "config" / "rules.yaml"


def squad_config(tmp_path: Path, athletes: list[str]) -> ServiceConfig:
    return ServiceConfig(mail_dir=tmp_path / "mail", athletes=[{"id": a} for a in athletes])


def ingest_squad(store: Store, tmp_path: Path, spike: str = "ben",
                 steady: tuple[str, ...] = ("ana",)) -> None:
    """Six steady weeks each; `spike` ends with a 16 km run, twice the month's longest."""
    inbox = tmp_path / "inbox"
    for serial, athlete in enumerate((spike, *steady), start=100):
        final = 16.0 if athlete == spike else None
        write_plan(weekly_plan(TODAY, 6, [7.0, 7.0, 8.0], final_run_km=final), inbox / athlete,
                   serial_number=serial)
    settings = IngestSettings(inbox=inbox, archive=tmp_path / "archive",
                              quarantine=tmp_path / "quarantine", stability_s=0.0, workers=1)
    assert {o.status for o in ingest_inbox(store, settings)} == {IngestStatus.INGESTED}


def evaluate_now(store: Store, config: ServiceConfig, **kwargs: Any) -> EvaluationReport:
    return evaluate(store, config, load_rules(), now=NOW,
                    enqueue=lambda session, alert, kind: enqueue_alert(session, config, alert,
                                                                       kind, NOW), **kwargs)


def claims(store: Store, trigger: str) -> dict[str, str | None]:
    """athlete -> done_by (None while open) of the trigger's claims."""
    with store.session() as session:
        return {c.athlete_id: c.done_by for c in session.scalars(
            select(EvaluationClaim).where(EvaluationClaim.trigger == trigger))}


def count(store: Store, model: type, *where: Any) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_a_trigger_evaluates_each_athlete_once(store: Store, tmp_path: Path) -> None:
    config = squad_config(tmp_path, ["ana", "ben", "cy"])
    trigger = daily_trigger(TODAY)
    first = evaluate_now(store, config, trigger=trigger, worker_id="w1")
    assert first.athletes_evaluated == 3 and first.failed == []
    assert claims(store, trigger) == {"ana": "w1", "ben": "w1", "cy": "w1"}
    # met again (a second process, a restart): nothing left to do
    assert evaluate_now(store, config, trigger=trigger, worker_id="w2").athletes_evaluated == 0
    assert claims(store, trigger) == {"ana": "w1", "ben": "w1", "cy": "w1"}
    # a new trigger is a new evaluation
    assert evaluate_now(store, config, trigger=daily_trigger(TODAY + timedelta(days=1)),
                        worker_id="w2").athletes_evaluated == 3


def test_an_alert_fired_by_a_trigger_is_queued_once(store: Store, tmp_path: Path) -> None:
    config = squad_config(tmp_path, ["ana", "ben"])
    ingest_squad(store, tmp_path)
    report = evaluate_now(store, config, trigger="rules:x", worker_id="w1")
    fired = [(t.kind, t.finding.athlete_id, t.finding.rule.id) for t in report.transitions]
    assert ("fired", "ben", "single_run_spike") in fired
    assert report.athletes_evaluated == 2
    outbox = count(store, OutboxMessage)
    # the same athletes once more, as an ingest batch would: nothing new
    again = evaluate_now(store, config, athletes=["ben", "ana"])
    assert again.athletes_evaluated == 2 and again.transitions == []
    assert count(store, OutboxMessage) == outbox


def test_a_failing_athlete_is_logged_and_the_others_evaluated(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A bug met by one athlete's data (simulated) costs the others nothing; its claim is
    closed as failed, so sweeps do not retry it until the next trigger."""
    import rules.evaluate as evaluation

    judge_athlete = evaluation._evaluate_athlete

    def broken_for_cy(session: Any, config: Any, rule_set: Any, athlete_id: str,
                      *args: Any) -> None:
        if athlete_id == "cy":
            raise ZeroDivisionError("simulated")
        judge_athlete(session, config, rule_set, athlete_id, *args)

    monkeypatch.setattr(evaluation, "_evaluate_athlete", broken_for_cy)
    config = squad_config(tmp_path, ["ana", "ben", "cy"])
    report = evaluate_now(store, config, trigger="daily:2026-11-22", worker_id="w1")
    assert report.failed == ["cy"] and report.athletes_evaluated == 2
    assert claims(store, "daily:2026-11-22")["cy"] == f"{FAILED_PREFIX}w1"
    assert "cy: the evaluation failed and was skipped: simulated" in caplog.text
    assert evaluate_now(store, config, athlete_id="cy").failed == ["cy"]


def test_the_rules_trigger_follows_the_files(tmp_path: Path) -> None:
    """The same contents give the same name in every process, whatever the files' times; an
    edit a new one; a revert the first one again (rules_edit_trigger makes it a new
    evaluation)."""
    rules = tmp_path / "rules.yaml"
    shutil.copy(SHIPPED_RULES, rules)
    original = rules_trigger(load_rules([rules]))
    assert rules_trigger(load_rules([rules])) == original
    text_before = rules.read_text(encoding="utf-8")
    rules.write_text(text_before.replace('warn: "> 1.10"', 'warn: "> 1.20"', 1),
                     encoding="utf-8")
    os.utime(rules, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
    edited = rules_trigger(load_rules([rules]))
    rules.write_text(text_before, encoding="utf-8")
    os.utime(rules, ns=(time.time_ns(), time.time_ns() + 2_000_000_000))
    reverted = rules_trigger(load_rules([rules]))
    assert len({original, edited}) == 2 and reverted == original
    assert original.startswith("rules:") and len(original) <= 120


def test_an_edit_is_joined_by_the_processes_meeting_it_and_a_revert_is_evaluated_anew(
        store: Store) -> None:
    contents, window = "rules:abc123", timedelta(minutes=10)
    met_at = datetime(2026, 11, 22, 9, tzinfo=UTC)
    with store.session() as session:
        assert rules_edit_trigger(session, contents, met_at, window) == "rules:abc123:1"
        open_claims(session, "rules:abc123:1", ["ana"], now=met_at)
        open_claims(session, "rules:abc1234:7", ["ana"], now=met_at)  # another contents
    with store.session() as session:
        # another process noticing the same edit seconds later joins it
        later = met_at + timedelta(seconds=5)
        assert rules_edit_trigger(session, contents, later, window) == "rules:abc123:1"
        # the same contents again an hour on (A, B, then A again): a new evaluation
        revert = met_at + timedelta(hours=1)
        assert rules_edit_trigger(session, contents, revert, window) == "rules:abc123:2"


def test_the_catch_up_does_a_missed_daily_evaluation_once_and_prunes(
        store: Store, tmp_path: Path) -> None:
    config = squad_config(tmp_path, ["ana", "ben"])
    rule_set = load_rules()
    app = App(config, RulesReloader(rule_set, None), store, worker_id="w1")
    catch_up = CatchUp(app)
    before = datetime(2026, 11, 22, 6, 59, tzinfo=UTC)  # evaluate_at is 07:00 (UTC)
    assert catch_up.run(before) == []
    with store.session() as session:  # a claim from long ago
        session.add(EvaluationClaim(trigger="daily:2026-10-01", athlete_id="ana",
                                    created_at=before - CLAIMS_KEPT - timedelta(days=1)))
    after = datetime(2026, 11, 22, 7, 1, tzinfo=UTC)
    catch_up.last_pruned = None  # due for pruning again
    reports = catch_up.run(after)
    assert [r.athletes_evaluated for r in reports] == [2]
    assert claims(store, "daily:2026-11-22") == {"ana": "w1", "ben": "w1"}
    assert claims(store, "daily:2026-10-01") == {}  # pruned
    assert CatchUp(app).run(after + timedelta(hours=1)) == []  # met already


def test_the_app_counts_its_share_of_a_trigger_in_its_metrics(store: Store,
                                                               tmp_path: Path) -> None:
    from wiring.telemetry import Telemetry

    config = squad_config(tmp_path, ["ana", "ben"])
    app = App(config, RulesReloader(load_rules(), None), store, worker_id="w1",
              telemetry=Telemetry(process_metrics=False))

    def sample(name: str) -> float:
        return app.telemetry.registry.get_sample_value(name) or 0.0  # type: ignore[union-attr]

    app.evaluate(dry_run=True)  # a dry run is no evaluation
    assert sample("strideguard_evaluations_total") == 0
    assert app.evaluate(trigger="daily:2026-11-22").athletes_evaluated == 2
    assert sample("strideguard_athletes_evaluated_total") == 2
    app.evaluate(trigger="daily:2026-11-22", athletes=())  # a sweep that found nothing open
    assert sample("strideguard_evaluations_total") == 1
    app.evaluate(trigger="daily:2026-11-22")  # the others did it: this process took part
    assert sample("strideguard_evaluations_total") == 2
    assert sample("strideguard_athletes_evaluated_total") == 2


def test_touched_athletes_are_those_a_batch_stored_something_for() -> None:
    outcomes = [IngestOutcome(Path("a.fit"), "ana", IngestStatus.INGESTED),
                IngestOutcome(Path("b.fit"), "ben", IngestStatus.DUPLICATE),
                IngestOutcome(Path("c.fit"), "ana", IngestStatus.INGESTED),
                IngestOutcome(Path("d.fit"), "cy", IngestStatus.QUARANTINED)]
    assert touched_athletes(outcomes) == ["ana"]


def postgres_only(store: Store) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one process: BEGIN IMMEDIATE serialises it already")


def test_a_claim_held_by_a_killed_process_is_taken_over(store: Store, tmp_path: Path,
                                                         database_url: str) -> None:
    """A process that dies mid-athlete (SIGKILL) leaves its claim open, unlocked with its
    connection: the next pass over the trigger (another process, or a sweep) takes it."""
    postgres_only(store)
    config = squad_config(tmp_path, ["ana", "ben", "cy"])
    trigger = "daily:2026-11-22"
    with store.session() as session:  # the trigger's rows, as its first process writes them
        open_claims(session, trigger, ["ana", "ben", "cy"])
    code = ("import sys, time; from store import open_store; "
            "from store.evaluation_claims import next_claim; "
            "session = open_store(sys.argv[1]).session_factory(); "
            "print(next_claim(session, sys.argv[2]), flush=True); time.sleep(300)")
    holder = subprocess.Popen([sys.executable, "-c", code, database_url, trigger],
                              stdout=subprocess.PIPE, text=True)
    try:
        held = holder.stdout.readline().strip() if holder.stdout else ""
        assert held in {"ana", "ben", "cy"}
        first = evaluate_now(store, config, trigger=trigger, worker_id="w2")
        assert first.athletes_evaluated == 2 and claims(store, trigger)[held] is None
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    taken: list[int] = []

    def sweep() -> bool:  # until PostgreSQL has seen the connection go
        report = evaluate_now(store, config, trigger=trigger, athletes=(), worker_id="w3")
        taken.append(report.athletes_evaluated)
        return sum(taken) == 1

    assert wait_for(sweep, 30)
    assert claims(store, trigger)[held] == "w3"


def test_evaluations_of_one_athlete_take_turns(store: Store, tmp_path: Path) -> None:
    """Two evaluations of ben at the same moment (an ingest batch here, the daily pass there):
    the second waits for the first to commit, sees its alert, and queues nothing again."""
    postgres_only(store)
    config = squad_config(tmp_path, ["ana", "ben"])
    ingest_squad(store, tmp_path)
    holder = store.session_factory()
    lock_athlete(holder, "ben")  # a third evaluation of ben, in progress
    holder_pid = holder.execute(text("SELECT pg_backend_pid()")).scalar()
    reports: list[EvaluationReport] = []

    def evaluate_ben() -> None:
        reports.append(evaluate_now(store, config, athlete_id="ben"))

    threads = [threading.Thread(target=evaluate_ben) for _ in range(2)]
    for thread in threads:
        thread.start()
    probe = create_engine(store.engine.url, poolclass=NullPool)

    def both_waiting() -> bool:
        """Both threads wait, for the holder or for the one queued before (row locks queue)."""
        with probe.connect() as connection:
            blocked = dict(connection.execute(text(
                "SELECT pid, pg_blocking_pids(pid) FROM pg_stat_activity "
                "WHERE cardinality(pg_blocking_pids(pid)) > 0")).all())
        behind = {holder_pid}
        for _ in range(len(blocked)):
            behind |= {pid for pid, by in blocked.items() if behind & set(by)}
        return len(behind) == 3

    try:
        assert wait_for(both_waiting, 30)
    finally:
        holder.commit()
        holder.close()
        probe.dispose()
        for thread in threads:
            thread.join(timeout=60)
    fired = [t for r in reports for t in r.transitions if t.kind == "fired"
             and t.finding.rule.id == "single_run_spike"]
    assert len(reports) == 2 and all(r.failed == [] for r in reports)
    assert len(fired) == 1
    assert count(store, Alert, Alert.rule_id == "single_run_spike") == 1
    with store.session() as session:
        spike_id = session.scalar(select(Alert.id).where(Alert.rule_id == "single_run_spike"))
    # one target (the .eml file channel: nothing else is configured), one firing queued
    assert count(store, OutboxMessage, OutboxMessage.alert_id == spike_id) == 1


def test_next_claim_skips_rows_another_transaction_holds(store: Store) -> None:
    postgres_only(store)
    with store.session() as session:
        open_claims(session, "t", ["ana", "ben"])
    sessions = [store.session_factory() for _ in range(3)]
    try:
        taken = [next_claim(session, "t") for session in sessions]
        assert set(taken[:2]) == {"ana", "ben"} and taken[2] is None
    finally:
        for session in sessions:
            session.close()  # rolls back: the rows are free again


# three `strideguard run` on an empty PostgreSQL database (acceptance 2 of issue 14)

SQUAD = ("ana", "ben", "cy", "dee")  # ben's last run is a spike


def early_morning_zone() -> tuple[str, date]:
    """A fixed-offset zone where it is between 06:00 and 07:00 now, and its date: with
    `evaluate_at: "23:00"` no daily evaluation is due during the test, so the rules edit is the
    only trigger."""
    offset_h = (6 - datetime.now(UTC).hour) % 24
    offset_h = offset_h - 24 if offset_h > 14 else offset_h
    name = "Etc/GMT" if offset_h == 0 else f"Etc/GMT{-offset_h:+d}"
    return name, (datetime.now(UTC) + timedelta(hours=offset_h)).date()


def service_config(folder: Path, shared: Path, database: str, zone: str, hook_url: str) -> Path:
    folder.mkdir(parents=True)
    config = folder / "strideguard.yaml"
    athletes = "\n".join(f"  - {{id: {a}, name: {a.title()}}}" for a in SQUAD)
    config.write_text(f"""
database: {database}
timezone: {zone}
inbox: {shared}/inbox
archive: {shared}/archive
quarantine: {shared}/quarantine
mail_dir: {shared}/mail
rules: [{shared}/rules.yaml]
http: {{listen: "127.0.0.1:0"}}
ingest: {{stability: 0s, workers: 1}}
schedule: {{evaluate_at: "23:00", digest: off, dispatch_interval: 1s}}
athletes:
{athletes}
notify:
  webhooks:
    - url: {hook_url}
      secret: ${{WEBHOOK_SECRET}}
""", encoding="utf-8")
    return config


def received(hook: HTTPServer) -> Counter[tuple[str, str, str, str]]:
    """(type, athlete, rule, severity) of every verified webhook the receiver got."""
    seen: Counter[tuple[str, str, str, str]] = Counter()
    for request, _response in list(hook.log):
        body = Webhook(WEBHOOK_SECRET).verify(request.get_data(), dict(request.headers))
        data = body["data"]
        seen[(body["type"], data["athlete"], data["rule"], data["severity"])] += 1
    return seen


def test_three_services_on_an_empty_postgresql_database_share_the_work(
        throwaway_postgres_database: tuple[str, str], tmp_path: Path,
        httpserver: HTTPServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    empty_postgres_url, _name = throwaway_postgres_database
    monkeypatch.setenv("WEBHOOK_SECRET", WEBHOOK_SECRET)
    httpserver.expect_request("/hooks/sg", method="POST").respond_with_data("ok")
    zone, today = early_morning_zone()
    shared = tmp_path / "shared"
    files = 0
    for serial, athlete in enumerate(SQUAD, start=200):
        plan = weekly_plan(today, 6, [7.0, 7.0, 8.0],
                           final_run_km=16.0 if athlete == "ben" else None)
        files += len(write_plan(plan, shared / "inbox" / athlete, zone, serial))
    shutil.copy(SHIPPED_RULES, shared / "rules.yaml")
    configs = [service_config(tmp_path / f"p{i}", shared, empty_postgres_url, zone,
                              httpserver.url_for("/hooks/sg")) for i in range(3)]
    store_engine = create_engine(empty_postgres_url)

    def scalar(sql: str) -> Any:
        with store_engine.connect() as connection:
            return connection.execute(text(sql)).scalar()

    spike = ("alert.firing", "ben", "single_run_spike")
    with ExitStack() as stack:
        # started together: all three migrate the empty database at once
        services = [stack.enter_context(running_service(c, cwd=c.parent, first_scan=False))
                    for c in configs]
        for service in services:
            assert service.wait_for_log("initial scan of", 120), service.log()
        assert wait_for(lambda: scalar("SELECT count(*) FROM source_files WHERE status = "
                                       "'ingested'") == files, 180), \
            "\n".join(s.log() for s in services)
        assert wait_for(lambda: received(httpserver)[(*spike, "warn")] == 1, 60)
        # the trigger: an edit of the rules every process reloads (spike critical from 1.5)
        rules = shared / "rules.yaml"
        rules.write_text(rules.read_text(encoding="utf-8").replace(
            'critical: "> 2.0"', 'critical: "> 1.5"', 1), encoding="utf-8")
        assert wait_for(lambda: scalar(
            "SELECT count(*) FROM evaluation_claims WHERE trigger LIKE 'rules:%' "
            "AND done_at IS NOT NULL") == len(SQUAD), 60)
        assert wait_for(lambda: received(httpserver)[(*spike, "critical")] == 1, 60)
        time.sleep(4)  # every process has reloaded the edit by now; a second copy would show
        assert all(s.process.poll() is None for s in services), \
            "\n".join(s.log() for s in services)
        logs = [s.stop() for s in services]
        assert [s.process.returncode for s in services] == [0, 0, 0]
    everything = "\n".join(logs)
    assert "UniqueViolation" not in everything and "Traceback" not in everything, everything
    evaluated = [int(line.split("evaluated ")[1].split()[0]) for line in everything.splitlines()
                 if " athletes for rules:" in line]
    assert sum(evaluated) == len(SQUAD), everything  # each athlete once, whoever did it
    assert scalar("SELECT count(DISTINCT trigger) FROM evaluation_claims") == 1
    assert scalar("SELECT count(*) FROM evaluation_claims") == len(SQUAD)
    sent = received(httpserver)
    assert sent[(*spike, "warn")] == 1 and sent[(*spike, "critical")] == 1
    assert set(sent.values()) == {1}, sent  # every alert sent once
    assert scalar("SELECT count(*) FROM outbox WHERE status <> 'sent'") == 0
    assert scalar("SELECT count(*) FROM outbox") == sum(sent.values())
    store_engine.dispose()
