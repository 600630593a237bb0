"""Bytes to a file summary: the CPU-heavy half of ingest, run in worker processes.

Nothing here touches the store or the file system, so it is safe in a process pool
(fitparse is not thread-safe) and its result is small and picklable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ingest.decode import (
    Completeness,
    DecoderName,
    FitDecodeError,
    chained_file_problems,
    check_fit_complete,
    decode_fit,
)
from ingest.normalise import NEEDED_MESSAGES, FileSummary, summarise


@dataclass
class ParsedFit:
    """What one FIT payload holds, or why it cannot be read (`problem` set, `summary` None)."""

    summary: FileSummary | None
    decoder: str | None = None
    warnings: list[str] = field(default_factory=list)
    problem: str | None = None

    @classmethod
    def unreadable(cls, problem: str) -> ParsedFit:
        return cls(summary=None, problem=problem)


def unreadable_reason(completeness: Completeness) -> str | None:
    """Files no decoder should even try: empty, not FIT, a header without data."""
    if completeness.state == "not_fit":
        return completeness.detail
    if completeness.state == "incomplete" and "no data" in completeness.detail:
        return completeness.detail
    return None


def parse_fit(data: bytes, decoder: DecoderName = "fitparse",
              timezone_name: str = "UTC") -> ParsedFit:
    """Check, decode (primary decoder, then the fallback) and summarise one FIT payload."""
    completeness = check_fit_complete(data)  # once: the CRC walks every byte in Python
    bad_input = unreadable_reason(completeness)
    if bad_input:
        return ParsedFit.unreadable(bad_input)
    try:
        decoded = decode_fit(data, decoder, NEEDED_MESSAGES)
    except FitDecodeError as exc:
        return ParsedFit.unreadable(f"not readable as FIT: {exc}")
    if completeness.state != "complete":
        decoded.warnings.insert(0, completeness.detail)
    decoded.warnings.extend(chained_file_problems(data))
    summary = summarise(decoded.messages, timezone_name,
                        rebuild_missing_session=completeness.state != "incomplete")
    return ParsedFit(summary, decoded.decoder, decoded.warnings + summary.warnings)


def parse_fit_safely(data: bytes, decoder: DecoderName, timezone_name: str) -> ParsedFit:
    """parse_fit for a worker: any unexpected error becomes a reason, never a lost batch."""
    try:
        return parse_fit(data, decoder, timezone_name)
    except Exception as exc:  # a decoder or normaliser bug on one odd file must not stop others
        return ParsedFit.unreadable(f"StrideGuard could not read it ({type(exc).__name__}: "
                                    f"{exc}); please report this file")
