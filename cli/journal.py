"""`strideguard journal add | list`: what the watch cannot see, pain 0-10 where it hurts and
notes, per local day (a journal.csv in the inbox is read with the same checks)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from cli.common import print_table
from store.journal import (
    JournalValues,
    add_journal_entry,
    journal_values,
    parse_area,
    parse_journal_day,
    parse_note,
    parse_pain,
)
from store.queries import JournalRow, athlete_ids, list_journal
from wiring import App, open_app

T = TypeVar("T")
ATHLETES_NAMED = 10  # an unknown --athlete error lists this many known ids


def _option(option: str, parse: Callable[[str], T], text: str) -> T:
    """A parsed option value; its ValueError names the option (the command exits 2)."""
    try:
        return parse(text)
    except ValueError as exc:
        raise ValueError(f"{option}: {exc}") from exc


def _entry_text(entry_id: int, athlete_id: str, values: JournalValues) -> str:
    parts = []
    if values.pain is not None:
        parts.append(f"{values.area} pain {values.pain}/10")
    if values.note is not None:
        parts.append(json.dumps(values.note, ensure_ascii=False))
    return (f"journal entry {entry_id} for {athlete_id} on {values.day.isoformat()}: "
            f"{', '.join(parts)}")


def cmd_journal_add(args: argparse.Namespace) -> int:
    with open_app(args.config) as app:
        return _add(app, args)


def _add(app: App, args: argparse.Namespace) -> int:
    """Store one entry (source "cli"), then evaluate the athlete's rules and send what fires,
    as an ingested journal.csv would: a pain entry is the strongest signal there is."""
    athlete_id: str = args.athlete
    today = datetime.now(ZoneInfo(app.config.timezone_for(athlete_id))).date()
    day = _option("--date", parse_journal_day, args.date) if args.date else today
    area, pain = _option("--area", parse_area, args.area), _option("--pain", parse_pain, args.pain)
    try:
        values = journal_values(day, area, pain, parse_note(args.note), today=today)
    except ValueError as exc:
        raise ValueError(f"journal add: {exc}") from exc
    configured = [a.id for a in app.config.athletes]
    with app.store.session() as session:
        known = athlete_ids(session, configured)
        if athlete_id not in known:
            listed = ", ".join(known[:ATHLETES_NAMED]) + (", ..." if len(known) > ATHLETES_NAMED
                                                          else "")
            raise ValueError(f"--athlete: no athlete {athlete_id!r} in the config or the store"
                             f" (known: {listed or 'none yet'})")
        entry = add_journal_entry(session, athlete_id, values, "cli")
        session.flush()
        entry_id = entry.id
    print(_entry_text(entry_id, athlete_id, values))
    report = app.evaluate(athlete_id=athlete_id)
    app.dispatch()
    for change in report.transitions:
        if change.kind in ("fired", "escalated"):
            held = f" (held back: {change.silenced_reason})" if change.silenced_reason else ""
            print(f"alert {change.kind}: {change.finding.rule.id} "
                  f"({change.finding.severity}){held}: {change.summary}")
    return 0


def _row_json(row: JournalRow) -> dict[str, Any]:
    return {"id": row.id, "athlete": row.athlete_id, "date": row.day.isoformat(),
            "area": row.area, "pain": row.pain, "note": row.note, "source": row.source}


def cmd_journal_list(args: argparse.Namespace) -> int:
    with open_app(args.config) as app, app.store.session() as session:
        rows = list_journal(session, args.athlete)
    if args.json:
        print(json.dumps([_row_json(row) for row in rows], indent=2, ensure_ascii=False))
        return 0
    print_table(f"{len(rows)} journal entries",
                ("id", "athlete", "date", "area", "pain", "note", "from"),
                [(str(r.id), r.athlete_id, r.day.isoformat(), r.area or "-",
                  "-" if r.pain is None else f"{r.pain}/10", r.note or "",
                  f"{r.source_file}:{r.line}" if r.source_file else r.source)
                 for r in rows])
    return 0
