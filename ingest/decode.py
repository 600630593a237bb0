"""FIT decoding behind one function: bytes in, plain `(message_name, {field: value})` pairs out."""

from __future__ import annotations

import io
import re
import struct
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

from ingest.fit_crc import fit_crc

DecoderName = Literal["fitparse", "fitdecode"]
Message = tuple[str, dict[str, Any]]

FIT_HEADER_MIN_BYTES = 12
# FIT date_time values below 0x10000000 are "system time": seconds since the device powered on
FIT_SYSTEM_TIME_LIMIT = 0x10000000
FIT_CRC_BYTES = 2
_BYTE_OFFSET = re.compile(r" @ \d+")


# the messages one FIT file may hold: a day-long run at one record a second is 86,400; a
# million (a 16 MB file) is a fortnight of them. Each takes memory while the file is read, so
# a file past this is refused rather than taking the decoding process's memory
MAX_FIT_MESSAGES = 1_000_000


class FitDecodeError(Exception):
    """The file could not be read at all: nothing usable came out of it."""


class TooManyMessages(FitDecodeError):
    """The file holds more messages than MAX_FIT_MESSAGES: not read further (nor by the other
    decoder)."""

    def __init__(self) -> None:
        super().__init__(f"it holds more than {MAX_FIT_MESSAGES:,} messages, far more than any "
                         "activity (a day-long run recorded every second holds 86,400): refused")


def _keep(messages: list[Message], message: Message) -> None:
    if len(messages) >= MAX_FIT_MESSAGES:
        raise TooManyMessages
    messages.append(message)


@dataclass
class DecodedFit:
    """Everything a decoder read, plus what went wrong after the data that was kept."""

    messages: list[Message]
    decoder: str
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Completeness:
    """Result of the header-size/CRC check: `state` is complete, incomplete, bad_crc or not_fit."""

    state: Literal["complete", "incomplete", "bad_crc", "not_fit"]
    detail: str


def _fit_header_at(data: bytes, offset: int) -> tuple[int, int] | None:
    """(header size, declared data size) of the FIT header at offset; None if there is none."""
    if offset + FIT_HEADER_MIN_BYTES > len(data):
        return None
    header_size = data[offset]
    if header_size not in (12, 14) or data[offset + 8:offset + 12] != b".FIT":
        return None
    (data_size,) = struct.unpack_from("<I", data, offset + 4)
    return header_size, data_size


def check_fit_complete(data: bytes) -> Completeness:
    """Is this a whole FIT file? The header declares the data size and a CRC-16 closes the file.

    A file shorter than header + data + CRC is still being written (or was cut short); longer
    is fine (chained FIT files). Only the first file of a chain is checked here.
    """
    if len(data) == 0:
        return Completeness("not_fit", "the file is empty (0 bytes)")
    if len(data) < FIT_HEADER_MIN_BYTES:
        return Completeness("incomplete", f"only {len(data)} bytes, shorter than a FIT header")
    header = _fit_header_at(data, 0)
    if header is None:
        return Completeness("not_fit", "no FIT header (expected '.FIT' at bytes 8-11)")
    header_size, data_size = header
    expected_bytes = header_size + data_size + FIT_CRC_BYTES
    if data_size == 0 or len(data) <= header_size:
        return Completeness("incomplete", f"the file holds only its {header_size}-byte FIT header"
                                          f" and no data (the header declares {data_size} bytes)")
    if len(data) < expected_bytes:
        return Completeness(
            "incomplete",
            f"the header declares {expected_bytes} bytes but the file has {len(data)}",
        )
    (stored_crc,) = struct.unpack_from("<H", data, header_size + data_size)
    computed_crc = fit_crc(data[: header_size + data_size])
    if stored_crc != computed_crc:
        return Completeness("bad_crc", f"file CRC mismatch (stored 0x{stored_crc:04x}, "
                                       f"computed 0x{computed_crc:04x}): the file was damaged "
                                       "or never finalised by the device")
    return Completeness("complete", "header size and CRC check out")


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def chained_file_problems(data: bytes) -> list[str]:
    """Size and CRC problems of the FIT files chained after the first (settings, HR-strap data);
    the first file's own are check_fit_complete's.

    fitparse's own CRC check walks every byte in Python and costs about a fifth of a decode, so
    StrideGuard decodes with it off and checks the whole chain here with the table-driven CRC.
    """
    problems: list[str] = []
    offset, position = 0, 1
    while offset < len(data):
        header = _fit_header_at(data, offset)
        if header is None:
            if offset:
                problems.append(f"{len(data) - offset} bytes after the {_ordinal(position - 1)} "
                                "FIT file of the chain are not a FIT file")
            break
        header_size, data_size = header
        end = offset + header_size + data_size
        if end + FIT_CRC_BYTES > len(data):
            if offset:
                problems.append(f"the {_ordinal(position)} FIT file of the chain is cut short "
                                f"(its header declares {header_size + data_size + FIT_CRC_BYTES}"
                                f" bytes, {len(data) - offset} are left)")
            break
        (stored_crc,) = struct.unpack_from("<H", data, end)
        if offset and stored_crc != fit_crc(data[offset:end]):
            problems.append(f"CRC mismatch in the {_ordinal(position)} FIT file of the chain "
                            f"(stored 0x{stored_crc:04x}): it was damaged")
        offset, position = end + FIT_CRC_BYTES, position + 1
    return problems


@cache  # importlib.metadata scans the installed distributions: ~0.4 ms, once per file otherwise
def decoder_version(name: str) -> str:
    try:
        return f"{name} {version(name)}"
    except PackageNotFoundError:
        return name


def _as_utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@cache  # one per process: it holds no per-file state, and its method cache stays warm
def _fitparse_processor() -> Any:
    """fitparse's default conversions, with two differences that matter at 30k fields a run.

    fitparse formats, scrubs and getattr()s a processor name for every field value; this
    looks each one up once per name. And `date_time` values come out as aware UTC datetimes
    (fitparse's own are naive and use the deprecated `utcfromtimestamp`).
    """
    from fitparse.processors import UTC_REFERENCE, FitFileDataProcessor

    class CachedProcessor(FitFileDataProcessor):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self._methods: dict[str, Any] = {}

        def _method(self, name: str) -> Any:
            try:
                return self._methods[name]
            except KeyError:
                method = getattr(self, self._scrub_method_name(name), None)
                self._methods[name] = method
                return method

        def run_type_processor(self, field_data: Any) -> None:
            method = self._method("process_type_" + field_data.type.name)
            if method is not None:
                method(field_data)

        def run_field_processor(self, field_data: Any) -> None:
            method = self._method(f"process_field_{field_data.name}")
            if method is not None:
                method(field_data)

        def run_unit_processor(self, field_data: Any) -> None:
            if field_data.units:
                method = self._method(f"process_units_{field_data.units}")
                if method is not None:
                    method(field_data)

        def run_message_processor(self, data_message: Any) -> None:
            method = self._method("process_message_" + data_message.def_mesg.name)
            if method is not None:
                method(data_message)

        def process_type_date_time(self, field_data: Any) -> None:
            value = field_data.value
            if value is not None and value >= FIT_SYSTEM_TIME_LIMIT:  # below: device-relative
                field_data.value = datetime.fromtimestamp(UTC_REFERENCE + value, UTC)
                field_data.units = None

    return CachedProcessor()


def _decode_with_fitparse(data: bytes, messages: list[Message],
                          names: frozenset[str] | None) -> None:
    import fitparse

    # the CRCs are checked once, by check_fit_complete and chained_file_problems
    fit_file = fitparse.FitFile(io.BytesIO(data), check_crc=False,
                                data_processor=_fitparse_processor())
    for message in fit_file.get_messages():
        # fitparse keeps every message it parsed (for a second reading, which this never
        # does): ~1.5 kB a record, 2 GB for a 20 MB file. Dropped as they come
        fit_file._messages.clear()
        if names is None or message.name in names:
            _keep(messages, (message.name, message.get_values()))


def _decode_with_fitdecode(data: bytes, messages: list[Message], problems: list[str],
                           names: frozenset[str] | None) -> None:
    import fitdecode

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with fitdecode.FitReader(
            io.BytesIO(data),
            check_crc=fitdecode.CrcCheck.DISABLED,  # checked once, by chained_file_problems
            error_handling=fitdecode.ErrorHandling.WARN,
        ) as reader:
            for frame in reader:
                if frame.frame_type != fitdecode.FIT_FRAME_DATA or (
                        names is not None and frame.name not in names):
                    continue
                _keep(messages, (frame.name, {f.name: _as_utc(f.value) for f in frame.fields}))
    problems.extend(_folded(str(w.message) for w in caught if issubclass(w.category, UserWarning)))


def _folded(messages: Iterable[str]) -> list[str]:
    """One line per kind of warning: fitdecode repeats one per affected message, at offsets."""
    counts: Counter[str] = Counter(_BYTE_OFFSET.sub("", message) for message in messages)
    return [text if n == 1 else f"{text} ({n} times)" for text, n in counts.items()]


def _run_decoder(name: DecoderName, data: bytes, names: frozenset[str] | None) -> DecodedFit:
    """Decode lazily so everything before a fault is kept; the fault becomes a warning."""
    messages: list[Message] = []
    problems: list[str] = []
    try:
        if name == "fitparse":
            _decode_with_fitparse(data, messages, names)
        else:
            _decode_with_fitdecode(data, messages, problems, names)
    except TooManyMessages:
        raise
    except Exception as exc:  # both libraries raise several unrelated types on bad input
        problems.append(f"{decoder_version(name)} stopped after {len(messages)} messages: "
                        f"{type(exc).__name__}: {exc}")
        if not messages:
            raise FitDecodeError(problems[-1]) from exc
    return DecodedFit(messages, decoder_version(name), problems)


def decode_fit(data: bytes, primary: DecoderName = "fitparse",
               names: frozenset[str] | None = None) -> DecodedFit:
    """Decode FIT bytes with the primary decoder, falling back to the other one.

    The fallback is tried when the primary fails or stops early; the result with more messages
    wins, so a file fitparse cannot finish (e.g. a mis-sized field) is still read whole.
    `names` keeps only those message types (the others are still parsed, never converted).
    """
    fallback: DecoderName = "fitdecode" if primary == "fitparse" else "fitparse"
    try:
        first = _run_decoder(primary, data, names)
        if not first.warnings:
            return first
    except TooManyMessages:
        raise
    except FitDecodeError as exc:
        first_error = exc
        first = None
    else:
        first_error = None
    try:
        second = _run_decoder(fallback, data, names)
    except FitDecodeError as exc:
        if first is not None:
            return first
        raise FitDecodeError(f"{first_error}; {exc}") from exc
    if first is None or len(second.messages) > len(first.messages):
        primary_problem = str(first_error) if first is None else "; ".join(first.warnings)
        second.warnings.insert(0, f"{primary_problem}; {second.decoder} read more of it")
        return second
    return first
