"""Reading a runner's journal.csv (`date,area,pain,note`, the header on line 1): the entries of
its good rows, and for each bad row `NAME line N: what was expected`."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TypeVar

from store.journal import (
    JournalValues,
    journal_values,
    parse_area,
    parse_journal_day,
    parse_note,
    parse_pain,
)

JOURNAL_COLUMNS = ("date", "area", "pain", "note")
# a journal is a few KB a year; anything near this is some other file under a journal's name
MAX_JOURNAL_BYTES = 10 * 1024 * 1024
T = TypeVar("T")


@dataclass
class JournalRead:
    """What a journal.csv holds: its good rows as (line, entry) in file order, one problem per
    bad row, and `unreadable` when the file as a whole cannot be read (no rows then)."""

    rows: list[tuple[int, JournalValues]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unreadable: str | None = None


def _header_order(header: list[str]) -> list[str] | None:
    """The columns in the file's order, if the header names each of JOURNAL_COLUMNS once."""
    names = [cell.strip().lower() for cell in header]
    return names if sorted(names) == sorted(JOURNAL_COLUMNS) else None


def _row_values(cells: dict[str, str], today: date) -> JournalValues:
    """One row's entry; ValueError names every field that is wrong, or the combination."""
    wrong: list[str] = []

    def attempt(parse: Callable[[str], T], column: str) -> T | None:
        try:
            return parse(cells[column])
        except ValueError as exc:
            wrong.append(str(exc))
            return None

    day = attempt(parse_journal_day, "date")
    area, pain = attempt(parse_area, "area"), attempt(parse_pain, "pain")
    if wrong or day is None:
        raise ValueError("; ".join(wrong))
    return journal_values(day, area, pain, parse_note(cells["note"]), today=today)


def read_journal(data: bytes, name: str, today: date) -> JournalRead:
    """Every row of a journal.csv checked like `journal add` checks its options (dates no later
    than the athlete's `today`); blank rows are skipped, a bad row never stops the others.

    Lines count as a text editor counts them (the header is line 1, a quoted note spanning
    lines takes several). UTF-8, with or without the byte-order mark spreadsheets write.
    """
    if len(data) > MAX_JOURNAL_BYTES:
        return JournalRead(unreadable=f"{name}: {len(data)} bytes is too large for a journal "
                                      f"(at most {MAX_JOURNAL_BYTES})")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return JournalRead(unreadable=f"{name}: expected UTF-8 text ({exc})")
    expected_header = ",".join(JOURNAL_COLUMNS)
    reader = csv.reader(io.StringIO(text, newline=""))
    read = JournalRead()
    try:
        header = next(reader, None)
        columns = _header_order(header) if header is not None else None
        if columns is None:
            got = ",".join(header) if header else "nothing"
            read.unreadable = f"{name} line 1: expected the header {expected_header}, got {got!r}"
            return read
        last_line = reader.line_num
        for row in reader:
            line, last_line = last_line + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(columns):
                read.problems.append(
                    f"{name} line {line}: expected {len(columns)} columns ({expected_header};"
                    f" quote a note that holds a comma), got {len(row)}")
                continue
            try:
                read.rows.append((line, _row_values(dict(zip(columns, row, strict=True)),
                                                    today)))
            except ValueError as exc:
                read.problems.append(f"{name} line {line}: {exc}")
    except csv.Error as exc:  # e.g. a NUL byte: nothing after it can be trusted
        read.problems.append(f"{name} line {reader.line_num}: expected CSV text ({exc}); "
                             "the rows after it were not read")
    return read
