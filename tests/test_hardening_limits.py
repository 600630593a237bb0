"""Limits past the single file's (issue 14 hardening review): a zip member refused by what it is
(too large, an unusual method, encrypted) costs only that member, a zip has a budget of its own
(members, shared data), a journal is read as the inbox reads (no link, no FIFO, at most 4 MB), a
FIT file is at most 16 MB and a million messages, and a file name that is not UTF-8 stops
nothing. Real files, real zips, SQLite and PostgreSQL."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import drop, files_under, inbox_settings, zip_bytes
from sqlalchemy import select
from test_hardening import run_fit, sha256

import ingest.containers
import ingest.decode
from ingest import IngestSettings, ingest_inbox
from ingest.containers import ContainerError, payloads
from ingest.filing import Container
from ingest.inbox import InboxFile, scan_inbox
from ingest.journal import MAX_JOURNAL_BYTES, ingest_journal
from ingest.links import LinkRefused
from ingest.parse import MAX_FIT_BYTES, parse_payload_safely
from ingest.pool import in_order
from store import SourceFile, Store

JOURNAL = b"date,pain,note\n2026-10-01,2,calf\n"


@pytest.fixture
def settings(tmp_path: Path) -> IngestSettings:
    return inbox_settings(tmp_path)


def test_a_refused_member_costs_only_itself_and_the_zip_names_it(
        store: Store, settings: IngestSettings) -> None:
    """a.fit, b.fit (bzip2: not read) and c.fit: a and c are stored, the zip goes to
    quarantine whole (b.fit's bytes are kept in it) with a reason naming b.fit."""
    with zipfile.ZipFile(settings.inbox.parent / "mixed.zip", "w") as mixed:
        mixed.writestr("a.fit", run_fit(1), zipfile.ZIP_DEFLATED)
        mixed.writestr("b.fit", run_fit(2), zipfile.ZIP_BZIP2)
        mixed.writestr("c.fit", run_fit(3), zipfile.ZIP_DEFLATED)
    drop(settings, "mixed.zip", (settings.inbox.parent / "mixed.zip").read_bytes())
    outcomes = ingest_inbox(store, settings)
    assert [(o.label, o.status) for o in outcomes] == [
        ("mixed.zip:a.fit", "ingested"), ("mixed.zip:c.fit", "ingested"),
        ("mixed.zip", "quarantined")]
    reason = outcomes[-1].reason
    assert reason.startswith("b.fit: compression method 12 is not supported")
    assert "its other activity files were read and stored" in reason
    with store.session() as session:
        stored = dict(session.execute(select(SourceFile.sha256, SourceFile.stored_path)).all())
    assert set(stored) == {sha256(run_fit(1)), sha256(run_fit(3))}
    quarantined = settings.quarantine / "ana" / "mixed.zip"
    assert set(stored.values()) == {str(quarantined)}  # the zip's rows follow it
    assert zipfile.ZipFile(quarantined).namelist() == ["a.fit", "b.fit", "c.fit"]


def test_entries_sharing_one_members_data_are_refused_unread(tmp_path: Path) -> None:
    """A crafted zip: a second central-directory entry pointing at the first member's data
    (300 such entries unpacked one 63 MB member 300 times)."""
    honest = bytearray(zip_bytes({"a.fit": run_fit(1), "b.fit": run_fit(2)}))
    second = honest.find(b"PK\x01\x02", honest.find(b"PK\x01\x02") + 1)
    honest[second + 42:second + 46] = (0).to_bytes(4, "little")  # b.fit's data: a.fit's
    export = tmp_path / "crafted.zip"
    export.write_bytes(bytes(honest))
    with pytest.raises(ContainerError, match="share their data"):
        list(payloads(export))


def test_a_zip_with_more_members_than_any_export_is_refused_unread(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest.containers, "MAX_ZIP_MEMBERS", 3)
    export = tmp_path / "junk.zip"
    export.write_bytes(zip_bytes({f"{n}.fit": b"junk" for n in range(4)}))
    with pytest.raises(ContainerError, match="holds 4 files, more than the 3"):
        list(payloads(export))


def test_a_journal_is_never_read_through_a_link_nor_past_its_limit(
        store: Store, settings: IngestSettings, tmp_path: Path) -> None:
    """The pipeline looks for a link before a journal's turn comes; the read itself refuses
    one too (put in its place in between), and a journal past 4 MB is quarantined unread."""
    secret = tmp_path / "secret.csv"
    secret.write_bytes(JOURNAL)
    linked = settings.inbox / "ana" / "journal.csv"
    linked.parent.mkdir(parents=True)
    linked.symlink_to(secret)
    with pytest.raises(LinkRefused):
        ingest_journal(store, settings, Container(InboxFile(linked, "ana")))
    linked.unlink()
    drop(settings, "journal.csv", JOURNAL + b"2026-10-02,1," + b"x" * MAX_JOURNAL_BYTES + b"\n")
    [outcome] = ingest_inbox(store, settings)
    assert outcome.status == "quarantined"
    assert outcome.reason.startswith("journal.csv is larger than 4 MB")
    assert secret.read_bytes() == JOURNAL


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_put_in_a_journals_place_blocks_nothing(
        store: Store, settings: IngestSettings) -> None:
    journal = drop(settings, "journal.csv", JOURNAL)
    run = drop(settings, "run.fit", run_fit(4))
    items = list(scan_inbox(settings.inbox))
    journal.unlink()
    os.mkfifo(journal)  # opened for reading, a FIFO would wait for a writer forever
    outcomes = {o.label: o for o in ingest_inbox(store, settings, items=items)}
    assert outcomes["run.fit"].status == "ingested" and not run.exists()
    assert outcomes["journal.csv"].status == "error"


def test_a_fit_file_past_16_mb_or_a_million_messages_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Decoding holds memory in proportion to the file: a 24 MB FIT file took 2.4 GB."""
    parsed = parse_payload_safely(bytes(MAX_FIT_BYTES + 1), "fit", "fitparse", "UTC", "big.fit")
    assert parsed.problem is not None and "more than 16 MB" in parsed.problem
    monkeypatch.setattr(ingest.decode, "MAX_FIT_MESSAGES", 50)
    for decoder in ("fitparse", "fitdecode"):
        parsed = parse_payload_safely(run_fit(5), "fit", decoder, "UTC", "long.fit")
        assert parsed.problem is not None
        assert "it holds more than 50 messages" in parsed.problem, parsed.problem


def test_a_name_that_is_not_utf8_stops_nothing(
        store: Store, settings: IngestSettings, tmp_path: Path) -> None:
    """b'lnk\\xff.fit' used to raise UnicodeEncodeError out of every scan."""
    folder = settings.inbox / "ana"
    folder.mkdir(parents=True)
    raw_folder = os.fsencode(folder)
    os.symlink(os.fsencode(tmp_path / "nowhere"), os.path.join(raw_folder, b"lnk\xff.fit"))
    with open(os.path.join(raw_folder, b"run\xfe.fit"), "wb") as odd:
        odd.write(run_fit(6))
    drop(settings, "ok.fit", run_fit(7))
    outcomes = {o.label: o.status for o in ingest_inbox(store, settings)}
    assert outcomes == {"lnk\\xff.fit": "quarantined", "run\\xfe.fit": "ingested",
                        "ok.fit": "ingested"}
    reason = (settings.quarantine / "ana" / "lnk_.fit.reason.txt").read_text(encoding="utf-8")
    assert reason.startswith("lnk\\xff.fit could not be ingested")
    with store.session() as session:
        names = set(session.scalars(select(SourceFile.original_name)))
    assert names == {"run\\xfe.fit", "ok.fit"}
    assert len(files_under(settings.archive)) == 2


def test_payloads_waiting_to_be_stored_stay_within_their_byte_budget() -> None:
    """Ten jobs may wait, but not more bytes than the budget (beyond the newest job): a zip of
    many 60 MB members is never held whole."""
    outstanding: list[int] = []
    most_held = 0

    def jobs() -> Iterator[int]:
        nonlocal most_held
        for _ in range(8):
            outstanding.append(40)
            most_held = max(most_held, sum(outstanding))
            yield 40

    in_order(jobs(), lambda _job: outstanding.pop(0), 10, size_of=lambda job: job,
             max_bytes=64)
    assert outstanding == [] and most_held <= 64 + 40
