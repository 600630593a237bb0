"""`activities --csv` and `report --csv [--days N]`: Python's csv module reads them, and they carry
the very values of the JSON output (DESIGN §2.1)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from cli import main
from fitwriter.synthetic import weekly_plan, write_plan
from metrics import CATALOGUE

AS_OF = date(2026, 11, 29)  # a Sunday


def _cli_out(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> str:
    capsys.readouterr()
    assert main(["--config", str(config), *args]) == 0
    return capsys.readouterr().out


def _cell(value: object) -> str:
    """What the CSV holds for a JSON value: empty for null, else the value's text."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(str(each) for each in value)
    return str(value)


@pytest.fixture
def squad(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """Two runners with six weeks of runs, ingested through the CLI."""
    config = tmp_path / "strideguard.yaml"
    config.write_text("timezone: Europe/Berlin\ningest:\n  stability: 0s\n", encoding="utf-8")
    inbox = tmp_path / "data" / "inbox"
    write_plan(weekly_plan(AS_OF, 6, [6.0, 8.0, 14.0]), inbox / "ana")
    write_plan(weekly_plan(AS_OF - timedelta(days=2), 5, [5.0, 5.0, 7.0, 12.0]), inbox / "ben")
    _cli_out(capsys, config, "ingest", str(inbox / "ana"), "--athlete", "ana")
    _cli_out(capsys, config, "ingest", str(inbox / "ben"), "--athlete", "ben")
    return config


def test_activities_csv_carries_the_json_fields_and_values(
        squad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    as_json = json.loads(_cli_out(capsys, squad, "activities", "--json"))
    rows = list(csv.DictReader(io.StringIO(_cli_out(capsys, squad, "activities", "--csv"))))
    assert len(rows) == len(as_json) > 30
    assert list(rows[0]) == list(as_json[0])  # the same columns, in the same order
    for from_csv, from_json in zip(rows, as_json, strict=True):
        assert from_csv == {key: _cell(value) for key, value in from_json.items()}
        if from_json["distance_m"] is not None:  # a float reads back to the very same number
            assert float(from_csv["distance_m"]) == from_json["distance_m"]
    only_ben = list(csv.DictReader(io.StringIO(
        _cli_out(capsys, squad, "activities", "--athlete", "ben", "--csv"))))
    assert {row["athlete"] for row in only_ben} == {"ben"}


def test_report_csv_is_one_row_per_athlete_and_day_with_the_json_values(
        squad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = _cli_out(capsys, squad, "report", "--csv", "--days", "14", "--as-of", AS_OF.isoformat())
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == ["athlete", "date", *CATALOGUE]
    rows = list(reader)
    days = [(AS_OF - timedelta(days=back)).isoformat() for back in range(13, -1, -1)]
    assert [(row["athlete"], row["date"]) for row in rows] == [
        (athlete, day) for athlete in ("ana", "ben") for day in days]
    # every day's row equals `report --json --as-of` that day (a day with a long run, a rest
    # day, the last day)
    for day in (days[0], days[6], days[-1]):
        report = json.loads(_cli_out(capsys, squad, "report", "--json", "--as-of", day))
        for athlete in report["athletes"]:
            [row] = [r for r in rows if r["athlete"] == athlete["athlete"] and r["date"] == day]
            assert row == {"athlete": athlete["athlete"], "date": day,
                           **{name: _cell(value) for name, value in athlete["metrics"].items()}}
            assert any(value is not None for value in athlete["metrics"].values())


def test_report_csv_defaults_to_the_one_day_of_the_json(
        squad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = list(csv.DictReader(io.StringIO(_cli_out(
        capsys, squad, "report", "--csv", "--athlete", "ana", "--as-of", AS_OF.isoformat()))))
    report = json.loads(_cli_out(capsys, squad, "report", "--json", "--athlete", "ana",
                                 "--as-of", AS_OF.isoformat()))
    assert len(rows) == 1 and rows[0]["date"] == report["as_of"]
    assert rows[0]["distance_7d_km"] == _cell(report["athletes"][0]["metrics"]["distance_7d_km"])


def test_days_without_csv_or_below_one_is_refused(
        squad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(squad), "report", "--json", "--days", "7"]) != 0
    assert "--days goes with --csv" in capsys.readouterr().err
    assert main(["--config", str(squad), "report", "--csv", "--days", "0"]) != 0
    assert "--days: expected 1 or more" in capsys.readouterr().err
