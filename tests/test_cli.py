"""The `strideguard` command: check-config, init, demo, report --json and dedupe through the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import STRIDEGUARD

from cli import main
from config.locate import EXIT_CONFIG
from fitwriter.encode import encode_run
from fitwriter.synthetic import weekly_plan, write_plan


def test_check_config_reports_each_problem_with_file_line_col(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMTP_PASSWORD", raising=False)
    config = tmp_path / "strideguard.yaml"
    config.write_text(
        "database: sqlite:///data/x.db\n"
        "timezon: Europe/Berlin\n"
        "notify:\n"
        "  email:\n"
        "    host: smtp.example.com\n"
        "    port: twenty-five\n"
        "    password: ${SMTP_PASSWORD}\n"
        "    sender: alerts@example.com\n",
        encoding="utf-8",
    )
    assert main(["--config", str(config), "check-config"]) == EXIT_CONFIG
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3, lines
    assert re.match(rf"{re.escape(str(config))}:2:1: timezon: unknown key", lines[0])
    assert "did you mean 'timezone'" in lines[0]
    assert re.match(rf"{re.escape(str(config))}:6:11: notify.email.port: ", lines[1])
    assert re.match(rf"{re.escape(str(config))}:7:15: notify.email.password: "
                    r"environment variable SMTP_PASSWORD is not set", lines[2])


def test_check_config_accepts_the_starter_config(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", str(tmp_path / "site")]) == 0
    config = tmp_path / "site" / "strideguard.yaml"
    assert main(["--config", str(config), "check-config"]) == 0
    assert "config ok" in capsys.readouterr().out
    # init never overwrites what is there
    config.write_text(config.read_text() + "# mine\n")
    assert main(["init", str(tmp_path / "site")]) == 0
    assert config.read_text().endswith("# mine\n")


def test_check_config_reports_rule_file_errors(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - id: spike\n    metric: longest_run_ratio\n"
                     "    warn: \"> 1.1\"\n", encoding="utf-8")
    config = tmp_path / "strideguard.yaml"
    config.write_text("rules: rules.yaml\n", encoding="utf-8")
    assert main(["--config", str(config), "check-config"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert f"{rules}:3:13: rules[0].metric: unknown metric 'longest_run_ratio'" in err
    assert "did you mean 'longest_run_ratio_30d'" in err


def report_json(config: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    capsys.readouterr()
    assert main(["--config", str(config), "report", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_same_file_twice_or_renamed_counts_once_in_the_report(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "strideguard.yaml"
    config.write_text("ingest:\n  stability: 0s\n", encoding="utf-8")
    inbox = tmp_path / "data" / "inbox" / "ana"
    today = datetime.now(UTC).date()
    written = write_plan(weekly_plan(today, 2, [5.0, 6.0, 10.0]), inbox)
    assert main(["--config", str(config), "run", "--once"]) == 0
    before = report_json(config, capsys)
    [ana] = before["athletes"]
    assert ana["athlete"] == "ana" and ana["metrics"]["distance_7d_km"] == pytest.approx(21.0)
    assert before["as_of"] == today.isoformat()

    archived = next((tmp_path / "data" / "archive" / "ana").rglob(written[-1].name))
    (inbox / "again.fit").write_bytes(archived.read_bytes())
    start = datetime.combine(today, datetime.min.time(), tzinfo=UTC) + timedelta(hours=7)
    re_export = encode_run(start, 10_000, 3300, serial_number=3_912_345_678,
                           cadence_spm=172)  # other bytes, same device and time_created
    (inbox / "renamed-export.fit").write_bytes(re_export)
    assert main(["--config", str(config), "run", "--once"]) == 0
    after = report_json(config, capsys)
    assert after["athletes"][0]["metrics"]["distance_7d_km"] == pytest.approx(21.0)
    assert not list(inbox.glob("*.fit"))


def test_demo_shows_an_alert_from_fit_files(tmp_path: Path) -> None:
    result = subprocess.run(
        [*STRIDEGUARD, "demo", str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "ALERT CRITICAL single_run_spike" in result.stdout
    assert "WHAT TO DO" in result.stdout and "not medical advice" in result.stdout
    assert list((tmp_path / "demo" / "data" / "mail").glob("*.eml"))


def test_report_names_every_metric_with_its_band_and_honours_as_of(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "220")  # rich wraps cells to the terminal's width
    config = tmp_path / "strideguard.yaml"
    config.write_text("ingest:\n  stability: 0s\n", encoding="utf-8")
    today = datetime.now(UTC).date()
    write_plan(weekly_plan(today, 5, [6.0, 8.0, 6.0, 12.0]), tmp_path / "data" / "inbox" / "ana")
    assert main(["--config", str(config), "run", "--once"]) == 0
    from metrics import CATALOGUE

    report = report_json(config, capsys)
    metrics = report["athletes"][0]["metrics"]
    assert list(metrics) == list(CATALOGUE)
    assert metrics["distance_7d_km"] == pytest.approx(32.0)
    assert metrics["acwr_uncoupled"] == pytest.approx(1.0)  # five identical weeks
    assert metrics["strength_sessions_7d"] == 2
    assert metrics["cadence_trend_spm_per_week"] == pytest.approx(0.0, abs=0.05)  # 20 runs
    assert metrics["cadence_change_spm_8w_low"] <= 0 <= metrics["cadence_change_spm_8w_high"]
    capsys.readouterr()
    past = (today - timedelta(days=14)).isoformat()
    assert main(["--config", str(config), "report", "--json", "--as-of", past]) == 0
    earlier = json.loads(capsys.readouterr().out)
    assert earlier["as_of"] == past
    assert earlier["athletes"][0]["metrics"]["acwr_uncoupled"] is None  # 21 days by then
    assert main(["--config", str(config), "report", "--athlete", "ana"]) == 0
    table = capsys.readouterr().out
    assert "band" in table and "meets the guideline" in table and "not enough data" in table

    # readable in an 80-column terminal: one line per metric, name and value never wrapped
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["--config", str(config), "report", "--athlete", "ana"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 80
    for name, value in metrics.items():
        [line] = [line for line in lines if line.strip().startswith(name + " ")]
        if value is not None:
            assert f"{value:g}" in line, line


def test_rule_author_tools_evaluate_one_rule_and_explain_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    config = tmp_path / "strideguard.yaml"
    config.write_text("ingest:\n  stability: 0s\n", encoding="utf-8")
    today = datetime.now(UTC).date()
    write_plan(weekly_plan(today, 6, [5.0, 6.0, 8.0], final_run_km=17.0),
               tmp_path / "data" / "inbox" / "ana")
    assert main(["--config", str(config), "ingest", str(tmp_path / "data" / "inbox")]) == 0
    capsys.readouterr()

    args = ["--config", str(config), "evaluate", "--dry-run", "--rule", "single_run_spike"]
    assert main([*args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    [finding] = result["findings"]
    assert finding["rule"] == "single_run_spike" and finding["severity"] == "critical"
    assert finding["value"] == pytest.approx(17 / 8, abs=1e-3)
    assert finding["threshold"] == 2.0 and finding["thresholds"] == "warn > 1.1, critical > 2"
    assert finding["detail"]["longest_prior_30d_km"] == 8
    assert result["changes"] == []  # `ingest` evaluated already: the alert is firing
    assert main(args) == 0
    assert "critical (> 2)" in capsys.readouterr().out
    assert main([*args[:-1], "no_such_rule"]) == EXIT_CONFIG
    assert "no rule 'no_such_rule'; the rules are: single_run_spike" in capsys.readouterr().err

    explain = ["--config", str(config), "explain", "single_run_spike", "--athlete", "ana",
               "--days", "8"]
    assert main(explain) == 0
    out = capsys.readouterr().out
    assert "fires at warn > 1.1, critical > 2" in out
    assert (today - timedelta(days=7)).isoformat() in out and today.isoformat() in out
    assert "critical" in out.splitlines()[-2] and "big spike" in out
    assert main([*explain, "--json"]) == 0
    days = json.loads(capsys.readouterr().out)
    assert (days["rule"], days["athlete"], len(days["days"])) == ("single_run_spike", "ana", 8)
    assert days["days"][-1] == {"day": today.isoformat(),
                                "value": pytest.approx(17 / 8, abs=1e-3), "severity": "critical"}
    assert days["days"][0]["severity"] is None


def test_the_service_refuses_to_start_on_a_bad_rules_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - id: a\n    metric: distance_7d_km\n    warn: \"=> 50\"\n",
                     encoding="utf-8")
    config = tmp_path / "strideguard.yaml"
    config.write_text("rules: rules.yaml\n", encoding="utf-8")
    for command in (["run"], ["run", "--once"]):
        assert main(["--config", str(config), *command]) == EXIT_CONFIG
        assert f"{rules}:4:11: rules[0].warn: expected" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()  # nothing was started or created


def test_help_and_check_config_load_only_what_they_need(tmp_path: Path) -> None:
    """Fast start (bench/startup.py times it): `--help` is argparse alone; `check-config` reads
    YAML and pydantic but not the database layer, the maths, the migrations or the tables."""
    heavy = ("pydantic", "sqlalchemy", "numpy", "scipy", "alembic", "rich", "apscheduler")
    probe = ("import sys\nfrom cli import main\ntry:\n    code = main(sys.argv[1:])\n"
             "except SystemExit as exc:\n    code = exc.code\n"
             f"print(code, sorted(set({heavy!r}) & {{m.split('.')[0] for m in sys.modules}}))")
    assert main(["init", str(tmp_path)]) == 0

    def loaded(*args: str) -> str:
        return subprocess.run([sys.executable, "-c", probe, *args], capture_output=True,
                              text=True, check=True).stdout.strip().splitlines()[-1]

    assert loaded("--help") == "0 []"
    assert loaded("--config", str(tmp_path / "strideguard.yaml"), "check-config") == \
        "0 ['pydantic']"
