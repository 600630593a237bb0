"""`strideguard report`: every catalogue metric per athlete as of a day (`--json`: DESIGN §2.1)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from cli.common import parse_day
from metrics import CATALOGUE, athlete_metrics
from rules.evaluate import local_today
from service import open_app
from store.queries import athlete_ids

NO_DATA = "-"
# shorter unit words for the table (the catalogue's own words are in `--json`'s README table)
_SHORT_UNITS = {"steps/min": "spm", "steps/min per week": "spm/week", "ratio": "", "x": "x"}


def _value_text(name: str, value: float | None) -> str:
    if value is None:
        return NO_DATA
    unit = CATALOGUE[name].unit
    return f"{value:g} {_SHORT_UNITS.get(unit, unit)}".strip()


def print_report(athletes: list[dict[str, Any]]) -> None:
    """One compact table per athlete: metric, value with its unit, and the band it falls in.

    Three columns fit an 80-column terminal (only a long band wraps); what each metric means is
    in the README's metric catalogue and in `strideguard explain`.
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for athlete in athletes:
        table = Table(title=f"{athlete['athlete']} as of {athlete['as_of']}",
                      box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
        table.add_column("metric", no_wrap=True)
        table.add_column("value", justify="right", no_wrap=True)
        table.add_column("band")
        for name, value in athlete["metrics"].items():
            table.add_row(name, _value_text(name, value), CATALOGUE[name].band(value))
        console.print(table)
    console.print(f"{NO_DATA} not enough data yet", style="dim")


def cmd_report(args: argparse.Namespace) -> int:
    app = open_app(args.config)
    as_of_arg = parse_day(args.as_of)
    athletes: list[dict[str, Any]] = []
    with app.store.session() as session:
        ids = [args.athlete] if args.athlete else athlete_ids(
            session, (a.id for a in app.config.athletes))
        for athlete_id in ids:
            timezone_name = app.config.timezone_for(athlete_id)
            day = as_of_arg or local_today(timezone_name, datetime.now(UTC))
            _history, results = athlete_metrics(session, athlete_id, timezone_name, day)
            athletes.append({"athlete": athlete_id, "as_of": day.isoformat(),
                             "metrics": {name: r.value for name, r in results.items()}})
    app.store.dispose()
    if args.json:
        as_of_text = (as_of_arg or local_today(app.config.timezone, datetime.now(UTC))).isoformat()
        print(json.dumps({"as_of": as_of_text, "athletes": [
            {"athlete": a["athlete"], "metrics": a["metrics"]} for a in athletes]}, indent=2))
        return 0
    print_report(athletes)
    return 0
