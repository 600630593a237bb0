"""The parts of the health and metrics endpoint: the telemetry's labels and counts, the
problem classes of quarantined files, the database probe behind /readyz and the outbox gauges,
and the workers table's heartbeat."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import Samples, metric_samples
from helpers import metric_total as total
from sqlalchemy.engine import make_url

from fitwriter.synthetic import weekly_plan, write_plan
from ingest.containers import too_large
from ingest.links import link_reason
from ingest.outcome import IngestOutcome, IngestStatus, problem_class
from ingest.pool import KILLED_TWICE
from store import OutboxMessage, Store, Worker, utc_now
from store.db import SCHEMA_HEAD, describe_database_failure
from store.workers import (
    WORKER_ROWS_KEPT,
    WorkerHeartbeat,
    list_workers,
    register_worker,
    stop_worker,
    touch_worker,
)
from wiring.health import DatabaseProbe, Readiness
from wiring.telemetry import Telemetry


@pytest.mark.parametrize(("reason", "expected"), [
    # the reasons ingest writes (ingest/*.py), one of each kind, filled in as they come
    ("no FIT header (expected '.FIT' at bytes 8-11)", "not_an_activity_file"),
    ("the file is empty (0 bytes)", "not_an_activity_file"),
    ("only 9 bytes, shorter than a FIT header", "not_an_activity_file"),
    ("the file holds only its 14-byte FIT header and no data (the header declares 14 bytes)",
     "not_an_activity_file"),
    ("the zip file holds no .fit, .tcx or .gpx file (plain or gzipped)", "not_an_activity_file"),
    ("no session summary: no session message", "not_an_activity_file"),
    ("no session summary: the file has no session message and only 3 timestamped records",
     "not_an_activity_file"),
    ("not an activity (FIT file type 'settings')", "not_an_activity_file"),
    ("a TCX course (a planned route), not a recorded activity", "not_an_activity_file"),
    ("the GPX file holds no timed track points (a route or a planned course), not a recorded "
     "activity", "not_an_activity_file"),
    ("x.gpx: not a GPX file (its root element is <kml>, expected <gpx>)",
     "not_an_activity_file"),
    ("journal.csv holds no rows below its header", "not_an_activity_file"),
    ("not readable as FIT: unexpected end of file", "damaged"),
    ("no session summary could be read (12 timestamped records before the damage): x",
     "damaged"),
    ("run.fit.gz: not a complete gzip stream (Compressed file ended)", "damaged"),
    ("file CRC mismatch (stored 0x1234, computed 0x4321): the file was damaged or never "
     "finalised by the device", "damaged"),
    ("the header declares 9000 bytes but the file has 512", "damaged"),
    ("the 2nd FIT file of the chain is cut short (its header declares 900 bytes, 10 are left)",
     "damaged"),
    ("not a readable zip file (File is not a zip file)", "damaged"),
    ("x.tcx: not well-formed XML at line 3, column 1: mismatched tag", "damaged"),
    ("journal.csv line 4: expected 4 columns (day,area,pain,note; quote a note that holds a "
     "comma), got 5", "damaged"),
    (too_large("run.fit.gz"), "too_large"),
    (too_large("a.zip:run.fit (900000000 bytes)", "is"), "too_large"),
    ("big.tcx: 300 MB of XML is more than StrideGuard reads (64 MB): no activity file is that "
     "large; split it or export it as FIT", "too_large"),
    ("journal.csv: 9000000 bytes is too large for a journal (at most 1048576)", "too_large"),
    (KILLED_TWICE, "decoder_killed"),
    ("x.gpx: declares XML entities (<!ENTITY ...>); StrideGuard does not expand them",
     "unsupported"),
    ("run.fit: encrypted (a password-protected zip is not supported); export it without a "
     "password", "unsupported"),
    ("not a regular file (a pipe or a device?): not read", "unsupported"),
    ("the database refused it (value too long) when storing its data", "database"),
    ("[Errno 13] Permission denied: '/data/inbox/ana/run.fit'", "permission"),
    ("run.fit; moving it to quarantine failed ([Errno 30] Read-only file system: "
     "'/data/quarantine')", "permission"),
    ("StrideGuard could not read it (KeyError: 3); please report this file", "other"),
    # words that only look like a class: a decoder's own message, a warning's count
    ("run.fit: more than one session", "other"),
    ("the file chains 2 more copies of a part it already holds; each was read once", "other"),
])
def test_problem_classes_keep_the_reason_label_to_a_few_values(reason: str,
                                                              expected: str) -> None:
    assert problem_class(reason) == expected


def test_a_link_refused_is_in_the_symlink_class(tmp_path: Path) -> None:
    link = tmp_path / "run.fit"
    link.symlink_to(tmp_path / "elsewhere" / "ben" / "run.fit")
    assert problem_class(link_reason(link)) == "symlink"


def exposition(telemetry: Telemetry) -> Samples:
    return metric_samples(telemetry.exposition().decode())


def test_telemetry_labels_are_outcomes_classes_and_channel_kinds(tmp_path: Path) -> None:
    marked: list[str] = []
    telemetry = Telemetry(worker_id="host:1:abc", on_success=marked.append)
    path = tmp_path / "a.fit"
    telemetry.record_scan([
        IngestOutcome(path, "ana", IngestStatus.INGESTED, decode_s=0.02, record_count=600),
        IngestOutcome(path, "ana", IngestStatus.QUARANTINED, "no FIT header", decode_s=0.001),
        IngestOutcome(path, "ana", IngestStatus.WAITING, "still being copied"),
        IngestOutcome(path, "ana", IngestStatus.DUPLICATE, "same file as source #3"),
        IngestOutcome(path, "ana", IngestStatus.SKIPPED, "not an activity (FIT file type "
                      "'settings')", decode_s=0.001),
    ])
    telemetry.record_notification("webhook:0123456789ab", "sent")
    telemetry.record_notification("email", "retry")
    telemetry.record_dispatch()
    samples = exposition(telemetry)
    assert total(samples, "strideguard_files_total", outcome="ingested", reason="") == 1
    assert total(samples, "strideguard_files_total", outcome="quarantined",
                 reason="not_an_activity_file") == 1
    assert total(samples, "strideguard_files_total", outcome="duplicate") == 1
    assert total(samples, "strideguard_files_total", outcome="waiting") == 0
    assert total(samples, "strideguard_files_total", outcome="skipped",
                 reason="not_an_activity_file") == 1
    assert total(samples, "strideguard_decode_seconds_count") == 3
    assert total(samples, "strideguard_records_decoded_total") == 600
    assert total(samples, "strideguard_notifications_total", channel="webhook",
                 outcome="sent") == 1
    assert total(samples, "strideguard_notifications_total", channel="email",
                 outcome="retry") == 1
    assert total(samples, "strideguard_worker_info", worker="host:1:abc") == 1
    assert total(samples, "strideguard_last_scan_timestamp_seconds") > 0
    assert marked == ["scan", "dispatch"]
    assert "strideguard_database_up" not in str(samples)  # no outbox probe given


def test_a_scan_that_could_not_list_the_inbox_is_no_successful_scan(tmp_path: Path) -> None:
    marked: list[str] = []
    telemetry = Telemetry(on_success=marked.append, process_metrics=False)
    telemetry.record_scan([], ["permission", "missing"], inbox_listed=False)
    samples = exposition(telemetry)
    assert total(samples, "strideguard_scan_folder_errors_total", reason="permission") == 1
    assert total(samples, "strideguard_scan_unlisted_folders") == 2
    assert total(samples, "strideguard_last_scan_timestamp_seconds") == 0 and marked == []
    telemetry.record_scan([IngestOutcome(tmp_path / "a.fit", "ana", IngestStatus.INGESTED)],
                          ["permission"])  # the inbox listed, one folder below it not
    samples = exposition(telemetry)
    assert total(samples, "strideguard_scan_folder_errors_total") == 3
    assert total(samples, "strideguard_scan_unlisted_folders") == 1
    assert total(samples, "strideguard_last_scan_timestamp_seconds") > 0
    assert marked == ["scan"]


def test_digests_queued_and_failed_are_counted() -> None:
    from digest.send import DigestOutcome, DigestStatus

    telemetry = Telemetry(process_metrics=False)
    telemetry.record_digests([
        DigestOutcome("athlete", "ana", "2026-W10", DigestStatus.QUEUED, "d1", 1),
        DigestOutcome("squad", "*", "2026-W10", DigestStatus.QUEUED, "d2", 2),
        DigestOutcome("athlete", "ben", "2026-W10", DigestStatus.FAILED),
        DigestOutcome("athlete", "cy", "2026-W10", DigestStatus.ALREADY_SENT),
    ])
    samples = exposition(telemetry)
    assert total(samples, "strideguard_digests_total", kind="athlete", outcome="queued") == 1
    assert total(samples, "strideguard_digests_total", kind="squad", outcome="queued") == 1
    assert total(samples, "strideguard_digests_total", outcome="failed") == 1
    assert total(samples, "strideguard_digests_total") == 3  # "already sent": no news


def test_a_failing_outbox_probe_gives_database_up_0_and_a_working_scrape() -> None:
    def broken() -> object:
        raise ConnectionRefusedError("no database")

    telemetry = Telemetry(outbox=broken)  # type: ignore[arg-type]
    samples = exposition(telemetry)
    assert total(samples, "strideguard_database_up") == 0
    assert ("strideguard_outbox_depth", frozenset()) not in samples
    assert total(samples, "strideguard_files_total") == 0


def test_record_evaluation_counts_a_real_evaluation_and_its_alerts(tmp_path: Path) -> None:
    from ingest import ingest_inbox
    from wiring import open_app

    config = tmp_path / "strideguard.yaml"
    config.write_text("ingest:\n  stability: 0s\n  workers: 1\n", encoding="utf-8")
    with open_app(str(config)) as app:
        write_plan(weekly_plan(datetime.now(UTC).date(), 5, [5.0, 6.0, 8.0],
                               final_run_km=17.0), app.config.inbox / "ana")
        ingest_inbox(app.store, app.ingest_settings())
        report = app.evaluate()
    telemetry = Telemetry()
    telemetry.record_evaluation(report, 0.25)
    samples = exposition(telemetry)
    assert total(samples, "strideguard_evaluations_total") == 1
    assert total(samples, "strideguard_evaluation_duration_seconds_sum") == 0.25
    assert total(samples, "strideguard_alerts_total", rule="single_run_spike") >= 1
    fired = [t for t in report.transitions if t.kind == "fired"]
    assert total(samples, "strideguard_alerts_total") == len(fired)


def test_probe_reads_the_outbox_and_readiness_names_each_problem(tmp_path: Path,
                                                                 store: Store) -> None:
    now = utc_now()
    with store.session() as session:
        for index, (status, age_min, lease_min) in enumerate([
                ("pending", 5, None), ("retry", 30, None), ("dead", 90, None),
                ("sent", 300, None),
                ("sending", 20, 1),  # being sent now: not due
                ("sending", 45, -2)]):  # its sender died 2 minutes ago: due again
            session.add(OutboxMessage(
                event_id=f"e{index}", dedupe_key=f"k{index}", channel="email", kind="firing",
                recipients=[], payload=b"", status=status, give_up_at=now,
                created_at=now - timedelta(minutes=age_min),
                next_attempt_at=now - timedelta(minutes=age_min),
                lease_until=None if lease_min is None else now + timedelta(minutes=lease_min)))
    probe = DatabaseProbe(str(store.engine.url.render_as_string(hide_password=False)))
    try:
        snapshot = probe.outbox(now)
        assert (snapshot.waiting, snapshot.dead) == (4, 1)
        assert snapshot.oldest_waiting_age_s == pytest.approx(45 * 60, abs=1)
        assert snapshot.oldest_due_age_s == pytest.approx(45 * 60, abs=1)  # the expired lease
        samples = exposition(Telemetry(outbox=probe.outbox, process_metrics=False))
        assert total(samples, "strideguard_database_up") == 1
        assert total(samples, "strideguard_outbox_depth") == 4
        assert total(samples, "strideguard_outbox_dead") == 1
        assert total(samples, "strideguard_outbox_oldest_age_seconds") == pytest.approx(
            45 * 60, abs=60)
        assert total(samples, "strideguard_outbox_oldest_due_age_seconds") == pytest.approx(
            45 * 60, abs=60)
        inbox = tmp_path / "inbox"
        inbox.mkdir()
        assert Readiness(probe, inbox, lambda: True).problems() == []
        problems = Readiness(probe, tmp_path / "gone", lambda: False,
                             lambda: ["inbox: cannot list x"]).problems()
        assert [p.split(":")[0] for p in problems] == ["scheduler", "inbox", "inbox"]
    finally:
        probe.dispose()


def test_a_missing_sqlite_file_is_not_ready_and_is_not_created(tmp_path: Path) -> None:
    """The probe opens SQLite read-only: a database that is not there is a reason, never an
    empty file made on the spot."""
    missing = tmp_path / "data" / "strideguard.db"
    missing.parent.mkdir()
    probe = DatabaseProbe(f"sqlite:///{missing}")
    try:
        assert probe.schema_problem() == "database: unable to open database file"
    finally:
        probe.dispose()
    assert not missing.exists()


def test_a_database_never_migrated_or_behind_is_not_migrated(tmp_path: Path) -> None:
    database = tmp_path / "strideguard.db"
    sqlite3.connect(database).close()  # there, and empty
    probe = DatabaseProbe(f"sqlite:///{database}")
    try:
        problem = probe.schema_problem()
        assert problem is not None and problem.startswith("database: not migrated: no schema")
        with sqlite3.connect(database) as connection:
            connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32))")
            connection.execute("INSERT INTO alembic_version VALUES ('0001')")
        problem = probe.schema_problem()
        assert problem is not None and problem.startswith(
            "database: not migrated: schema at revision 0001, this version needs "
            f"{SCHEMA_HEAD}")
    finally:
        probe.dispose()


def test_a_postgres_database_never_migrated_is_not_migrated_without_the_statement(
        throwaway_postgres_database: tuple[str, str]) -> None:
    database_url, _name = throwaway_postgres_database
    probe = DatabaseProbe(database_url)
    try:
        problem = probe.schema_problem()
    finally:
        probe.dispose()
    assert problem is not None and problem.startswith("database: not migrated: no schema")


def test_a_database_failure_is_one_line_without_the_statement_or_the_password() -> None:
    from sqlalchemy.exc import OperationalError, ProgrammingError

    quoted = ProgrammingError("SELECT version_num FROM alembic_version", {}, Exception(
        'relation "alembic_version" does not exist\nLINE 1: SELECT version_num FROM '
        "alembic_version\n                                ^\n"))
    assert describe_database_failure(quoted) == 'relation "alembic_version" does not exist'
    refused = OperationalError("SELECT 1", {"p": "data"}, Exception(
        'connection to server failed: FATAL:  database "s3cretpass" does not exist'))
    assert describe_database_failure(refused, "s3cretpass") == (
        'connection to server failed: FATAL: database "***" does not exist')
    assert describe_database_failure(ValueError("at s3cretpass"), "s3cretpass") == (
        "ValueError: at ***")
    assert len(describe_database_failure(ValueError("x" * 1000))) == 300


def test_an_unreachable_database_is_a_reason_in_one_line() -> None:
    probe = DatabaseProbe("postgresql+psycopg://sg:pw@127.0.0.1:1/none", timeout_s=2)
    try:
        problem = probe.schema_problem()
    finally:
        probe.dispose()
    assert problem is not None and problem.startswith("database: ") and "\n" not in problem
    assert "refused" in problem and "SELECT" not in problem


def test_a_postgres_error_that_repeats_the_password_never_shows_it(
        throwaway_postgres_database: tuple[str, str]) -> None:
    """libpq names the database it could not open: a password that is also the database's
    name (or part of it) would be in the reason but for the redaction."""
    database_url, _name = throwaway_postgres_database
    secret = f"s3cret{uuid.uuid4().hex[:8]}"
    url = make_url(database_url).set(password=secret, database=f"db_{secret}")
    probe = DatabaseProbe(url.render_as_string(hide_password=False))
    try:
        problem = probe.schema_problem()
    finally:
        probe.dispose()
    assert problem is not None and 'database "db_***" does not exist' in problem, problem
    assert secret not in problem


def test_the_workers_row_follows_start_jobs_and_stop(store: Store) -> None:
    heartbeat = WorkerHeartbeat(store, "host:42:cafe")
    heartbeat.start()
    heartbeat.touch("scan", "dispatch")  # in memory: jobs never write (nor wait) for it
    with store.session() as session:
        (row,) = list_workers(session)
        assert (row.id, row.stopped_at, row.last_scan_at) == ("host:42:cafe", None, None)
    assert heartbeat.flush()
    with store.session() as session:
        (row,) = list_workers(session)
        assert row.last_scan_at is not None and row.last_dispatch_at is not None
        assert row.last_evaluation_at is None and row.last_seen_at >= row.last_scan_at
        session.delete(row)  # a row that went missing comes back at the next flush
    heartbeat.touch("evaluation")
    heartbeat.stop()  # writes what is pending, then marks it stopped
    with store.session() as session:
        (row,) = session.query(Worker).all()
        assert row.last_evaluation_at is not None and row.stopped_at is not None
        assert row.started_at == heartbeat.started_at
        assert list_workers(session, running_only=True) == []


def test_a_heartbeat_that_cannot_write_logs_it_and_never_raises(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from sqlalchemy.orm import sessionmaker

    from store.db import create_store_engine

    engine = create_store_engine(f"sqlite:///{tmp_path / 'unmigrated.db'}")  # no tables
    heartbeat = WorkerHeartbeat(Store(engine, sessionmaker(engine)), "host:1:beef")
    try:
        heartbeat.start()
        heartbeat.touch("scan")
        assert not heartbeat.flush()
        heartbeat.stop()
    finally:
        engine.dispose()
    warnings = [r for r in caplog.records if "could not update this worker's row" in r.message]
    assert len(warnings) == 1  # once while it lasts


def test_a_late_flush_never_brings_a_stopped_worker_back(store: Store) -> None:
    heartbeat = WorkerHeartbeat(store, "host:7:d00d")
    heartbeat.start()
    heartbeat.stop()
    heartbeat.touch("scan")
    assert not heartbeat.flush()  # after stop: nothing written
    with store.session() as session:
        touch_worker(session, "host:7:d00d", utc_now(), {"dispatch": utc_now()})
        (row,) = list_workers(session)
        assert row.stopped_at is not None and row.last_scan_at is None


def test_registering_prunes_the_rows_of_workers_gone_for_long(store: Store) -> None:
    now = utc_now()
    long_ago = now - WORKER_ROWS_KEPT - timedelta(days=1)
    with store.session() as session:
        register_worker(session, "cron:1:once", long_ago)  # a `run --once` of long ago
        session.flush()
        stop_worker(session, "cron:1:once", long_ago)
        register_worker(session, "killed:2:gone", long_ago)  # killed: never stopped
        register_worker(session, "recent:3:once", now - timedelta(days=2))
        session.flush()
        stop_worker(session, "recent:3:once", now - timedelta(days=2))
    with store.session() as session:
        register_worker(session, "host:4:new", now)
    with store.session() as session:
        assert sorted(w.id for w in list_workers(session)) == ["host:4:new", "recent:3:once"]
