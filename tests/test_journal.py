"""The pain journal: `strideguard journal add | list`, journal.csv files dropped into the inbox
(good rows kept, bad rows named by line, archived, deduplicated), and FIT workout_feel / RPE."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from helpers import files_under
from sqlalchemy import select
from watchdog.events import FileCreatedEvent

from cli import main
from config.locate import EXIT_CONFIG
from fitwriter.encode import encode_run
from ingest import (
    InboxWatcher,
    IngestSettings,
    batch_needs_evaluation,
    count_reprocessable,
    ingest_inbox,
    reprocess_archive,
)
from ingest.journal_csv import read_journal
from store import Activity, JournalEntry, SourceFile, Store, ensure_athlete, open_store

HEADER = "date,area,pain,note\n"
TODAY = date(2026, 3, 10)  # read_journal's "today" in the pure tests
AREAS = "lower_back, si_joint, hip, knee, shin, foot, other"


@pytest.fixture
def settings(tmp_path: Path) -> IngestSettings:
    return IngestSettings(inbox=tmp_path / "inbox", archive=tmp_path / "archive",
                          quarantine=tmp_path / "quarantine", stability_s=0.0)


def drop(settings: IngestSettings, text: str | bytes, name: str = "journal.csv",
         athlete: str = "ana") -> Path:
    folder = settings.inbox / athlete
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def entries(store: Store, athlete: str = "ana") -> list[tuple]:
    with store.session() as session:
        return [(e.day.isoformat(), e.area, e.pain, e.note, e.source, e.line)
                for e in session.scalars(select(JournalEntry).where(
                    JournalEntry.athlete_id == athlete).order_by(JournalEntry.id))]


# --- reading a journal.csv -------------------------------------------------------------------


def problems_of(body: str) -> list[str]:
    return read_journal((HEADER + body).encode(), "journal.csv", TODAY).problems


@pytest.mark.parametrize(("row", "expected"), [
    ("2026-02-30,knee,3,", "expected a date YYYY-MM-DD, got '2026-02-30'"),
    ("03/02/2026,knee,3,", "expected a date YYYY-MM-DD, got '03/02/2026'"),
    ("2026-03-11,knee,3,", "expected a date no later than today (2026-03-10), got 2026-03-11"),
    ("2026-03-02,neck,3,", f"expected an area ({AREAS}), got 'neck'"),
    ("2026-03-02,knee,11,", "expected pain as a whole number 0-10, got '11'"),
    ("2026-03-02,knee,2.5,", "expected pain as a whole number 0-10, got '2.5'"),
    ("2026-03-02,knee,-1,", "expected pain as a whole number 0-10, got '-1'"),
    ("2026-03-02,knee,sore,", "expected pain as a whole number 0-10, got 'sore'"),
    ("2026-03-02,,4,sore", f"expected an area with the pain ({AREAS})"),
    ("2026-03-02,knee,,sore", "expected a pain 0-10 with the area (0 for none)"),
    ("2026-03-02,,,", "expected a pain with its area, or a note"),
    ("2026-03-02,knee,3", "expected 4 columns (date,area,pain,note; quote a note that holds a "
                          "comma), got 3"),
    ("2026-03-02,knee,3,sore, mostly uphill", "expected 4 columns (date,area,pain,note; quote "
                                              "a note that holds a comma), got 5"),
    ("yesterday,neck,12,", "expected a date YYYY-MM-DD, got 'yesterday'; expected an area "
                           f"({AREAS}), got 'neck'; expected pain as a whole number 0-10, "
                           "got '12'"),
])
def test_a_bad_row_is_named_by_its_line_with_what_was_expected(row: str, expected: str) -> None:
    assert problems_of(f"2026-03-01,knee,2,\n{row}\n") == [f"journal.csv line 3: {expected}"]


def test_what_a_good_row_may_look_like() -> None:
    text = ("\ufeffDate, Area ,PAIN,note\r\n"  # a spreadsheet's BOM, CRLF, any case
            "2026-03-01,Lower back,6.0,\"sharp when sitting,\nworse in the car\"\r\n"
            "\r\n"  # blank rows are skipped, still counted as lines
            "2026-03-02,si-joint,0,\r\n"
            "2026-03-03,,,\"easy day, legs fine\"\r\n")
    read = read_journal(text.encode(), "journal.csv", TODAY)
    assert read.problems == [] and read.unreadable is None
    assert [(line, v.day.isoformat(), v.area, v.pain, v.note) for line, v in read.rows] == [
        (2, "2026-03-01", "lower_back", 6, "sharp when sitting,\nworse in the car"),
        (5, "2026-03-02", "si_joint", 0, None),
        (6, "2026-03-03", None, None, "easy day, legs fine")]
    # the columns in another order are read by the header's names
    other_order = read_journal(b"note,pain,area,date\nfelt ok,3,hip,2026-03-04\n",
                               "journal.csv", TODAY)
    assert [(v.area, v.pain, v.note) for _, v in other_order.rows] == [("hip", 3, "felt ok")]


@pytest.mark.parametrize(("data", "expected"), [
    (b"day,where,pain,note\n2026-03-01,knee,3,\n",
     "journal.csv line 1: expected the header date,area,pain,note, got 'day,where,pain,note'"),
    (b"2026-03-01,knee,3,\n", "journal.csv line 1: expected the header date,area,pain,note, "
                              "got '2026-03-01,knee,3,'"),
    (b"", "journal.csv line 1: expected the header date,area,pain,note, got 'nothing'"),
    ("date,area,pain,note\n2026-03-01,knee,3,caf\u00e9\n".encode("latin-1"),
     "journal.csv: expected UTF-8 text"),
])
def test_a_file_that_cannot_be_read_as_a_journal(data: bytes, expected: str) -> None:
    read = read_journal(data, "journal.csv", TODAY)
    assert read.rows == [] and read.unreadable is not None
    assert read.unreadable.startswith(expected)


# --- journal.csv in the inbox ------------------------------------------------------------------


def test_good_rows_are_stored_the_bad_line_named_and_the_file_archived(
        store: Store, settings: IngestSettings, caplog: pytest.LogCaptureFixture) -> None:
    drop(settings, HEADER + "2026-03-02,lower_back,4,stiff after the long run\n"
                            "2026-03-03,neck,3,\n"
                            "2026-03-04,,,\"rest day, felt fine\"\n")
    with caplog.at_level(logging.INFO, logger="strideguard.ingest"):
        [outcome] = ingest_inbox(store, settings)

    bad_line = f"journal.csv line 3: expected an area ({AREAS}), got 'neck'"
    assert outcome.status == "ingested" and outcome.warnings == [bad_line]
    assert len(outcome.journal_entry_ids) == 2 and batch_needs_evaluation([outcome])
    assert bad_line in caplog.text
    assert entries(store) == [
        ("2026-03-02", "lower_back", 4, "stiff after the long run", "csv", 2),
        ("2026-03-04", None, None, "rest day, felt fine", "csv", 4)]
    with store.session() as session:
        source = session.scalars(select(SourceFile)).one()
        assert (source.status, source.warnings, source.original_name) == (
            "ingested", [bad_line], "journal.csv")
        assert {e.source_file_id for e in session.scalars(select(JournalEntry))} == {source.id}
        assert outcome.stored_at is not None and source.stored_path == str(outcome.stored_at)
    assert outcome.stored_at.is_file() and outcome.stored_at.is_relative_to(
        settings.archive / "ana")
    assert files_under(settings.inbox) == []


def test_the_same_file_again_is_a_duplicate_and_a_re_export_adds_only_new_rows(
        store: Store, settings: IngestSettings) -> None:
    first = HEADER + "2026-03-02,lower_back,4,stiff\n2026-03-03,lower_back,2,\n"
    drop(settings, first)
    assert [o.status for o in ingest_inbox(store, settings)] == ["ingested"]

    drop(settings, first)
    [again] = ingest_inbox(store, settings)
    assert again.status == "duplicate" and "same file as source #1" in again.reason
    assert not batch_needs_evaluation([again])

    # the runner's spreadsheet exported again a week later: the old rows, one new one, CRLF
    drop(settings, first.replace("\n", "\r\n") + "2026-03-09,knee,5,after intervals\r\n",
         name="2026-03-09.journal.csv")
    [re_export] = ingest_inbox(store, settings)
    assert re_export.status == "ingested" and len(re_export.journal_entry_ids) == 1
    assert entries(store)[-1] == ("2026-03-09", "knee", 5, "after intervals", "csv", 4)
    assert len(entries(store)) == 3

    # other bytes, but nothing new in them: stored already, nothing to evaluate
    drop(settings, "note,pain,area,date\nstiff,4,lower_back,2026-03-02\n")
    [nothing_new] = ingest_inbox(store, settings)
    assert nothing_new.status == "duplicate" and "every row is stored already" in (
        nothing_new.reason)
    assert not batch_needs_evaluation([nothing_new]) and len(entries(store)) == 3
    assert len(files_under(settings.archive)) == 4  # nothing deleted
    # rows are the same only for the same athlete
    drop(settings, first.replace("\n", "\r\n"), athlete="bob")
    [bobs] = ingest_inbox(store, settings)
    assert bobs.status == "ingested" and len(entries(store, "bob")) == 2


def test_a_journal_without_one_good_row_is_quarantined_with_the_lines(
        store: Store, settings: IngestSettings) -> None:
    drop(settings, HEADER + "2026-03-02,neck,4,\n2026-03-03,knee,12,\n")
    drop(settings, "when,where\n2026-03-02,knee\n", name="old.journal.csv")
    outcomes = {o.path.name: o for o in ingest_inbox(store, settings)}
    assert {o.status for o in outcomes.values()} == {"quarantined"}
    reason = (settings.quarantine / "ana" / "journal.csv.reason.txt").read_text()
    assert "journal.csv line 2: expected an area" in reason
    assert "journal.csv line 3: expected pain as a whole number 0-10, got '12'" in reason
    assert "old.journal.csv line 1: expected the header date,area,pain,note" in (
        settings.quarantine / "ana" / "old.journal.csv.reason.txt").read_text()
    assert entries(store) == [] and not batch_needs_evaluation(outcomes.values())
    with store.session() as session:
        assert {s.status for s in session.scalars(select(SourceFile))} == {"quarantined"}
    assert files_under(settings.inbox) == []


def test_a_crash_between_commit_and_move_stores_nothing_twice(
        store: Store, settings: IngestSettings) -> None:
    path = drop(settings, HEADER + "2026-03-02,hip,3,\n")
    [outcome] = ingest_inbox(store, settings)
    assert outcome.stored_at is not None
    outcome.stored_at.rename(path)  # as if the process died after the commit, before the move
    [again] = ingest_inbox(store, settings)
    assert again.status == "duplicate" and again.stored_at == outcome.stored_at
    assert outcome.stored_at.is_file() and not path.exists() and len(entries(store)) == 1


def test_the_inbox_walk_takes_journals_and_waits_for_a_fresh_one(
        store: Store, settings: IngestSettings) -> None:
    drop(settings, HEADER + "2026-03-02,foot,2,\n", name="Ana-Journal.CSV")
    drop(settings, "date,km\n2026-03-02,10\n", name="training-log.csv")  # not ours: left alone
    patient = IngestSettings(settings.inbox, settings.archive, settings.quarantine,
                             stability_s=3600)
    [waiting] = ingest_inbox(store, patient)
    assert waiting.status == "waiting" and "unchanged for 3600 s" in waiting.reason
    [taken] = ingest_inbox(store, settings)
    assert taken.status == "ingested" and taken.path.name == "Ana-Journal.CSV"
    assert [p.name for p in files_under(settings.inbox)] == ["training-log.csv"]


def test_reprocess_leaves_journals_alone(store: Store, settings: IngestSettings) -> None:
    drop(settings, HEADER + "2026-03-02,shin,3,\n")
    drop(settings, encode_run(datetime(2026, 3, 1, 7, tzinfo=UTC), 8000, 2600), name="run.fit")
    ingest_inbox(store, settings)
    with store.session() as session:
        assert count_reprocessable(session) == 1
    assert [o.status for o in reprocess_archive(store, settings)] == ["reprocessed"]
    assert len(entries(store)) == 1


# --- FIT workout_feel and workout_rpe ------------------------------------------------------------


@pytest.mark.parametrize("decoder", ["fitparse", "fitdecode"])
@pytest.mark.parametrize(("feel", "rpe", "stored"), [
    (75, 6.0, (75.0, 6.0)),
    (None, None, (None, None)),  # both written 0xFF: the watch did not ask
    (255, None, (None, None)),
    (0, 0.0, (0.0, None)),  # feel 0 is an answer; RPE 0 is "not rated"
    (100, 15.0, (100.0, None)),  # RPE 150 is out of the CR10 scale
])
def test_session_feel_and_rpe_are_read_by_field_number(
        store: Store, settings: IngestSettings, decoder: str, feel: int | None,
        rpe: float | None, stored: tuple) -> None:
    chosen = IngestSettings(settings.inbox, settings.archive, settings.quarantine,
                            decoder=decoder, stability_s=0.0)  # type: ignore[arg-type]
    drop(chosen, encode_run(datetime(2026, 3, 1, 7, tzinfo=UTC), 8000, 2600, feel=feel,
                            rpe=rpe), name="run.fit")
    [outcome] = ingest_inbox(store, chosen)
    assert outcome.status == "ingested"
    with store.session() as session:
        activity = session.scalars(select(Activity)).one()
        assert (activity.feel, activity.rpe) == stored


def test_reprocess_fills_feel_for_archived_files(store: Store, settings: IngestSettings) -> None:
    drop(settings, encode_run(datetime(2026, 3, 1, 7, tzinfo=UTC), 8000, 2600, feel=25, rpe=7),
         name="run.fit")
    ingest_inbox(store, settings)
    with store.session() as session:  # as stored before StrideGuard read workout_feel
        session.scalars(select(Activity)).one().feel = None
    reprocess_archive(store, settings)
    with store.session() as session:
        assert session.scalars(select(Activity.feel)).one() == 25.0


# --- strideguard journal add | list --------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Path:
    path = tmp_path / "strideguard.yaml"
    path.write_text(f"database: {database_url}\ntimezone: Pacific/Kiritimati\n"
                    "athletes:\n  - id: ana\n    timezone: Europe/Lisbon\n", encoding="utf-8")
    return path


def journal_json(config: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> list[dict]:
    capsys.readouterr()
    assert main(["--config", str(config), "journal", "list", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_journal_add_stores_an_entry_and_list_shows_it(
        config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lisbon_today = datetime.now(ZoneInfo("Europe/Lisbon")).date()
    args = ["--config", str(config), "journal", "add", "--athlete", "ana"]
    assert main([*args, "--pain", "6", "--area", "lower_back",
                 "--note", "sharp when sitting"]) == 0
    out = capsys.readouterr().out
    assert (f'journal entry 1 for ana on {lisbon_today}: lower_back pain 6/10, '
            f'"sharp when sitting"') in out
    yesterday = (lisbon_today - timedelta(days=1)).isoformat()
    assert main([*args, "--date", yesterday, "--note", "easy 5 km, fine"]) == 0
    assert f"journal entry 2 for ana on {yesterday}: \"easy 5 km, fine\"" in (
        capsys.readouterr().out)

    listed = journal_json(config, capsys)
    assert listed == [
        {"id": 2, "athlete": "ana", "date": yesterday, "area": None, "pain": None,
         "note": "easy 5 km, fine", "source": "cli"},
        {"id": 1, "athlete": "ana", "date": lisbon_today.isoformat(), "area": "lower_back",
         "pain": 6, "note": "sharp when sitting", "source": "cli"}]
    assert journal_json(config, capsys, "--athlete", "bob") == []
    assert main(["--config", str(config), "journal", "list"]) == 0
    assert "sharp when sitting" in capsys.readouterr().out


@pytest.mark.parametrize(("options", "message"), [
    (["--pain", "11", "--area", "knee"], "--pain: expected pain as a whole number 0-10, got '11'"),
    (["--pain", "4"], f"expected an area with the pain ({AREAS})"),
    (["--area", "knee", "--note", "tight"], "expected a pain 0-10 with the area"),
    (["--pain", "4", "--area", "neck"], f"--area: expected an area ({AREAS}), got 'neck'"),
    ([], "expected a pain with its area, or a note"),
    (["--note", "x", "--date", "2026-13-01"], "--date: expected a date YYYY-MM-DD"),
    (["--note", "x", "--date", "2999-01-01"], "expected a date no later than today"),
])
def test_journal_add_refuses_what_it_cannot_store(
        config: Path, capsys: pytest.CaptureFixture[str], options: list[str],
        message: str) -> None:
    assert main(["--config", str(config), "journal", "add", "--athlete", "ana",
                 *options]) == EXIT_CONFIG
    assert message in capsys.readouterr().err
    assert journal_json(config, capsys) == []


def test_journal_add_knows_athletes_of_the_config_or_the_store(
        config: Path, capsys: pytest.CaptureFixture[str], database_url: str) -> None:
    args = ["--config", str(config), "journal", "add", "--note", "hello"]
    assert main([*args, "--athlete", "zed"]) == EXIT_CONFIG
    assert "--athlete: no athlete 'zed' in the config or the store (known: ana)" in (
        capsys.readouterr().err)
    opened = open_store(database_url)
    try:
        with opened.session() as session:  # met by ingest, never configured
            ensure_athlete(session, "bob")
    finally:
        opened.dispose()
    assert main([*args, "--athlete", "bob"]) == 0
    assert [e["athlete"] for e in journal_json(config, capsys)] == ["bob"]


def test_a_journal_named_on_the_command_line_is_ingested_for_the_athlete(
        config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exported = tmp_path / "downloads" / "journal.csv"
    exported.parent.mkdir()
    exported.write_text(HEADER + "2026-03-02,knee,3,after hills\n", encoding="utf-8")
    assert main(["--config", str(config), "ingest", "--athlete", "ana", str(exported)]) == 0
    assert [(e["athlete"], e["area"], e["pain"], e["source"])
            for e in journal_json(config, capsys)] == [("ana", "knee", 3, "csv")]
    assert not exported.exists()  # archived, like a FIT file named on the command line


def test_a_journal_arriving_wakes_the_inbox_watcher(tmp_path: Path) -> None:
    watcher = InboxWatcher(tmp_path, lambda: None, "polling")
    assert watcher.is_relevant(FileCreatedEvent(str(tmp_path / "ana" / "journal.csv")))
    assert watcher.is_relevant(FileCreatedEvent(str(tmp_path / "ana" / "march.journal.csv")))
    assert not watcher.is_relevant(FileCreatedEvent(str(tmp_path / "ana" / "notes.csv")))
