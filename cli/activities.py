"""`strideguard activities`: stored activities with their local start and source file."""

from __future__ import annotations

import argparse
import json
from typing import Any
from zoneinfo import ZoneInfo

from cli.common import print_csv, print_table
from store.queries import list_activities
from wiring import open_app

ACTIVITY_FIELDS = (
    "id", "athlete", "sport", "sub_sport", "start_utc", "start_local", "distance_m", "timer_s",
    "steady_cadence_spm", "avg_cadence_spm", "source_file", "source_member", "source_format",
    "decoder", "warnings",
)


def cmd_activities(args: argparse.Namespace) -> int:
    with open_app(args.config) as app, app.store.session() as session:
        activities = list_activities(session, args.athlete)
    rows: list[dict[str, Any]] = [{
        "id": a.id, "athlete": a.athlete_id, "sport": a.sport, "sub_sport": a.sub_sport,
        "start_utc": a.start_utc.isoformat(),
        "start_local": a.start_utc.astimezone(
            ZoneInfo(app.config.timezone_for(a.athlete_id))).isoformat(),
        "distance_m": a.distance_m, "timer_s": a.timer_s,
        "steady_cadence_spm": a.steady_cadence_spm, "avg_cadence_spm": a.avg_cadence_spm,
        "source_file": a.source_file, "source_member": a.source_member,
        "source_format": a.source_format, "decoder": a.decoder, "warnings": a.warnings,
    } for a in activities]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if args.csv:  # the JSON's fields, one column each (warnings joined by "; ")
        print_csv(ACTIVITY_FIELDS, rows)
        return 0
    table_rows = []
    for row in rows:
        minutes = (row["timer_s"] or 0) / 60
        cadence = row["steady_cadence_spm"] or row["avg_cadence_spm"]
        table_rows.append((str(row["id"]), row["athlete"],
                           f"{row['sport']}/{row['sub_sport'] or '-'}", row["start_local"][:16],
                           f"{(row['distance_m'] or 0) / 1000:.2f}", f"{minutes:.0f} min",
                           f"{cadence:.0f}" if cadence else "-", row["source_file"]))
    print_table(f"{len(rows)} activities",
                ("id", "athlete", "sport", "start (local)", "km", "time", "cadence spm", "file"),
                table_rows)
    return 0
