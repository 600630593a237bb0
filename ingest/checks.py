"""The checks an inbox file passes, in order, before its activity payloads are decoded; each
returns why the file stops here (and as what), or None to let it through.

Which names are read at all (hidden, temporary and partial files are not) is the inbox walk's
`is_inbox_name`; the last check, by the bytes' hash, is the pipeline's (it needs the batch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ingest.containers import (
    ContainerError,
    Payload,
    holds_raw_fit,
    payload_format,
    xml_looks_closed,
)
from ingest.decode import check_fit_complete
from ingest.inbox import InboxFile
from ingest.outcome import IngestStatus

# what check_fit_complete may say of a file that is as whole as it will ever get
SETTLED_STATES = ("complete", "bad_crc", "not_fit")
NOTHING_IN_ZIP = "the zip file holds no .fit, .tcx or .gpx file (plain or gzipped)"


@dataclass(frozen=True)
class NothingInZip:
    """What reading a zip that opens but holds no activity file finds first."""


@dataclass(frozen=True)
class Arrival:
    """An inbox file as the checks see it: how long ago it last changed, and the first thing
    read from it: its first payload, the error that stopped the reading, or NothingInZip."""

    item: InboxFile
    age_s: float
    first: Payload | ContainerError | NothingInZip


@dataclass(frozen=True)
class Stop:
    """A file that goes no further: left WAITING in the inbox, or QUARANTINED whole."""

    status: IngestStatus
    reason: str


def _waiting(detail: str) -> Stop:
    return Stop(IngestStatus.WAITING, f"waiting for the file to be complete ({detail})")


def _still_being_written(name: str, data: bytes) -> str | None:
    """Why a plain (not gzipped) payload looks unfinished: a FIT file shorter than its header
    declares, an XML document whose root is not closed yet; None when it looks whole."""
    if payload_format(name, data) == "fit":
        completeness = check_fit_complete(data)
        return None if completeness.state in SETTLED_STATES else completeness.detail
    return None if xml_looks_closed(data) else "the XML document is not closed yet"


def still_arriving(arrival: Arrival, stability_s: float) -> Stop | None:
    """Not whole yet and touched within `stability_s`: probably still being copied."""
    first = arrival.first
    if arrival.age_s >= stability_s:
        return None
    if isinstance(first, ContainerError):
        return _waiting(str(first))
    if isinstance(first, Payload) and first.member is None:  # zip members are whole once read
        if first.data == b"":
            return _waiting("it is empty")
        if holds_raw_fit(arrival.item.name):  # a gzip stream that unpacked is whole
            unfinished = _still_being_written(arrival.item.name, first.data)
            if unfinished is not None:
                return _waiting(unfinished)
    return None


def unopenable(arrival: Arrival, _stability_s: float) -> Stop | None:
    """A zip or gzip that cannot be opened (and is not fresh) goes to quarantine whole."""
    if isinstance(arrival.first, ContainerError):
        return Stop(IngestStatus.QUARANTINED, str(arrival.first))
    return None


def holds_nothing(arrival: Arrival, _stability_s: float) -> Stop | None:
    """A zip with nothing to read goes to quarantine whole, however fresh (its members are
    whole once listed)."""
    if isinstance(arrival.first, NothingInZip):
        return Stop(IngestStatus.QUARANTINED, NOTHING_IN_ZIP)
    return None


CHECKS: tuple[Callable[[Arrival, float], Stop | None], ...] = (
    still_arriving, unopenable, holds_nothing)


def first_stop(arrival: Arrival, stability_s: float) -> Stop | None:
    """The first check that stops the file, or None when its payloads may be decoded."""
    for check in CHECKS:
        stop = check(arrival, stability_s)
        if stop is not None:
            return stop
    return None
