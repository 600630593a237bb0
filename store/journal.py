"""Journal entries: what a valid one holds (pain 0-10 with where it hurts, and/or a note, on a
local day no later than today) and storing it; shared by `strideguard journal add` and the
journal.csv reader, so both accept and refuse the same values with the same words."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.athletes import ensure_athlete
from store.models import JOURNAL_AREAS, JournalEntry

PAIN_MIN, PAIN_MAX = 0, 10
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# what a person may type for an area: any case, spaces or hyphens for the underscore
_AREA_SEPARATORS = re.compile(r"[\s-]+")

# (day, area, pain, note): two entries with the same key say the same thing
EntryKey = tuple[date, str | None, int | None, str | None]


@dataclass(frozen=True)
class JournalValues:
    """One checked entry: pain and area come together (both or neither), and an entry holds
    a pain or a note (or both)."""

    day: date
    area: str | None
    pain: int | None
    note: str | None

    @property
    def key(self) -> EntryKey:
        return (self.day, self.area, self.pain, self.note)


def parse_journal_day(text: str) -> date:
    """A local date written YYYY-MM-DD (nothing else: "03/04/2026" means two different days)."""
    cleaned = text.strip()
    try:
        if _ISO_DAY.fullmatch(cleaned):
            return date.fromisoformat(cleaned)
    except ValueError:
        pass
    raise ValueError(f"expected a date YYYY-MM-DD, got {cleaned!r}")


def parse_area(text: str | None) -> str | None:
    """One of JOURNAL_AREAS ("Lower back" and "lower-back" read as lower_back); blank is None."""
    cleaned = (text or "").strip()
    if not cleaned:
        return None
    area = _AREA_SEPARATORS.sub("_", cleaned.lower())
    if area not in JOURNAL_AREAS:
        raise ValueError(f"expected an area ({', '.join(JOURNAL_AREAS)}), got {cleaned!r}")
    return area


def parse_pain(text: str | None) -> int | None:
    """A whole number PAIN_MIN..PAIN_MAX ("6" or a spreadsheet's "6.0"); blank is None."""
    cleaned = (text or "").strip()
    if not cleaned:
        return None
    try:
        number = float(cleaned)
    except ValueError:
        number = float("nan")
    if not number.is_integer() or not PAIN_MIN <= number <= PAIN_MAX:
        raise ValueError(f"expected pain as a whole number {PAIN_MIN}-{PAIN_MAX}, "
                         f"got {cleaned!r}")
    return int(number)


def parse_note(text: str | None) -> str | None:
    cleaned = (text or "").strip()
    return cleaned or None


def journal_values(day: date, area: str | None, pain: int | None, note: str | None, *,
                   today: date) -> JournalValues:
    """The entry, once its parts make sense together; ValueError says what was expected."""
    if day > today:
        raise ValueError(f"expected a date no later than today ({today.isoformat()}), "
                         f"got {day.isoformat()}")
    if pain is not None and area is None:
        raise ValueError(f"expected an area with the pain ({', '.join(JOURNAL_AREAS)})")
    if area is not None and pain is None:
        raise ValueError(f"expected a pain {PAIN_MIN}-{PAIN_MAX} with the area "
                         f"(0 for none)")
    if pain is None and note is None:
        raise ValueError("expected a pain with its area, or a note")
    return JournalValues(day, area, pain, note)


def add_journal_entry(session: Session, athlete_id: str, values: JournalValues, source: str, *,
                      source_file_id: int | None = None,
                      line: int | None = None) -> JournalEntry:
    """Add one entry (`source` "cli" or "csv") to the session; it has its id after a flush."""
    ensure_athlete(session, athlete_id)
    entry = JournalEntry(athlete_id=athlete_id, day=values.day, area=values.area,
                         pain=values.pain, note=values.note, source=source,
                         source_file_id=source_file_id, line=line)
    session.add(entry)
    return entry


def stored_csv_keys(session: Session, athlete_id: str) -> set[EntryKey]:
    """What the athlete's journal.csv files stored already: a re-export repeats these rows."""
    rows = session.execute(
        select(JournalEntry.day, JournalEntry.area, JournalEntry.pain, JournalEntry.note)
        .where(JournalEntry.athlete_id == athlete_id, JournalEntry.source == "csv")).all()
    return {(day, area, pain, note) for day, area, pain, note in rows}
