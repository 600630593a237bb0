"""Device-time anchoring: FIT times written as seconds since power-on put on the calendar."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ingest.decode import FIT_SYSTEM_TIME_LIMIT, Message

TimeReader = Callable[[Any], datetime | None]


def _read_absolute(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def _anchor(messages: list[Message], timezone_name: str) -> tuple[datetime, int] | None:
    """(UTC time, device-relative seconds) of one moment, when the file needs and has one."""
    anchor: tuple[datetime, int] | None = None
    relative_seen = False
    for name, values in messages:
        if name == "activity":
            local, relative = values.get("local_timestamp"), values.get("timestamp")
            if isinstance(local, datetime) and isinstance(relative, int):
                local_utc = local.replace(tzinfo=ZoneInfo(timezone_name)).astimezone(UTC)
                anchor = (local_utc, relative)
        elif name == "session" and isinstance(values.get("start_time"), int):
            relative_seen = True
    return anchor if relative_seen else None


def time_reader(messages: list[Message], timezone_name: str) -> tuple[TimeReader, str | None]:
    """How to turn a FIT time value into UTC, and a warning when that needed an anchor.

    Decoders give absolute times as datetimes. Old devices (e.g. Forerunner 70 files with
    compressed timestamps) write device-relative seconds instead; the activity message's
    `local_timestamp` (local wall-clock time at its relative `timestamp`) anchors them, read in
    the athlete's time zone.
    """
    anchor = _anchor(messages, timezone_name)
    if anchor is None:
        return _read_absolute, None
    anchor_utc, anchor_relative = anchor

    def read_anchored(value: Any) -> datetime | None:
        if isinstance(value, int) and not isinstance(value, bool) and (
                0 <= value < FIT_SYSTEM_TIME_LIMIT):
            return anchor_utc + timedelta(seconds=value - anchor_relative)
        return _read_absolute(value)

    anchor_local = anchor_utc.astimezone(ZoneInfo(timezone_name))
    warning = (f"the device wrote times as seconds since power-on; they were placed on the "
               f"calendar from the activity's local time {anchor_local:%Y-%m-%d %H:%M:%S} "
               f"({timezone_name})")
    return read_anchored, warning
