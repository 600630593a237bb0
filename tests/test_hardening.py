"""Hostile files in the inbox (issue 14, acceptance 5): a symbolic link is never followed (not
to a file elsewhere, not to another athlete's archived run, not into a folder), and a gzip bomb
(1 GB of zeros in a 1 MB `.fit.gz`, also inside a zip) is refused after unpacking no more than
the 64 MB limit, a chunk at a time. The whole command runs in a child process whose peak memory,
its decoding workers' included, is measured; the valid files around the hostile ones are
ingested. Real files, real links, real processes, SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import REPO, STRIDEGUARD, drop, files_under, inbox_settings, zip_bytes
from sqlalchemy import func, select

from cli import main
from fitwriter.encode import encode_run
from ingest import ingest_inbox
from ingest.containers import MAX_PAYLOAD_BYTES, ContainerError, payloads
from store import Activity, SourceFile, Store, open_store

START = datetime(2026, 10, 5, 6, 30, tzinfo=UTC)
BOMB_UNPACKED_BYTES = 1024 * 1024 * 1024
PEAK_RSS_LIMIT_BYTES = 200 * 1024 * 1024
# what unpacking may hold beyond the limit: the growing buffer's spare room and one chunk
UNPACK_SLACK_BYTES = MAX_PAYLOAD_BYTES // 4
# runs a command with this process as the "subreaper" of everything it starts: the
# multiprocessing forkserver and the decoding workers it forks are orphaned when the command
# ends, and would otherwise be reaped by init, their memory never counted in RUSAGE_CHILDREN
MEASURE = r"""
import ctypes, json, os, resource, subprocess, sys
if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
    sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed")
result_path, log_path, *command = sys.argv[1:]
with open(log_path, "wb") as log:
    returncode = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT)
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(result_path, "w") as result:
    json.dump({"returncode": returncode, "peak_rss_kib": usage.ru_maxrss}, result)
"""
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the peak memory of a process tree is measured with "
                                       "Linux's PR_SET_CHILD_SUBREAPER")


def run_fit(day: int, distance_m: float = 5000.0) -> bytes:
    return encode_run(START + timedelta(days=day), distance_m, distance_m * 0.33,
                      serial_number=3_900_000_000 + day, interval_s=10)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def gzip_of_zeros(size_bytes: int) -> bytes:
    """`size_bytes` of zeros, gzipped (1 GB makes about 1 MB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1024 * 1024)
    parts = [packer.compress(zeros) for _ in range(size_bytes // len(zeros))]
    return b"".join([*parts, packer.flush()])


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    return gzip_of_zeros(BOMB_UNPACKED_BYTES)


def peak_traced_bytes(action: Callable[[], object]) -> tuple[int, BaseException | None]:
    """The most memory Python held at once during `action` (tracemalloc), and what it raised."""
    tracemalloc.start()
    try:
        action()
        raised = None
    except Exception as exc:
        raised = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, raised


# --- the command in a child process: acceptance 5 ---------------------------------------------


class HostileInbox:
    """An inbox with valid runs, links out of it, and gzip bombs; what it looked like before."""

    def __init__(self, root: Path, database_url: str, bomb: bytes) -> None:
        self.root = root
        self.config = root / "strideguard.yaml"
        self.config.write_text(
            f'database: "{database_url}"\ninbox: inbox\narchive: archive\n'
            "quarantine: quarantine\nhttp:\n  listen: off\ningest:\n  stability: 0s\n"
            "  workers: 2\n", encoding="utf-8")
        self.inbox = root / "inbox" / "ana"
        self.inbox.mkdir(parents=True)
        self.elsewhere = root / "elsewhere"  # a folder of another program's
        self.elsewhere.mkdir()
        self.secret = self.elsewhere / "secret-run.fit"
        self.secret.write_bytes(run_fit(20, 9000.0))
        (self.elsewhere / "in-linked-folder.fit").write_bytes(run_fit(21, 11000.0))
        self.bobs_run = self._archived_run_of_bob()
        self.before = {path: (path.read_bytes(), path.stat().st_mtime_ns)
                       for path in (self.secret, self.bobs_run,
                                    self.elsewhere / "in-linked-folder.fit")}
        self.valid = {f"run{day}.fit": run_fit(day) for day in range(3)}
        for name, data in self.valid.items():
            (self.inbox / name).write_bytes(data)
        (self.inbox / "link-elsewhere.fit").symlink_to(self.secret)
        (self.inbox / "link-to-bob.fit").symlink_to(self.bobs_run)
        (self.inbox / "linked-folder").symlink_to(self.elsewhere, target_is_directory=True)
        (self.inbox / "bomb.fit.gz").write_bytes(bomb)
        self.zipped_run = run_fit(5)
        (self.inbox / "export.zip").write_bytes(zip_bytes(
            {"a-run.fit": self.zipped_run, "z-bomb.fit.gz": bomb}, zipfile.ZIP_STORED))

    def _archived_run_of_bob(self) -> Path:
        """Bob's run, ingested the usual way: in the archive, with its source row."""
        bob = self.root / "bobs-watch" / "bob-run.fit"
        bob.parent.mkdir()
        bob.write_bytes(run_fit(10, 7000.0))
        assert main(["--config", str(self.config), "ingest", "--athlete", "bob", str(bob)]) == 0
        [archived] = files_under(self.root / "archive" / "bob")
        return archived

    def run(self, command: list[str]) -> tuple[int, str, int]:
        """The command as a child process: exit code, output, peak RSS in bytes (any process
        it started, the decoding workers too)."""
        result, log = self.root / "measured.json", self.root / "command.log"
        subprocess.run([sys.executable, "-c", MEASURE, str(result), str(log), *STRIDEGUARD,
                        "--config", str(self.config), *command], cwd=REPO, check=True,
                       timeout=600)
        measured = json.loads(result.read_text(encoding="utf-8"))
        return (measured["returncode"], log.read_text(encoding="utf-8", errors="replace"),
                measured["peak_rss_kib"] * 1024)


@linux_only
@pytest.mark.parametrize("command", [["ingest", "inbox"], ["run", "--once"]],
                         ids=["ingest", "run-once"])
def test_links_are_not_followed_and_a_gzip_bomb_takes_no_memory(
        tmp_path: Path, database_url: str, gzip_bomb: bytes, command: list[str]) -> None:
    hostile = HostileInbox(tmp_path, database_url, gzip_bomb)
    if command[0] == "ingest":
        command = ["ingest", str(hostile.root / "inbox")]
    returncode, output, peak_rss_bytes = hostile.run(command)
    assert returncode == 0, output
    assert peak_rss_bytes < PEAK_RSS_LIMIT_BYTES, (
        f"peak RSS {peak_rss_bytes / 2**20:.0f} MB:\n{output}")

    # the valid files around them: stored as ana's, and archived
    store = open_store(database_url)
    try:
        with store.session() as session:
            by_athlete = dict(session.execute(
                select(SourceFile.athlete_id, func.count(Activity.id))
                .join(Activity, Activity.source_file_id == SourceFile.id)
                .group_by(SourceFile.athlete_id)).all())
            stored_hashes = {row.sha256: row for row in session.scalars(select(SourceFile))}
            bobs_row = stored_hashes[sha256(hostile.before[hostile.bobs_run][0])]
            bobs_row_fields = (bobs_row.athlete_id, bobs_row.stored_path)
    finally:
        store.dispose()
    assert by_athlete == {"ana": 4, "bob": 1}  # three runs and the zip's run; bob's own
    archived = {p.read_bytes() for p in files_under(tmp_path / "archive" / "ana")}
    assert set(hostile.valid.values()) <= archived

    # nothing read through a link: the targets untouched, their bytes never stored as ana's
    for path, (data, mtime_ns) in hostile.before.items():
        assert path.read_bytes() == data and path.stat().st_mtime_ns == mtime_ns
    assert sha256(hostile.secret.read_bytes()) not in stored_hashes
    assert sha256((hostile.elsewhere / "in-linked-folder.fit").read_bytes()) not in stored_hashes
    assert bobs_row_fields == ("bob", str(hostile.bobs_run))

    # reported with reasons: the links themselves in quarantine, each with its reason file
    quarantine = tmp_path / "quarantine" / "ana"
    for name, target in (("link-elsewhere.fit", hostile.secret),
                         ("link-to-bob.fit", hostile.bobs_run)):
        link = quarantine / name
        assert link.is_symlink() and os.readlink(link) == str(target)
        reason = (quarantine / f"{name}.reason.txt").read_text(encoding="utf-8")
        assert "a symbolic link" in reason and str(target) in reason
        assert "SHA-256" not in reason and "Size:" not in reason  # no bytes were read
        assert f"quarantined {hostile.inbox / name}: a symbolic link" in output
    assert (hostile.inbox / "linked-folder").is_symlink()  # a folder link stays, reported
    assert f"{hostile.inbox / 'linked-folder'} is a symbolic link to a folder" in output
    assert sorted(p.name for p in hostile.inbox.iterdir()) == ["linked-folder"]

    # the bombs: refused whole, with why
    bomb_reason = (quarantine / "bomb.fit.gz.reason.txt").read_text(encoding="utf-8")
    assert "bomb.fit.gz: unpacks to more than 64 MB" in bomb_reason
    assert (quarantine / "bomb.fit.gz").read_bytes() == gzip_bomb
    zip_reason = (quarantine / "export.zip.reason.txt").read_text(encoding="utf-8")
    assert zip_reason.count("z-bomb.fit.gz: unpacks to more than 64 MB") == 1
    assert "its other activity files were read and stored" in zip_reason
    for name in ("bomb.fit.gz", "export.zip"):
        assert f"quarantined {hostile.inbox / name}: " in output

    # and `status` counts them, though none left a source_files row
    status = subprocess.run([*STRIDEGUARD, "--config", str(hostile.config), "status", "--json"],
                            cwd=REPO, capture_output=True, text=True, check=True, timeout=60)
    files_today = json.loads(status.stdout)["files_today"]["by_status"]
    assert files_today["quarantined"] == 4, files_today  # two links, the bomb, the zip


# --- unpacking: a chunk at a time, and stopped at the limit ------------------------------------


def test_a_gzip_bomb_is_refused_holding_no_more_than_the_limit(
        tmp_path: Path, gzip_bomb: bytes) -> None:
    bomb = tmp_path / "bomb.fit.gz"
    bomb.write_bytes(gzip_bomb)
    peak, raised = peak_traced_bytes(lambda: list(payloads(bomb)))
    assert isinstance(raised, ContainerError)
    assert str(raised).startswith("bomb.fit.gz: unpacks to more than 64 MB")
    assert peak < MAX_PAYLOAD_BYTES + UNPACK_SLACK_BYTES, f"{peak / 2**20:.0f} MB held"


def _lie_about_size(archive: bytes, member: str, size_bytes: int) -> bytes:
    """The zip with `member`'s uncompressed size in both its headers replaced by a lie."""
    patched = bytearray(archive)
    name = member.encode()
    for signature, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        start = patched.find(signature)
        while patched[start + name_at:start + name_at + len(name)] != name:
            start = patched.find(signature, start + 1)
        patched[start + size_at:start + size_at + 4] = size_bytes.to_bytes(4, "little")
    return bytes(patched)


@pytest.mark.parametrize("declared_bytes", [4096, MAX_PAYLOAD_BYTES - 1],
                         ids=["tiny", "just-under-the-limit"])
def test_a_zip_member_whose_header_lies_is_read_no_further_than_the_limit(
        tmp_path: Path, declared_bytes: int) -> None:
    """A member that unpacks to 1 GB while its headers claim less passes the check by its
    header, and is still never held past the limit."""
    honest = zip_bytes({"liar.fit": bytes(BOMB_UNPACKED_BYTES // 4)})
    export = tmp_path / "export.zip"
    export.write_bytes(_lie_about_size(honest, "liar.fit", declared_bytes))
    peak, raised = peak_traced_bytes(lambda: list(payloads(export)))
    assert isinstance(raised, ContainerError)
    assert str(raised).startswith("liar.fit: cannot be unpacked")
    assert peak < MAX_PAYLOAD_BYTES + UNPACK_SLACK_BYTES, f"{peak / 2**20:.0f} MB held"


def test_a_member_too_large_by_its_header_is_refused_unread(tmp_path: Path) -> None:
    export = tmp_path / "export.zip"
    export.write_bytes(_lie_about_size(zip_bytes({"big.fit": run_fit(0)}), "big.fit",
                                       MAX_PAYLOAD_BYTES + 1))
    read: list = []
    peak, raised = peak_traced_bytes(lambda: read.extend(payloads(export)))
    [refused] = read  # refused by what it is: the zip's other members would still be read
    assert raised is None and refused.data == b""
    assert refused.refused == (
        f"big.fit ({MAX_PAYLOAD_BYTES + 1} bytes): is more than 64 MB, far more than any "
        "activity file (a day-long activity's FIT file is a few MB): refused, as a zip or gzip "
        "bomb is")
    assert peak < 4 * 1024 * 1024


def test_a_plain_file_past_the_limit_is_refused_by_its_size(tmp_path: Path) -> None:
    huge = tmp_path / "huge.fit"
    with huge.open("wb") as sparse:  # no disk taken: a hole of 65 MB
        sparse.truncate(MAX_PAYLOAD_BYTES + 1)
    peak, raised = peak_traced_bytes(lambda: list(payloads(huge)))
    assert isinstance(raised, ContainerError) and "is more than 64 MB" in str(raised)
    assert peak < 4 * 1024 * 1024


def test_zips_stored_with_methods_that_unpack_whole_are_refused_and_the_batch_goes_on(
        store: Store, tmp_path: Path) -> None:
    """zipfile unpacks a bzip2 member in one go (300 bytes to 256 MB, whatever its header
    says), and cannot read an encrypted one: each zip goes to quarantine with why, and the
    files after it are still read (an encrypted zip used to raise out of the whole batch)."""
    settings = inbox_settings(tmp_path)
    bzipped = io.BytesIO()
    with zipfile.ZipFile(bzipped, "w", zipfile.ZIP_BZIP2) as archive:
        archive.writestr("bomb.fit", bytes(256 * 1024 * 1024))
    assert len(bzipped.getvalue()) < 4096
    encrypted = bytearray(zip_bytes({"run.fit": run_fit(1)}))
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        encrypted[encrypted.find(signature) + flags_at] |= 0x1  # "encrypted"
    drop(settings, "a-bzip2.zip", _lie_about_size(bzipped.getvalue(), "bomb.fit", 4096))
    drop(settings, "b-encrypted.zip", bytes(encrypted))
    drop(settings, "c-run.fit", run_fit(2))
    outcomes: list = []
    peak, raised = peak_traced_bytes(lambda: outcomes.extend(ingest_inbox(store, settings)))
    assert raised is None
    assert {(o.label, o.status) for o in outcomes} == {
        ("a-bzip2.zip", "quarantined"), ("b-encrypted.zip", "quarantined"),
        ("c-run.fit", "ingested")}
    reasons = {o.label: o.reason for o in outcomes}
    assert reasons["a-bzip2.zip"].startswith("bomb.fit: compression method 12 is not supported")
    assert reasons["b-encrypted.zip"].startswith("run.fit: encrypted")
    assert peak < MAX_PAYLOAD_BYTES // 4
