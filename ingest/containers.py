"""What an inbox file holds: one activity payload (`.fit`, `.tcx`, `.gpx`, each also gzipped) or
many (a `.zip` export, such as a Strava bulk export); and the one other kind of file the inbox
takes, a runner's journal (`journal.csv`)."""

from __future__ import annotations

import gzip
import io
import logging
import os
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Literal

from ingest.links import open_unfollowed, read_unfollowed
from ingest.strava import STRAVA_INDEX, StravaIndex, read_strava_index

log = logging.getLogger("strideguard.ingest")
# an export's index (Strava's activities.csv) larger than this is left unread: a decade of
# daily activities is a few MB
MAX_INDEX_BYTES = 32 * 1024 * 1024
# an activity file larger than this is refused unread: a FIT file of a day-long activity at one
# record a second is a few MB. A gzip stream or zip member is unpacked a chunk at a time and
# refused as soon as it passes this, so a zip or gzip bomb (1 GB of zeros in 1 MB) never
# takes more memory than this
MAX_PAYLOAD_BYTES = 64 * 1024 * 1024
UNPACK_CHUNK_BYTES = 1024 * 1024
# a zip's budget as a whole: a decade of daily activities is 3,650 files of a few MB. Past it
# (20,000 junk members, or hundreds of entries unpacking one member again and again) the zip
# is quarantined whole, unread
MAX_ZIP_MEMBERS = 20_000
MAX_ZIP_UNPACKED_BYTES = 1024 * 1024 * 1024
# the zip compression methods every exporter writes; zipfile unpacks bzip2 and LZMA members
# whole (no output limit: 300 bytes of bzip2 unpack to 256 MB at once), and others not at all
ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
PayloadFormat = Literal["fit", "tcx", "gpx"]
FIT_SUFFIXES = (".fit", ".fit.gz")
TCX_SUFFIXES = (".tcx", ".tcx.gz")
GPX_SUFFIXES = (".gpx", ".gpx.gz")
ACTIVITY_SUFFIXES = (*FIT_SUFFIXES, *TCX_SUFFIXES, *GPX_SUFFIXES)
GZIP_SUFFIX = ".gz"
ZIP_SUFFIX = ".zip"
# the one list of names StrideGuard reads: activity files, gzipped ones, and zip exports
# holding them (the zip stays last: messages list it as "... or .zip")
READ_SUFFIXES = (*ACTIVITY_SUFFIXES, ZIP_SUFFIX)
# a pain journal: `journal.csv`, or any name ending in it (`2026-ana.journal.csv`), any case
JOURNAL_SUFFIX = "journal.csv"
# a Strava bulk export keeps the activity files under activities/ (routes/ holds planned
# routes as GPX, which are not activities)
STRAVA_ACTIVITY_FOLDER = "activities"
# how far into a file with an unknown name to look for an XML root element
_SNIFF_BYTES = 2048
_XML_ROOT = re.compile(rb"<(?:[\w.-]+:)?(TrainingCenterDatabase|gpx)[\s>]")
_XML_CLOSED = re.compile(rb"</(?:[\w.-]+:)?(?:TrainingCenterDatabase|gpx)\s*>\s*$")


class ContainerError(Exception):
    """The container itself cannot be opened (not a zip, a cut gzip stream, too large)."""


class MemberRefused(ContainerError):
    """A payload refused by what it is (too large, an unusual compression method, encrypted),
    not because its container is damaged: in a zip the other members are still read."""


@dataclass(frozen=True)
class Payload:
    """One activity file's bytes; `member` is its path inside a zip, None for a plain file.
    `sport_hint` is what an export's index says the activity was (Strava's activities.csv
    "Activity Type"), for a file that does not say so itself. `last`: no payload of the file
    comes after it (known from the zip's listing, so no payload is read ahead to know it)."""

    data: bytes
    member: str | None = None
    sport_hint: str | None = None
    last: bool = True
    refused: str | None = None  # a zip member not read, and why (its `data` is empty)


def is_container_name(name: str) -> bool:
    return name.lower().endswith(ZIP_SUFFIX)


def is_fit_payload_name(name: str) -> bool:
    return name.lower().endswith(FIT_SUFFIXES)


def is_activity_payload_name(name: str) -> bool:
    """A FIT, TCX or GPX file, plain or gzipped."""
    return name.lower().endswith(ACTIVITY_SUFFIXES)


def is_journal_name(name: str) -> bool:
    return name.lower().endswith(JOURNAL_SUFFIX)


def is_gzip_name(name: str) -> bool:
    return name.lower().endswith(GZIP_SUFFIX)


def holds_raw_fit(name: str) -> bool:
    """The file's bytes are its payload itself, neither zipped nor gzipped."""
    return not (is_container_name(name) or is_gzip_name(name))


def payload_format(name: str, data: bytes | None = None) -> PayloadFormat:
    """What a payload is, by its name (`.tcx`, `.gpx.gz`, ...); a name that says nothing (a file
    named outright on the command line) is sniffed for a TCX or GPX root element, else FIT."""
    lowered = name.lower()
    if lowered.endswith(TCX_SUFFIXES):
        return "tcx"
    if lowered.endswith(GPX_SUFFIXES):
        return "gpx"
    if lowered.endswith(FIT_SUFFIXES) or data is None:
        return "fit"
    root = _XML_ROOT.search(data[:_SNIFF_BYTES])
    if root is None:
        return "fit"
    return "tcx" if root.group(1) == b"TrainingCenterDatabase" else "gpx"


def xml_looks_closed(data: bytes) -> bool:
    """Does the document end with its root's closing tag? One still being written does not."""
    return _XML_CLOSED.search(data[-256:]) is not None


def too_large(what: str, verb: str = "unpacks to") -> str:
    """Why a payload past MAX_PAYLOAD_BYTES is refused, in a line."""
    return (f"{what}: {verb} more than {MAX_PAYLOAD_BYTES // 2**20} MB, far more than any "
            "activity file (a day-long activity's FIT file is a few MB): refused, as a zip or "
            "gzip bomb is")


def read_bounded(stream: BinaryIO, what: str, verb: str = "unpacks to") -> bytes:
    """A stream's bytes, read a chunk at a time: ContainerError as soon as they pass
    MAX_PAYLOAD_BYTES, so no more than that is ever held (chunks go into one growing buffer,
    whose bytes are handed out without a second copy)."""
    buffer = io.BytesIO()
    while chunk := stream.read(UNPACK_CHUNK_BYTES):
        if buffer.tell() + len(chunk) > MAX_PAYLOAD_BYTES:
            buffer.close()  # freed now: the error's traceback keeps this frame alive
            raise MemberRefused(too_large(what, verb))
        buffer.write(chunk)
    return buffer.getvalue()


def _gunzip(packed: BinaryIO, what: str) -> bytes:
    """A gzip stream unpacked a chunk at a time (read_bounded). A damaged stream is a
    ContainerError; an OSError reading the file under it (a disk, a share) is not: it is
    passed on, to be tried again."""
    try:
        with gzip.GzipFile(fileobj=packed, mode="rb") as stream:
            return read_bounded(stream, what)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ContainerError(f"{what}: not a complete gzip stream ({exc})") from exc


def _member_refusal(info: zipfile.ZipInfo) -> str | None:
    """Why a zip member is not unpacked, before a byte of it is: too large by its header, an
    unusual compression method (see ZIP_METHODS), or encrypted."""
    if info.file_size > MAX_PAYLOAD_BYTES:
        return too_large(f"{info.filename} ({info.file_size} bytes)", "is")
    if info.flag_bits & 0x1:
        return (f"{info.filename}: encrypted (a password-protected zip is not supported); "
                "export it without a password")
    if info.compress_type not in ZIP_METHODS:
        return (f"{info.filename}: compression method {info.compress_type} is not supported "
                "(only stored and deflate, which exporters write); zip it again with the usual "
                "method")
    return None


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A member's bytes, gunzipped if it is a `.gz`: refused by its header first, then read a
    chunk at a time however large the header says it is (a header may lie)."""
    refusal = _member_refusal(info)
    if refusal is not None:
        raise MemberRefused(refusal)
    try:
        with archive.open(info) as member:
            if is_gzip_name(info.filename):
                return _gunzip(member, info.filename)
            return read_bounded(member, info.filename)
    # damaged data only: an OSError is the disk or the share (EIO, a watch unplugged mid-read),
    # which the caller reports as an error to retry, never a reason to quarantine the zip
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise ContainerError(f"{info.filename}: cannot be unpacked ({exc})") from exc


def _is_noise(member: PurePosixPath) -> bool:
    """macOS resource forks and hidden files travel in zips made on a Mac; never ours."""
    return any(part.startswith((".", "__MACOSX")) for part in member.parts)


def _strava_index(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo],
                  zip_name: str) -> StravaIndex | None:
    """The export's activities.csv, when the zip is a Strava bulk export (one at its root). An
    index that cannot be used (damaged, too large, unknown columns) maps nothing: the export's
    activity files are read all the same, and a warning is logged once for the zip."""
    index = next((i for i in infos if i.filename == STRAVA_INDEX), None)
    if index is None:
        return None
    if index.file_size > MAX_INDEX_BYTES:
        strava = StravaIndex({}, f"{STRAVA_INDEX} is {index.file_size} bytes, more than "
                                 f"{MAX_INDEX_BYTES}")
    else:
        try:
            strava = read_strava_index(_read_member(archive, index))
        # NotImplementedError, RuntimeError: a compression method zipfile lacks, encryption
        except (ContainerError, NotImplementedError, RuntimeError) as exc:
            strava = StravaIndex({}, f"{STRAVA_INDEX} cannot be unpacked ({exc})")
    if strava.problem:
        log.warning("%s: %s: its activity files are read without it, and a GPX track naming "
                    "no sport is stored as 'generic'", zip_name, strava.problem)
    return strava


def _zip_members(path: Path, identity: tuple[int, int] | None = None) -> Iterator[Payload]:
    """Every activity file (plain or gzipped) in a zip, in name order, read one at a time; in a
    Strava export only those under activities/, each with the sport its index names."""
    with open_unfollowed(path, identity) as raw:
        try:
            archive = zipfile.ZipFile(raw)
        except zipfile.BadZipFile as exc:  # an OSError (reading failed) goes to the caller
            raise ContainerError(f"not a readable zip file ({exc})") from exc
        with archive:
            yield from _activity_members(archive, path.name)


def _over_budget(infos: list[zipfile.ZipInfo]) -> str | None:
    """Why a zip is not read at all by its listing: more members than any export holds,
    entries sharing one member's data (a crafted zip unpacking it hundreds of times), or more
    unpacked bytes in all than MAX_ZIP_UNPACKED_BYTES by the headers."""
    if len(infos) > MAX_ZIP_MEMBERS:
        return (f"the zip holds {len(infos)} files, more than the {MAX_ZIP_MEMBERS} any export "
                "holds: not read")
    first_at: dict[int, str] = {}
    for info in infos:
        earlier = first_at.setdefault(info.header_offset, info.filename)
        if earlier != info.filename:
            return (f"{info.filename} and {earlier} share their data (a damaged or crafted "
                    "zip): not read")
    declared_bytes = sum(info.file_size for info in infos)
    if declared_bytes > MAX_ZIP_UNPACKED_BYTES:
        return _over_zip_budget(f"unpacks to {declared_bytes} bytes by its headers")
    return None


def _over_zip_budget(what: str) -> str:
    return (f"the zip {what}, more than the {MAX_ZIP_UNPACKED_BYTES // 2**30} GB StrideGuard "
            "unpacks from one zip: not read further (split the export)")


def _activity_members(archive: zipfile.ZipFile, zip_name: str) -> Iterator[Payload]:
    """The activity members, read one at a time; one refused by what it is (MemberRefused)
    comes as a Payload with its reason, and the rest are read; a damaged zip, or one past the
    zip's budget, raises ContainerError."""
    infos = sorted((i for i in archive.infolist() if not i.is_dir()), key=lambda i: i.filename)
    refusal = _over_budget(infos)
    if refusal is not None:
        raise ContainerError(refusal)
    strava = _strava_index(archive, infos, zip_name)
    activities = [info for info in infos if _is_activity_member(
        PurePosixPath(info.filename), in_export=strava is not None)]
    unpacked_bytes = 0
    for number, info in enumerate(activities, start=1):
        hint = strava.sport_for(info.filename) if strava is not None else None
        last = number == len(activities)
        try:
            data = _read_member(archive, info)
        except MemberRefused as exc:
            yield Payload(b"", info.filename, hint, last=last, refused=str(exc))
            continue
        unpacked_bytes += len(data)
        if unpacked_bytes > MAX_ZIP_UNPACKED_BYTES:
            raise ContainerError(_over_zip_budget(f"unpacks to more than {unpacked_bytes} bytes"))
        yield Payload(data, info.filename, hint, last=last)


def _is_activity_member(member: PurePosixPath, *, in_export: bool) -> bool:
    """An activity file (plain or gzipped), no Mac noise; in a Strava export, under
    activities/ only."""
    if _is_noise(member) or not is_activity_payload_name(member.name):
        return False
    return not in_export or member.parts[0] == STRAVA_ACTIVITY_FOLDER


@lru_cache(maxsize=8)
def _folder_index(index_path: Path, mtime_ns: int, size_bytes: int) -> StravaIndex:
    """An unpacked export's activities.csv, read once per version of it (mtime, size)."""
    if size_bytes > MAX_INDEX_BYTES:
        return StravaIndex({}, f"{STRAVA_INDEX} is {size_bytes} bytes, more than "
                               f"{MAX_INDEX_BYTES}")
    strava = read_strava_index(read_unfollowed(index_path, MAX_INDEX_BYTES))
    if strava.problem:
        log.warning("%s: %s: a GPX track naming no sport is stored as 'generic'", index_path,
                    strava.problem)
    return strava


def unpacked_export_hint(path: Path) -> str | None:
    """What an unpacked Strava export's index says a file under its `activities/` folder was
    (`<export>/activities.csv` beside `<export>/activities/123.gpx`), as for the zip."""
    if path.parent.name != STRAVA_ACTIVITY_FOLDER:
        return None
    index_path = path.parent.parent / STRAVA_INDEX
    try:
        info = index_path.lstat()  # a link in its place is not read (ingest.links)
        strava = _folder_index(index_path, info.st_mtime_ns, info.st_size)
    except OSError:  # no index (not an export), or it cannot be read: the file says it all
        return None
    return strava.sport_for(f"{STRAVA_ACTIVITY_FOLDER}/{path.name}")


def _plain(stream: BinaryIO, name: str) -> bytes:
    """A plain payload's bytes; one larger than MAX_PAYLOAD_BYTES is refused by its size, before
    it is read (and if it grows while being read, once it passes the limit)."""
    size_bytes = os.fstat(stream.fileno()).st_size
    if size_bytes > MAX_PAYLOAD_BYTES:
        raise ContainerError(too_large(f"{name} ({size_bytes} bytes)", "is"))
    return read_bounded(stream, name, "is")


def payloads(path: Path, identity: tuple[int, int] | None = None) -> Iterator[Payload]:
    """The activity payloads of an inbox file, read a chunk at a time and never through a
    symbolic link (ingest.links.LinkRefused); raises ContainerError when it cannot be opened or
    a plain or gzipped payload passes MAX_PAYLOAD_BYTES (a zip member refused by what it is
    comes as a Payload with `refused` set). With `identity` (the scan's (st_dev, st_ino)), the
    file opened must be the one the scan found (ingest.links.NotAsScanned)."""
    if is_container_name(path.name):
        yield from _zip_members(path, identity)
        return
    with open_unfollowed(path, identity) as stream:
        unpacked = (_gunzip(stream, path.name) if is_gzip_name(path.name)
                    else _plain(stream, path.name))
    yield Payload(unpacked, sport_hint=unpacked_export_hint(path))
