"""One file never stops a batch: a decoding worker killed (as the out-of-memory killer does)
costs nothing but a second reading of the files it took down, and the file that kills its
worker twice is quarantined instead of being tried on every scan; a value the database refuses
is an error for that file alone, left in place; a database that is down stops the batch."""

from __future__ import annotations

import io
import os
import signal
import tempfile
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from fitwriter.encode import encode_run
from ingest import IngestSettings, ingest_inbox
from ingest.parse import ParsedFile, parse_payload_safely
from ingest.pool import KILLED_TWICE
from store import Store

START = datetime(2026, 10, 5, 6, 30, tzinfo=UTC)
REFUSED_DISTANCE_M = 4321.0  # the database's trigger below refuses an activity this long


def dying_parse(data: bytes, payload_format: str, decoder: str, timezone_name: str, name: str,
                sport_hint: str | None) -> ParsedFile:
    """The worker's parse, but a file named '...oom...' kills its process with SIGKILL, as the
    kernel's out-of-memory killer does ('oom-once': only the first time)."""
    if "oom" in name:
        marker = Path(tempfile.gettempdir()) / f"strideguard-killed-{name}"
        if "oom-once" not in name or not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
    return parse_payload_safely(data, payload_format, decoder,  # type: ignore[arg-type]
                                timezone_name, name, sport_hint)


def settings_for(tmp_path: Path, workers: int = 1) -> IngestSettings:
    return IngestSettings(inbox=tmp_path / "inbox", archive=tmp_path / "archive",
                          quarantine=tmp_path / "quarantine", stability_s=0.0, workers=workers)


def run_fit(day: int, distance_m: float = 5000.0) -> bytes:
    return encode_run(START + timedelta(days=day), distance_m, 1600.0,
                      serial_number=3_900_000_000 + day)


def drop(settings: IngestSettings, name: str, data: bytes, athlete: str = "ana") -> Path:
    folder = settings.inbox / athlete
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return folder / name


def test_a_killed_worker_costs_a_second_reading_and_a_killer_is_quarantined(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ingest.pool.parse_task", dying_parse)
    settings = settings_for(tmp_path, workers=2)
    once = f"d-oom-once-{uuid.uuid4().hex[:8]}.fit"
    names = ["a-fine.fit", "b-oom-twice.fit", "c-fine.fit", once, "e-fine.fit", "f-fine.fit"]
    for day, name in enumerate(names):  # the first is read in this process: never a killer
        drop(settings, name, run_fit(day))
    outcomes = {o.path.name: o for o in ingest_inbox(store, settings)}
    assert {n: o.status for n, o in outcomes.items()} == {
        "a-fine.fit": "ingested", "b-oom-twice.fit": "quarantined", "c-fine.fit": "ingested",
        once: "ingested", "e-fine.fit": "ingested", "f-fine.fit": "ingested"}
    assert outcomes["b-oom-twice.fit"].reason == f"b-oom-twice.fit: {KILLED_TWICE}"
    reason_file = settings.quarantine / "ana" / "b-oom-twice.fit.reason.txt"
    assert KILLED_TWICE in reason_file.read_text(encoding="utf-8")
    assert not any((settings.inbox / "ana").iterdir())  # nothing left to retry forever
    assert ingest_inbox(store, settings) == []


def _refuse(store: Store, athlete: str) -> None:
    """Make the database refuse an activity of REFUSED_DISTANCE_M and the athlete's row, as a
    column type or a constraint refuses a value: DataError on PostgreSQL (a value out of range),
    IntegrityError on SQLite (a constraint)."""
    with store.session() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text(f"""
                CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN
                  RAISE EXCEPTION 'value out of range for this database'
                    USING ERRCODE = 'numeric_value_out_of_range';
                END $$ LANGUAGE plpgsql;
                CREATE TRIGGER refuse_distance BEFORE INSERT ON activities FOR EACH ROW
                  WHEN (NEW.distance_m = {REFUSED_DISTANCE_M}) EXECUTE FUNCTION refuse();
                CREATE TRIGGER refuse_athlete BEFORE INSERT ON athletes FOR EACH ROW
                  WHEN (NEW.id = '{athlete}') EXECUTE FUNCTION refuse();"""))
        else:
            session.execute(text(f"""
                CREATE TRIGGER refuse_distance BEFORE INSERT ON activities
                WHEN NEW.distance_m = {REFUSED_DISTANCE_M}
                BEGIN SELECT RAISE(ABORT, 'value refused by this database'); END"""))
            session.execute(text(f"""
                CREATE TRIGGER refuse_athlete BEFORE INSERT ON athletes WHEN NEW.id = '{athlete}'
                BEGIN SELECT RAISE(ABORT, 'value refused by this database'); END"""))


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_value_the_database_refuses_is_an_error_for_that_file_alone(
        store: Store, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    _refuse(store, "bob")
    refused = drop(settings, "a-refused.fit", run_fit(0, REFUSED_DISTANCE_M))
    drop(settings, "b-fine.fit", run_fit(1))
    export = drop(settings, "c-export.zip", _zip({"1.fit": run_fit(2, REFUSED_DISTANCE_M),
                                                  "2.fit": run_fit(3)}))
    bobs = drop(settings, "bob.fit", run_fit(4), athlete="bob")
    outcomes = {o.label: o for o in ingest_inbox(store, settings)}
    assert {label: o.status for label, o in outcomes.items()} == {
        "a-refused.fit": "error", "b-fine.fit": "ingested", "c-export.zip:1.fit": "error",
        "c-export.zip:2.fit": "ingested", "bob.fit": "error"}
    for label in ("a-refused.fit", "c-export.zip:1.fit", "bob.fit"):
        assert outcomes[label].reason.startswith("the database refused it (")
        assert outcomes[label].reason.endswith("it is left in place to be read again")
    assert "when storing its data;" in outcomes["a-refused.fit"].reason
    assert "when storing the row of athlete 'bob';" in outcomes["bob.fit"].reason
    assert refused.exists() and bobs.exists() and export.exists()  # left in place
    with store.session() as session:  # the database takes them now
        session.execute(text("DROP TRIGGER refuse_distance" + (
            " ON activities" if session.get_bind().dialect.name == "postgresql" else "")))
        session.execute(text("DROP TRIGGER refuse_athlete" + (
            " ON athletes" if session.get_bind().dialect.name == "postgresql" else "")))
    again = {o.label: o.status for o in ingest_inbox(store, settings)}
    assert again == {"a-refused.fit": "ingested", "c-export.zip:1.fit": "ingested",
                     "c-export.zip:2.fit": "duplicate", "bob.fit": "ingested"}
    assert not refused.exists() and not export.exists()


def test_a_database_that_is_down_stops_the_batch(store: Store, tmp_path: Path) -> None:
    with store.session() as session:
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("raising an OperationalError from a trigger needs PostgreSQL")
        session.execute(text("""
            CREATE FUNCTION down() RETURNS trigger AS $$ BEGIN
              RAISE EXCEPTION 'the server is shutting down' USING ERRCODE = 'admin_shutdown';
            END $$ LANGUAGE plpgsql;
            CREATE TRIGGER down BEFORE INSERT ON source_files FOR EACH ROW
              EXECUTE FUNCTION down();"""))
    settings = settings_for(tmp_path)
    first = drop(settings, "a.fit", run_fit(0))
    drop(settings, "b.fit", run_fit(1))
    with pytest.raises(OperationalError):
        ingest_inbox(store, settings)
    assert first.exists()
