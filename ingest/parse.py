"""Bytes to a file summary: the CPU-heavy half of ingest, run in worker processes.

Nothing here touches the store or the file system, so it is safe in a process pool
(fitparse is not thread-safe) and its result is small and picklable. FIT, TCX and GPX all end
in the same FileSummary: TCX and GPX are turned into FIT-named messages first and summarised by
the same code (ingest/normalise.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ingest.containers import PayloadFormat
from ingest.decode import (
    Completeness,
    DecoderName,
    FitDecodeError,
    chained_file_problems,
    check_fit_complete,
    decode_fit,
    decoder_version,
)
from ingest.normalise import NEEDED_MESSAGES, FileSummary, summarise
from ingest.xml_activity import XmlActivity, activity_messages
from ingest.xmlread import XmlInputError

# a FIT file larger than this is refused unread (decoding one holds memory in proportion):
# a day-long run recorded every second makes 1.4 MB, MAX_FIT_MESSAGES about 16 MB
MAX_FIT_BYTES = 16 * 1024 * 1024
# the memory (heap and private mappings, RLIMIT_DATA) a decoding worker process may take
# (ingest.pool sets it): a file that needs more is a memory bomb, a MemoryError, quarantined.
# A day-long run recorded every second takes 100 MB, a FIT file of MAX_FIT_MESSAGES about 1 GB
WORKER_MEMORY_BYTES = 1536 * 1024 * 1024
# the library that reads each XML format (its name and version are recorded as the decoder)
XML_DECODERS: dict[str, str] = {"tcx": "lxml", "gpx": "gpxpy"}


@dataclass
class ParsedFile:
    """What one payload holds, or why it cannot be read (`problem` set, `summary` None)."""

    summary: FileSummary | None
    decoder: str | None = None
    warnings: list[str] = field(default_factory=list)
    problem: str | None = None
    format: PayloadFormat = "fit"
    decode_s: float = 0.0  # the worker's time on it (the service's decode seconds metric)

    @classmethod
    def unreadable(cls, problem: str, payload_format: PayloadFormat = "fit") -> ParsedFile:
        return cls(summary=None, problem=problem, format=payload_format)


def unreadable_reason(completeness: Completeness) -> str | None:
    """Files no decoder should even try: empty, not FIT, a header without data."""
    if completeness.state == "not_fit":
        return completeness.detail
    if completeness.state == "incomplete" and "no data" in completeness.detail:
        return completeness.detail
    return None


def parse_fit(data: bytes, decoder: DecoderName = "fitparse",
              timezone_name: str = "UTC") -> ParsedFile:
    """Check, decode (primary decoder, then the fallback) and summarise one FIT payload."""
    if len(data) > MAX_FIT_BYTES:
        return ParsedFile.unreadable(
            f"the FIT file is {len(data)} bytes, more than {MAX_FIT_BYTES // 2**20} MB (a "
            "day-long run recorded every second makes 1.4 MB): refused unread")
    completeness = check_fit_complete(data)  # once: the CRC walks every byte in Python
    bad_input = unreadable_reason(completeness)
    if bad_input:
        return ParsedFile.unreadable(bad_input)
    try:
        decoded = decode_fit(data, decoder, NEEDED_MESSAGES)
    except FitDecodeError as exc:
        return ParsedFile.unreadable(f"not readable as FIT: {exc}")
    if completeness.state != "complete":
        decoded.warnings.insert(0, completeness.detail)
    decoded.warnings.extend(chained_file_problems(data))
    summary = summarise(decoded.messages, timezone_name,
                        rebuild_missing_session=completeness.state != "incomplete")
    return ParsedFile(summary, decoded.decoder, decoded.warnings + summary.warnings)


def _xml_summary(activity: XmlActivity) -> FileSummary:
    summary = summarise(activity_messages(activity), rebuild_missing_session=False)
    if not summary.sessions:
        summary.no_session_reason = activity.not_activity or summary.no_session_reason
    return summary


def parse_xml_activity(data: bytes, payload_format: PayloadFormat, name: str,
                       sport_hint: str | None = None) -> ParsedFile:
    """Read and summarise one TCX or GPX payload; `name` (the file, or the zip member) is what
    a problem names; `sport_hint` the sport an export's index gives a file naming none."""
    from ingest.gpx import read_gpx
    from ingest.tcx import read_tcx

    reader = read_tcx if payload_format == "tcx" else read_gpx
    decoder = decoder_version(XML_DECODERS[payload_format])
    try:
        activity = reader(data, name, sport_hint)
    except XmlInputError as exc:
        return ParsedFile.unreadable(str(exc), payload_format)
    summary = _xml_summary(activity)
    return ParsedFile(summary, decoder, activity.warnings + summary.warnings,
                      format=payload_format)


def parse_payload(data: bytes, payload_format: PayloadFormat = "fit",
                  decoder: DecoderName = "fitparse", timezone_name: str = "UTC", *,
                  name: str = "the file", sport_hint: str | None = None) -> ParsedFile:
    """One payload of any format: FIT (with the chosen decoder), TCX or GPX."""
    if payload_format == "fit":
        return parse_fit(data, decoder, timezone_name)
    return parse_xml_activity(data, payload_format, name, sport_hint)


def limit_worker_memory() -> None:
    """A decoding worker's start: its memory capped at WORKER_MEMORY_BYTES (RLIMIT_DATA: the
    heap and private mappings), so a file that would take more raises MemoryError here (and is
    quarantined) instead of waking the kernel's out-of-memory killer."""
    try:
        import resource
    except ImportError:  # not on a Unix
        return
    _soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    limit = WORKER_MEMORY_BYTES if hard == resource.RLIM_INFINITY else min(hard,
                                                                          WORKER_MEMORY_BYTES)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def parse_payload_safely(data: bytes, payload_format: PayloadFormat, decoder: DecoderName,
                         timezone_name: str, name: str = "the file",
                         sport_hint: str | None = None) -> ParsedFile:
    """parse_payload for a worker: any unexpected error becomes a reason, never a lost batch."""
    started_s = time.perf_counter()
    try:
        parsed = parse_payload(data, payload_format, decoder, timezone_name, name=name,
                               sport_hint=sport_hint)
    except MemoryError:  # the decoding process's memory limit (ingest.pool): a memory bomb
        parsed = ParsedFile.unreadable(
            "reading it took more memory than a decoding process may use "
            f"({WORKER_MEMORY_BYTES // 2**20} MB): refused, as no activity file needs that much",
            payload_format)
    except Exception as exc:  # a decoder or normaliser bug on one odd file must not stop others
        parsed = ParsedFile.unreadable(f"StrideGuard could not read it ({type(exc).__name__}: "
                                       f"{exc}); please report this file", payload_format)
    parsed.decode_s = time.perf_counter() - started_s
    return parsed
