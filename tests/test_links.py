"""Symbolic links where StrideGuard reads on its own (issue 14): in the inbox a link is filed
in quarantine as a link, never opened (not even one put in a file's place after the scan), a
folder link is reported once; in a source folder, or one named to `ingest --copy`, a link is
reported and left alone; a link named on the command line outside the inbox is read as a copy
of its target (never moved), one inside it is the inbox's case; a folder swapped for a link after
the scan leads to nothing read or moved.
Real links and files, SQLite and PostgreSQL; test_hardening.py runs the hostile inbox whole."""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import drop, files_under, inbox_settings
from sqlalchemy import func, select
from test_hardening import run_fit, sha256

from cli import main
from ingest import IngestSettings, SourceFolder, SourceFolders, ingest_inbox, items_from_paths
from ingest.containers import payloads
from ingest.inbox import ensure_as_scanned, scan_inbox
from ingest.links import LinkRefused, NotAsScanned
from store import SourceFile, Store


@pytest.fixture
def settings(tmp_path: Path) -> IngestSettings:
    return inbox_settings(tmp_path)


def test_a_link_is_never_opened_even_when_it_takes_a_files_place_after_the_scan(
        store: Store, settings: IngestSettings, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.fit"
    target.write_bytes(run_fit(3))
    run = drop(settings, "run.fit", run_fit(4))
    items = list(scan_inbox(settings.inbox))  # the scan saw a regular file
    run.unlink()
    run.symlink_to(target)  # and a link took its place
    with pytest.raises(LinkRefused):
        list(payloads(run))
    [outcome] = ingest_inbox(store, settings, items=items)
    assert outcome.status == "quarantined" and outcome.reason.startswith("a symbolic link")
    assert (settings.quarantine / "ana" / "run.fit").is_symlink()
    assert target.read_bytes() == run_fit(3)
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(SourceFile)) == 0


def test_links_to_nothing_and_links_of_one_name_are_each_kept_in_quarantine(
        store: Store, settings: IngestSettings, tmp_path: Path) -> None:
    (settings.inbox / "ana").mkdir(parents=True)
    for round_number in range(2):
        link = settings.inbox / "ana" / "run.fit"
        link.symlink_to(tmp_path / f"gone-{round_number}.fit")  # leads nowhere
        [outcome] = ingest_inbox(store, settings)
        assert outcome.status == "quarantined"
    kept = sorted(p for p in (settings.quarantine / "ana").iterdir() if p.is_symlink())
    assert [os.readlink(p) for p in kept] == [str(tmp_path / "gone-0.fit"),
                                              str(tmp_path / "gone-1.fit")]
    assert all(Path(f"{p}.reason.txt").is_file() for p in kept)


def test_a_link_quarantined_on_another_file_system_is_moved_as_a_link(
        store: Store, tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second file system (/dev/shm) to quarantine to")
    other = Path(tempfile.mkdtemp(dir=shm, prefix="strideguard-test-"))
    try:
        settings = replace(inbox_settings(tmp_path), quarantine=other / "quarantine")
        target = tmp_path / "elsewhere.fit"
        target.write_bytes(run_fit(5))
        (settings.inbox / "ana").mkdir(parents=True)
        (settings.inbox / "ana" / "link.fit").symlink_to(target)
        [outcome] = ingest_inbox(store, settings)
        moved = settings.quarantine / "ana" / "link.fit"
        assert outcome.status == "quarantined" and outcome.stored_at == moved
        assert moved.is_symlink() and os.readlink(moved) == str(target)
        assert not (settings.inbox / "ana" / "link.fit").exists()
    finally:
        for path in sorted(other.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() and not path.is_symlink() else path.unlink()
        other.rmdir()


def test_a_folder_link_in_the_inbox_is_reported_once_per_process(
        settings: IngestSettings, tmp_path: Path) -> None:
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "run.fit").write_bytes(run_fit(6))
    (settings.inbox / "ana").mkdir(parents=True)
    (settings.inbox / "ana" / "theirs").symlink_to(tmp_path / "theirs")
    assert [i.path.name for i in scan_inbox(settings.inbox)] == ["theirs"]
    assert list(scan_inbox(settings.inbox)) == []  # the next scans of this process: quiet


def test_ingest_of_a_folder_does_not_follow_links_in_it_and_a_named_link_is_read_as_a_copy(
        store: Store, settings: IngestSettings, tmp_path: Path) -> None:
    """A link found in a folder named to `ingest` is the inbox's case (not followed); a link
    the user names outside the inbox is read as a copy of its target (never moved)."""
    folder = tmp_path / "drop"
    folder.mkdir()
    target = tmp_path / "target.fit"
    target.write_bytes(run_fit(7))
    (folder / "link.fit").symlink_to(target)
    (folder / "own.fit").write_bytes(run_fit(8))
    items = items_from_paths([folder], settings.inbox, "ana",
                             exclude=(settings.archive, settings.quarantine))
    outcomes = {o.label: o for o in ingest_inbox(store, settings, items=items)}
    assert {label: o.status for label, o in outcomes.items()} == {
        "link.fit": "quarantined", "own.fit": "ingested"}
    assert (settings.quarantine / "ana" / "link.fit").is_symlink()

    named = tmp_path / "named-link.fit"
    named.symlink_to(target)
    [item] = items_from_paths([named], settings.inbox, "ana")
    assert item.path == target and item.copy  # read where it lies, as someone else's
    [outcome] = ingest_inbox(store, settings, items=[item])
    assert outcome.status == "ingested"
    assert target.read_bytes() == run_fit(7) and named.is_symlink()
    assert {p.read_bytes() for p in files_under(settings.archive / "ana")} == {
        run_fit(7), run_fit(8)}


def test_a_named_link_in_the_inbox_is_quarantined_and_the_archive_is_never_read(
        store: Store, settings: IngestSettings, tmp_path: Path) -> None:
    """ana plants inbox/ana/bobs.fit -> bob's archived run, and the operator runs `strideguard
    ingest inbox/ana/*.fit`: the link is filed in quarantine, bob's run stays where it is; a
    path naming the archive itself is not read either."""
    bobs = settings.archive / "bob" / "2026-10" / "bob.fit"
    bobs.parent.mkdir(parents=True)
    bobs.write_bytes(run_fit(13))
    link = drop(settings, "own.fit", run_fit(14)).with_name("bobs.fit")
    link.symlink_to(bobs)
    own = (settings.archive, settings.quarantine)
    items = items_from_paths(sorted((settings.inbox / "ana").iterdir()), settings.inbox,
                             exclude=own)
    assert [(i.name, i.athlete_id) for i in items] == [("bobs.fit", "ana"), ("own.fit", "ana")]
    outcomes = {o.label: o.status for o in ingest_inbox(store, settings, items=items)}
    assert outcomes == {"bobs.fit": "quarantined", "own.fit": "ingested"}
    assert bobs.read_bytes() == run_fit(13)
    assert (settings.quarantine / "ana" / "bobs.fit").is_symlink()
    outside = tmp_path / "to-bob.fit"
    outside.symlink_to(bobs)
    assert items_from_paths([bobs, outside, settings.archive], settings.inbox, "ana",
                            exclude=own) == []


def test_a_folder_swapped_for_a_link_after_the_scan_leads_to_nothing_read_or_moved(
        store: Store, settings: IngestSettings) -> None:
    """O_NOFOLLOW guards the last part of a path only: ana's subfolder, swapped for a link to
    bob's archive folder between the scan and the read, would have bob's run read as hers and
    moved to her archive. The file opened must be the one the scan found."""
    bobs_folder = settings.archive / "bob" / "2026-10"
    bobs_folder.mkdir(parents=True)
    (bobs_folder / "run.fit").write_bytes(run_fit(15))
    sub = drop(settings, "run.fit", run_fit(16)).parent / "sub"
    sub.mkdir()
    (sub / "run.fit").write_bytes(run_fit(17))
    items = list(scan_inbox(settings.inbox, exclude=(settings.archive, settings.quarantine)))
    (sub / "run.fit").unlink()
    sub.rmdir()
    sub.symlink_to(bobs_folder, target_is_directory=True)
    outcomes = {str(o.path.relative_to(settings.inbox)): o
                for o in ingest_inbox(store, settings, items=items)}
    swapped = outcomes["ana/sub/run.fit"]
    assert swapped.status == "error" and "no longer the file the scan found" in swapped.reason
    assert outcomes["ana/run.fit"].status == "ingested"
    assert (bobs_folder / "run.fit").read_bytes() == run_fit(15)
    with store.session() as session:
        assert sha256(run_fit(15)) not in set(session.scalars(select(SourceFile.sha256)))


def test_a_file_is_not_moved_once_its_folder_is_a_link_even_to_the_file_itself(
        settings: IngestSettings, tmp_path: Path) -> None:
    """Between decoding and the move: the same file, reached through a link now, stays."""
    run = drop(settings, "run.fit", run_fit(18), athlete="carl")
    [item] = scan_inbox(settings.inbox)
    moved = tmp_path / "carl-elsewhere"
    run.parent.rename(moved)
    run.parent.symlink_to(moved, target_is_directory=True)
    with pytest.raises(NotAsScanned):
        ensure_as_scanned(item)


def test_links_in_a_source_folder_are_reported_once_and_left_alone(
        store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Not followed, not quarantined, not changed: a source folder is another tool's. The
    configured folder itself may be a link (it is resolved)."""
    real = tmp_path / "WatchExport"
    real.mkdir()
    (real / "own.fit").write_bytes(run_fit(9))
    elsewhere = tmp_path / "private"
    elsewhere.mkdir()
    (elsewhere / "secret.fit").write_bytes(run_fit(10))
    (real / "link.fit").symlink_to(elsewhere / "secret.fit")
    (real / "sub").symlink_to(elsewhere, target_is_directory=True)
    configured = tmp_path / "export-link"
    configured.symlink_to(real, target_is_directory=True)
    settings = replace(inbox_settings(tmp_path), sources=(SourceFolder(configured, "ana"),))
    sources = SourceFolders(store, settings)
    first = sources.scan()
    assert [(o.path.name, o.status) for o in first.outcomes] == [("own.fit", "ingested")]
    assert sources.scan().outcomes == []
    warned = [r.getMessage() for r in caplog.records if "symbolic link" in r.getMessage()]
    assert sorted(w.split(" is a symbolic link")[0] for w in warned) == [
        str(real / "link.fit"), str(real / "sub")]  # once each, over two scans
    assert (real / "link.fit").is_symlink() and (real / "sub").is_symlink()
    assert files_under(settings.quarantine) == []
    with store.session() as session:
        hashes = set(session.scalars(select(SourceFile.sha256)))
    assert sha256(run_fit(10)) not in hashes and sha256(run_fit(9)) in hashes


def test_ingest_copy_of_a_folder_reports_a_link_in_it_and_leaves_it(
        tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "strideguard.yaml"
    config.write_text(f'database: "{database_url}"\ningest:\n  stability: 0s\n  workers: 1\n',
                      encoding="utf-8")
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "own.fit").write_bytes(run_fit(11))
    (tmp_path / "secret.fit").write_bytes(run_fit(12))
    (folder / "link.fit").symlink_to(tmp_path / "secret.fit")
    assert main(["--config", str(config), "ingest", "--copy", "--athlete", "ana",
                 str(folder)]) == 0
    captured = capsys.readouterr()
    assert f"{folder / 'link.fit'} is a symbolic link" in captured.err
    assert "read 1 of 2 files" in captured.out
    assert (folder / "link.fit").is_symlink()
    assert [p.read_bytes() for p in files_under(tmp_path / "data" / "archive")] == [
        run_fit(11)]
