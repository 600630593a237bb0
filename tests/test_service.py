"""The long-running service and the ingest/activities commands, as a user runs them."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import HTTP_ANY_PORT, files_under, running_service, wait_for

from cli import main
from fitwriter.synthetic import weekly_plan, write_plan


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_run_ingests_dropped_files_and_stops_cleanly_on_signal(
        tmp_path: Path, stop_signal: signal.Signals) -> None:
    config = tmp_path / "strideguard.yaml"
    config.write_text("schedule:\n  scan_interval: 1s\n  dispatch_interval: 1s\n"
                      "ingest:\n  stability: 0s\n" + HTTP_ANY_PORT, encoding="utf-8")
    with running_service(config) as service:
        inbox = tmp_path / "data" / "inbox"
        assert inbox.is_dir(), "the service did not create its inbox"
        today = datetime.now(UTC).date()
        # dropped while the service runs: the last run is a 2x spike, so an alert is written
        write_plan(weekly_plan(today, 5, [5.0, 6.0, 8.0], final_run_km=17.0), inbox / "ana")
        archive = tmp_path / "data" / "archive"
        assert wait_for(lambda: len(list(archive.rglob("*.fit"))) == 25, 60)
        mail_dir = tmp_path / "data" / "mail"
        assert wait_for(lambda: any(mail_dir.glob("*.eml")), 30)
        log = service.stop(stop_signal)
    assert service.process.returncode == 0, log
    assert "stopped" in log
    assert not list(inbox.rglob("*.fit"))


def test_ingest_command_and_activities_listing(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "strideguard.yaml"
    config.write_text("timezone: Europe/Berlin\n", encoding="utf-8")
    export = tmp_path / "garmin-export"
    write_plan(weekly_plan(datetime.now(UTC).date(), 1, [5.0, 10.0]), export)
    assert main(["--config", str(config), "ingest", str(export), "--athlete", "bob"]) == 0
    capsys.readouterr()
    assert main(["--config", str(config), "activities", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["distance_m"] or 0 for r in rows) == [0, 0, 5000, 10000]
    run = next(r for r in rows if r["distance_m"] == 10000)
    assert run["athlete"] == "bob" and run["sport"] == "running"
    assert run["start_local"].endswith(("+01:00", "+02:00"))
    assert run["steady_cadence_spm"] == pytest.approx(170, abs=1)
    assert not files_under(export)  # moved to the archive, not copied


SPIKE_RULE = ("rules:\n  - id: {rule_id}\n    metric: longest_run_ratio_30d\n"
              "    warn: \"{threshold}\"\n")


def test_run_takes_edited_rules_without_a_restart_and_keeps_them_over_a_broken_edit(
        tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(SPIKE_RULE.format(rule_id="spike_a", threshold="> 1.5"), encoding="utf-8")
    config = tmp_path / "strideguard.yaml"
    config.write_text("rules: rules.yaml\nschedule:\n  scan_interval: 1s\n"
                      "  dispatch_interval: 1s\ningest:\n  stability: 0s\n" + HTTP_ANY_PORT,
                      encoding="utf-8")
    mail_dir = tmp_path / "data" / "mail"

    def mails_about(rule_id: str) -> int:
        return sum(rule_id in p.read_text(encoding="utf-8") for p in mail_dir.glob("*.eml"))

    with running_service(config) as service:
        inbox = tmp_path / "data" / "inbox"
        write_plan(weekly_plan(datetime.now(UTC).date(), 5, [5.0, 6.0, 8.0], final_run_km=17.0),
                   inbox / "ana")
        assert wait_for(lambda: mails_about("spike_a") == 1, 60)

        # a valid edit: the new rule is evaluated at once, no restart, no new file needed
        rules.write_text(SPIKE_RULE.format(rule_id="spike_b", threshold="> 2.0"),
                         encoding="utf-8")
        assert wait_for(lambda: mails_about("spike_b") == 1, 30)

        # a broken edit: logged with its file:line:col, never loaded, and spike_b stays in force
        rules.write_text(SPIKE_RULE.format(rule_id="spike_c", threshold="=> 1.1"),
                         encoding="utf-8")
        assert service.wait_for_log("the edited rules are invalid")
        assert mails_about("spike_c") == 0

        rules.write_text(SPIKE_RULE.format(rule_id="spike_c", threshold="> 1.1"),
                         encoding="utf-8")  # fixed: taken at once
        assert wait_for(lambda: mails_about("spike_c") == 1, 30)
        err = service.stop()
    assert service.process.returncode == 0, err
    assert "the edited rules are invalid; keeping the 1 rules loaded before" in err
    assert f"{rules}:4:11: rules[0].warn: expected" in err
    assert err.count("rules[0].warn: expected") == 1  # reported once, not on every check
    assert err.count("rules reloaded: 1 rules") == 2
    assert mails_about("spike_a") == 1 and mails_about("spike_b") == 1
