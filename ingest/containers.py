"""What an inbox file holds: one FIT payload (`.fit`, `.fit.gz`) or many (a `.zip` export); and
the one other kind of file the inbox takes, a runner's journal (`journal.csv`)."""

from __future__ import annotations

import gzip
import io
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

# a compressed payload larger than this is refused rather than unpacked (zip/gzip bombs)
MAX_PAYLOAD_BYTES = 256 * 1024 * 1024
# the one list of names StrideGuard reads: FIT files, gzipped ones, and zip exports holding them
FIT_SUFFIXES = (".fit", ".fit.gz")
GZIP_SUFFIX = ".gz"
ZIP_SUFFIX = ".zip"
READ_SUFFIXES = (*FIT_SUFFIXES, ZIP_SUFFIX)
# a pain journal: `journal.csv`, or any name ending in it (`2026-ana.journal.csv`), any case
JOURNAL_SUFFIX = "journal.csv"


class ContainerError(Exception):
    """The container itself cannot be opened (not a zip, a cut gzip stream, too large)."""


@dataclass(frozen=True)
class Payload:
    """One FIT file's bytes; `member` is its path inside a zip, None for a plain file."""

    data: bytes
    member: str | None = None


def is_container_name(name: str) -> bool:
    return name.lower().endswith(ZIP_SUFFIX)


def is_fit_payload_name(name: str) -> bool:
    return name.lower().endswith(FIT_SUFFIXES)


def is_journal_name(name: str) -> bool:
    return name.lower().endswith(JOURNAL_SUFFIX)


def is_gzip_name(name: str) -> bool:
    return name.lower().endswith(GZIP_SUFFIX)


def holds_raw_fit(name: str) -> bool:
    """The file's bytes are its FIT payload itself, neither zipped nor gzipped."""
    return not (is_container_name(name) or is_gzip_name(name))


def _gunzip(data: bytes, what: str) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            unpacked = stream.read(MAX_PAYLOAD_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise ContainerError(f"{what}: not a complete gzip stream ({exc})") from exc
    if len(unpacked) > MAX_PAYLOAD_BYTES:
        raise ContainerError(f"{what}: unpacks to more than {MAX_PAYLOAD_BYTES} bytes")
    return unpacked


def _zip_members(path: Path) -> Iterator[Payload]:
    """Every FIT (or gzipped FIT) file in a zip, in name order, read one at a time."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ContainerError(f"not a readable zip file ({exc})") from exc
    with archive:
        infos = sorted((i for i in archive.infolist() if not i.is_dir()),
                       key=lambda i: i.filename)
        for info in infos:
            member = PurePosixPath(info.filename)
            if any(part.startswith((".", "__MACOSX")) for part in member.parts):
                continue
            if not is_fit_payload_name(member.name):
                continue
            if info.file_size > MAX_PAYLOAD_BYTES:
                raise ContainerError(f"{info.filename}: {info.file_size} bytes is too large")
            try:
                data = archive.read(info)
            except (zipfile.BadZipFile, OSError, zlib.error, EOFError) as exc:
                raise ContainerError(f"{info.filename}: cannot be unpacked ({exc})") from exc
            if is_gzip_name(member.name):
                data = _gunzip(data, info.filename)
            yield Payload(data, info.filename)


def payloads(path: Path, data: bytes | None = None) -> Iterator[Payload]:
    """The FIT payloads of an inbox file; raises ContainerError when it cannot be opened."""
    if is_container_name(path.name):
        yield from _zip_members(path)
    elif is_gzip_name(path.name):
        yield Payload(_gunzip(data if data is not None else path.read_bytes(), path.name))
    else:
        yield Payload(data if data is not None else path.read_bytes())
