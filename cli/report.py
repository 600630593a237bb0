"""`strideguard report`: every catalogue metric per athlete as of a day (`--json`: DESIGN §2.1)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from cli.common import parse_day, print_csv
from metrics import CATALOGUE
from metrics.compute import AthleteMetrics, metrics_by_day, metrics_report
from metrics.history import local_date_of
from wiring import open_app

NO_DATA = "-"
# shorter unit words for an 80-column table (the README's metric catalogue has the full ones)
_SHORT_UNITS = {"steps/min": "spm", "steps/min per week": "spm/week", "ratio": ""}


def _value_text(name: str, value: float | None) -> str:
    if value is None:
        return NO_DATA
    unit = CATALOGUE[name].unit
    return f"{value:g} {_SHORT_UNITS.get(unit, unit)}".strip()


def print_report(report: list[AthleteMetrics]) -> None:
    """One compact table per athlete: metric, value with its unit, and the band it falls in.

    Three columns fit an 80-column terminal (only a long band wraps); what each metric means is
    in the README's metric catalogue and in `strideguard explain`.
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for athlete in report:
        table = Table(title=f"{athlete.athlete_id} as of {athlete.as_of}",
                      box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
        table.add_column("metric", no_wrap=True)
        table.add_column("value", justify="right", no_wrap=True)
        table.add_column("band")
        for name, value in athlete.values.items():
            table.add_row(name, _value_text(name, value), CATALOGUE[name].band(value))
        console.print(table)
    console.print(f"{NO_DATA} not enough data yet", style="dim")


def cmd_report(args: argparse.Namespace) -> int:
    as_of = parse_day(args.as_of)
    if args.days < 1:
        raise ValueError(f"--days: expected 1 or more, got {args.days}")
    if args.days != 1 and not args.csv:
        raise ValueError("--days goes with --csv (the table and --json show one day: --as-of)")
    if args.csv:
        with open_app(args.config) as app:
            rows = metrics_by_day(app.store, app.config, days=args.days,
                                  athlete_id=args.athlete, as_of=as_of)
        print_csv(("athlete", "date", *CATALOGUE), (
            {"athlete": row.athlete_id, "date": row.as_of.isoformat(), **row.values}
            for row in rows))
        return 0
    with open_app(args.config) as app:
        report = metrics_report(app.store, app.config, athlete_id=args.athlete, as_of=as_of)
    if args.json:
        as_of_text = (as_of or local_date_of(datetime.now(UTC), app.config.timezone)).isoformat()
        print(json.dumps({"as_of": as_of_text, "athletes": [
            {"athlete": a.athlete_id, "metrics": a.values} for a in report]}, indent=2))
        return 0
    print_report(report)
    return 0
