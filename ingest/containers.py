"""What an inbox file holds: one activity payload (`.fit`, `.tcx`, `.gpx`, each also gzipped) or
many (a `.zip` export, such as a Strava bulk export); and the one other kind of file the inbox
takes, a runner's journal (`journal.csv`)."""

from __future__ import annotations

import gzip
import io
import logging
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Literal

from ingest.strava import STRAVA_INDEX, StravaIndex, read_strava_index

log = logging.getLogger("strideguard.ingest")
# an export's index (Strava's activities.csv) larger than this is left unread: a decade of
# daily activities is a few MB
MAX_INDEX_BYTES = 32 * 1024 * 1024
# a compressed payload larger than this is refused rather than unpacked (zip/gzip bombs)
MAX_PAYLOAD_BYTES = 256 * 1024 * 1024
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


@dataclass(frozen=True)
class Payload:
    """One activity file's bytes; `member` is its path inside a zip, None for a plain file.
    `sport_hint` is what an export's index says the activity was (Strava's activities.csv
    "Activity Type"), for a file that does not say so itself."""

    data: bytes
    member: str | None = None
    sport_hint: str | None = None


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


def _gunzip(data: bytes, what: str) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            unpacked = stream.read(MAX_PAYLOAD_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise ContainerError(f"{what}: not a complete gzip stream ({exc})") from exc
    if len(unpacked) > MAX_PAYLOAD_BYTES:
        raise ContainerError(f"{what}: unpacks to more than {MAX_PAYLOAD_BYTES} bytes")
    return unpacked


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    if info.file_size > MAX_PAYLOAD_BYTES:
        raise ContainerError(f"{info.filename}: {info.file_size} bytes is too large")
    try:
        return archive.read(info)
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


def _zip_members(path: Path) -> Iterator[Payload]:
    """Every activity file (plain or gzipped) in a zip, in name order, read one at a time; in a
    Strava export only those under activities/, each with the sport its index names."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:  # an OSError (reading failed) goes to the caller
        raise ContainerError(f"not a readable zip file ({exc})") from exc
    with archive:
        infos = sorted((i for i in archive.infolist() if not i.is_dir()),
                       key=lambda i: i.filename)
        strava = _strava_index(archive, infos, path.name)
        for info in infos:
            member = PurePosixPath(info.filename)
            if _is_noise(member) or not is_activity_payload_name(member.name):
                continue
            if strava is not None and member.parts[0] != STRAVA_ACTIVITY_FOLDER:
                continue
            data = _read_member(archive, info)
            if is_gzip_name(member.name):
                data = _gunzip(data, info.filename)
            hint = strava.sport_for(info.filename) if strava is not None else None
            yield Payload(data, info.filename, hint)


@lru_cache(maxsize=8)
def _folder_index(index_path: Path, mtime_ns: int, size_bytes: int) -> StravaIndex:
    """An unpacked export's activities.csv, read once per version of it (mtime, size)."""
    if size_bytes > MAX_INDEX_BYTES:
        return StravaIndex({}, f"{STRAVA_INDEX} is {size_bytes} bytes, more than "
                               f"{MAX_INDEX_BYTES}")
    strava = read_strava_index(index_path.read_bytes())
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
        info = index_path.stat()
        strava = _folder_index(index_path, info.st_mtime_ns, info.st_size)
    except OSError:  # no index (not an export), or it cannot be read: the file says it all
        return None
    return strava.sport_for(f"{STRAVA_ACTIVITY_FOLDER}/{path.name}")


def payloads(path: Path, data: bytes | None = None) -> Iterator[Payload]:
    """The activity payloads of an inbox file; raises ContainerError when it cannot be opened."""
    if is_container_name(path.name):
        yield from _zip_members(path)
    elif is_gzip_name(path.name):
        yield Payload(_gunzip(data if data is not None else path.read_bytes(), path.name),
                      sport_hint=unpacked_export_hint(path))
    else:
        yield Payload(data if data is not None else path.read_bytes(),
                      sport_hint=unpacked_export_hint(path))
