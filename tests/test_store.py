"""Store: migrations on open, UTC round trips, one open episode per rule, outbox leases."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import JSON, column, insert, inspect, select, table, text
from sqlalchemy.exc import IntegrityError

from notify.channel import DeliveryResult
from notify.outbox import claim_due, record_result
from store import SCHEMA_HEAD, Alert, Athlete, OutboxMessage, Store, ensure_athlete, open_store
from store.db import MIGRATIONS_DIR, create_store_engine, schema_revision
from store.models import UTCDateTime

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def add_alert(store: Store, alert_id: str, episode: int, resolved: bool = False) -> None:
    with store.session() as session:
        ensure_athlete(session, "ana")
        session.add(Alert(id=alert_id, rule_id="single_run_spike", athlete_id="ana",
                          episode=episode, severity="warn", metric="longest_run_ratio_30d",
                          value=1.5, threshold=1.1, as_of=date(2026, 11, 21), fired_at=NOW,
                          resolved_at=NOW if resolved else None, payload={"x": 1}))


def add_outbox(store: Store, alert_id: str, key: str) -> None:
    with store.session() as session:
        session.add(OutboxMessage(event_id=f"msg_{key}", dedupe_key=key, alert_id=alert_id,
                                  channel="file", kind="firing", payload=b"x",
                                  next_attempt_at=NOW, give_up_at=NOW + timedelta(hours=48)))


def test_migrations_create_the_schema_and_are_idempotent(store: Store,
                                                         database_url: str) -> None:
    tables = set(inspect(store.engine).get_table_names())
    assert {"athletes", "source_files", "activities", "alerts", "outbox",
            "alembic_version"} <= tables
    open_store(database_url).dispose()  # opening again applies nothing and fails nothing


def test_processes_opening_a_fresh_postgresql_database_together_all_start(
        throwaway_postgres_database: tuple[str, str]) -> None:
    """Three processes migrate one empty database at the same instant (`docker compose up
    --scale app=3` on a new volume): one migrates under the advisory lock, the others wait
    for it and open the migrated store; none dies on Alembic's own table."""
    empty_postgres_url, _name = throwaway_postgres_database
    start_at = time.time() + 3.0  # after every interpreter has imported the store
    code = ("import sys, time; from store import open_store; "
            "time.sleep(max(0.0, float(sys.argv[2]) - time.time())); "
            "open_store(sys.argv[1]).dispose(); print('opened')")
    processes = [subprocess.Popen([sys.executable, "-c", code, empty_postgres_url,
                                   str(start_at)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [process.communicate(timeout=120) for process in processes]
    for process, (out, err) in zip(processes, results, strict=True):
        assert process.returncode == 0 and out.strip() == "opened", err
    engine = create_store_engine(empty_postgres_url)
    assert schema_revision(engine) == SCHEMA_HEAD
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    engine.dispose()


def test_threads_opening_a_fresh_postgresql_database_together_all_start(
        throwaway_postgres_database: tuple[str, str]) -> None:
    """Alembic's context is one per process: threads of one process take turns too."""
    empty_postgres_url, _name = throwaway_postgres_database
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def open_it() -> None:
        barrier.wait()
        try:
            open_store(empty_postgres_url).dispose()
        except BaseException as exc:  # noqa: BLE001 - reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    engine = create_store_engine(empty_postgres_url)
    assert schema_revision(engine) == SCHEMA_HEAD
    engine.dispose()


def _alembic_config(connection: Any) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def test_schema_head_is_the_newest_migration() -> None:
    """open_store skips Alembic at SCHEMA_HEAD, read from the migrations' file names: a new
    migration must be named after its revision id."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(_alembic_config(None))
    assert scripts.get_heads() == [SCHEMA_HEAD]


def test_a_store_at_the_head_opens_without_loading_alembic(database_url: str) -> None:
    open_store(database_url).dispose()  # migrates a new database
    code = ("import sys; from store import open_store; open_store(sys.argv[1]).dispose(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))")
    opened = subprocess.run([sys.executable, "-c", code, database_url], capture_output=True,
                            text=True, check=True)
    assert opened.stdout.strip() == "[]"
    engine = create_store_engine(database_url)
    assert schema_revision(engine) == SCHEMA_HEAD
    engine.dispose()


def test_dropping_the_athlete_name_keeps_every_row(database_url: str) -> None:
    """0004 drops a column of a table that other rows refer to (SQLite keeps its keys on)."""
    from alembic import command

    engine = create_store_engine(database_url)
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0003")
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO athletes (id, name, created_at) "
                                "VALUES ('ana', 'Ana', :now)"), {"now": NOW})
        connection.execute(text(
            "INSERT INTO source_files (sha256, athlete_id, original_name, size_bytes, status, "
            "warnings, received_at) VALUES ('ab', 'ana', 'run.fit', 1, 'ingested', '[]', :now)"),
            {"now": NOW})
    engine.dispose()
    store = open_store(database_url)
    try:
        columns = {c["name"] for c in inspect(store.engine).get_columns("athletes")}
        assert columns == {"id", "created_at"}
        with store.session() as session:
            assert [a.id for a in session.scalars(select(Athlete))] == ["ana"]
            assert session.execute(text("SELECT athlete_id FROM source_files")).all() == [("ana",)]
    finally:
        store.dispose()


# the alerts table as revision 0004 left it (the model has grown columns since)
_ALERTS_AT_0004 = table(
    "alerts", *(column(name) for name in (
        "id", "rule_id", "athlete_id", "episode", "severity", "metric", "value", "threshold",
        "as_of")), column("fired_at", UTCDateTime()), column("payload", JSON()))


def test_stored_payloads_take_the_rules_severity_word(database_url: str) -> None:
    """0005: an alert stored before one vocabulary said `warning` in its payload; it says `warn`
    afterwards, so a later resolved notice built from it does too."""
    from alembic import command

    engine = create_store_engine(database_url)
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0004")
        connection.execute(text("INSERT INTO athletes (id, created_at) VALUES ('ana', :now)"),
                           {"now": NOW})
        for alert_id, severity, word in (("a1", "warn", "warning"), ("a2", "critical", "critical")):
            connection.execute(
                insert(_ALERTS_AT_0004).values(
                    id=alert_id, rule_id=f"rule_{alert_id}", athlete_id="ana", episode=1,
                    severity=severity, metric="longest_run_ratio_30d", value=1.5,
                    threshold=1.1, as_of=NOW.date(), fired_at=NOW,
                    payload={"severity": word, "summary": "a spike"}))
    engine.dispose()
    store = open_store(database_url)
    try:
        with store.session() as session:
            payloads = {a.id: a.payload for a in session.scalars(select(Alert))}
    finally:
        store.dispose()
    assert payloads == {"a1": {"severity": "warn", "summary": "a spike"},
                        "a2": {"severity": "critical", "summary": "a spike"}}


def test_migrations_match_the_models(store: Store) -> None:
    """Alembic's autogenerate finds nothing to add: the migrations build what the models say."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from store.models import Base

    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_datetimes_come_back_as_utc(store: Store) -> None:
    add_alert(store, "a1", 1)
    with store.session() as session:
        fired_at = session.get(Alert, "a1").fired_at
    assert fired_at == NOW and fired_at.tzinfo is not None


def test_only_one_open_episode_per_rule_and_athlete(store: Store) -> None:
    add_alert(store, "a1", 1, resolved=True)
    add_alert(store, "a2", 2)
    with pytest.raises(IntegrityError):
        add_alert(store, "a3", 3)


def test_outbox_dedupe_key_is_unique(store: Store) -> None:
    add_alert(store, "a1", 1)
    add_outbox(store, "a1", "file|a1|firing|warn")
    with pytest.raises(IntegrityError):
        add_outbox(store, "a1", "file|a1|firing|warn")


def test_claim_leases_rows_and_results_are_recorded(store: Store) -> None:
    add_alert(store, "a1", 1)
    add_outbox(store, "a1", "k1")
    add_outbox(store, "a1", "k2")
    claimed = claim_due(store, NOW)
    assert len(claimed) == 2
    assert claim_due(store, NOW) == []  # leased: nobody else takes them
    assert record_result(store, claimed[0], DeliveryResult(ok=True), NOW, 5) == "sent"
    retry = DeliveryResult(ok=False, retryable=True, reason="451 try later", retry_after_s=60)
    assert record_result(store, claimed[1], retry, NOW, 5) == "retry"
    assert claim_due(store, NOW + timedelta(seconds=30)) == []
    [again] = claim_due(store, NOW + timedelta(seconds=61))
    assert again.attempts == 2
    permanent = DeliveryResult(ok=False, retryable=False, reason="550 no such user")
    assert record_result(store, again, permanent, NOW, 5) == "dead"
    with store.session() as session:
        states = {m.dedupe_key: (m.status, m.last_error) for m in
                  session.scalars(select(OutboxMessage))}
    assert states == {"k1": ("sent", None), "k2": ("dead", "550 no such user")}


def test_an_expired_lease_is_claimed_again(store: Store) -> None:
    add_alert(store, "a1", 1)
    add_outbox(store, "a1", "k1")
    assert len(claim_due(store, NOW)) == 1  # the worker dies here, never records a result
    assert claim_due(store, NOW + timedelta(minutes=1)) == []
    assert len(claim_due(store, NOW + timedelta(minutes=6))) == 1


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path) -> None:
    sqlite_store = open_store(f"sqlite:///{tmp_path / 'nested' / 'sg.db'}")
    with sqlite_store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    with pytest.raises(IntegrityError), sqlite_store.session() as session:
        session.add(OutboxMessage(event_id="e", dedupe_key="k", alert_id="no-such-alert",
                                  channel="file", kind="firing", payload=b"x",
                                  next_attempt_at=NOW, give_up_at=NOW))
    sqlite_store.dispose()


def test_0006_keeps_queued_alert_mail_and_takes_digest_rows(database_url: str) -> None:
    """0006 copies the outbox on SQLite (alert_id becomes optional): rows queued before it stay
    as they were, stored alerts are `immediate`, and a digest row needs no alert."""
    from alembic import command

    from store.ledger import PeriodTaken, claim_period

    engine = create_store_engine(database_url)
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0005")
        connection.execute(text("INSERT INTO athletes (id, created_at) VALUES ('ana', :now)"),
                           {"now": NOW})
        connection.execute(insert(_ALERTS_AT_0004).values(
            id="a1", rule_id="single_run_spike", athlete_id="ana", episode=1, severity="warn",
            metric="longest_run_ratio_30d", value=1.5, threshold=1.1, as_of=NOW.date(),
            fired_at=NOW, payload={"severity": "warn"}))
        connection.execute(text(
            "INSERT INTO outbox (event_id, dedupe_key, alert_id, channel, kind, recipients, "
            "payload, status, attempts, next_attempt_at, give_up_at, created_at) VALUES "
            "('msg_1', 'email|a1|firing|warn', 'a1', 'email', 'firing', '[]', :payload, "
            "'pending', 0, :now, :now, :now)"), {"payload": b"mail", "now": NOW})
    engine.dispose()
    store = open_store(database_url)
    try:
        with store.session() as session:
            row = session.scalars(select(OutboxMessage)).one()
            assert (row.alert_id, row.payload, row.digest_id) == ("a1", b"mail", None)
            assert session.get(Alert, "a1").deliver == "immediate"
            digest = claim_period(session, "athlete", "ana", "2026-W47", {"km": 30})
            session.add(OutboxMessage(
                event_id="msg_2", dedupe_key="email|digest|x", alert_id=None,
                digest_id=digest.id, channel="email", kind="digest", recipients=[],
                payload=b"digest", status="pending", attempts=0, next_attempt_at=NOW,
                give_up_at=NOW, created_at=NOW))
        with store.session() as session, pytest.raises(PeriodTaken):
            claim_period(session, "athlete", "ana", "2026-W47", {"km": 31})
    finally:
        store.dispose()
