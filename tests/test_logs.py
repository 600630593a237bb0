"""`log_format: json`: the service logs one JSON object per line, with the athlete, file and
rule a record is about, and no secret."""

from __future__ import annotations

import json
import logging
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from helpers import REPO, STRIDEGUARD

from fitwriter.encode import encode_run
from wiring.logs import JsonLogFormatter


def test_a_record_becomes_one_json_object_with_its_context() -> None:
    record = logging.LogRecord("strideguard.ingest", logging.WARNING, __file__, 1,
                               "quarantined %s: %s", ("a.fit", "not a FIT file"), None)
    record.athlete, record.file = "ana", "a.fit"
    entry = json.loads(JsonLogFormatter().format(record))
    assert entry["level"] == "WARNING" and entry["logger"] == "strideguard.ingest"
    assert entry["message"] == "quarantined a.fit: not a FIT file"
    assert (entry["athlete"], entry["file"]) == ("ana", "a.fit")
    assert "rule" not in entry  # only the context a record has
    assert datetime.fromisoformat(entry["time"]).tzinfo is not None


def test_an_exception_stays_inside_its_line() -> None:
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        import sys

        record = logging.LogRecord("strideguard", logging.ERROR, __file__, 1, "failed", (),
                                   sys.exc_info())
    line = JsonLogFormatter().format(record)
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exception"]


def test_run_once_logs_json_lines_with_athlete_and_file(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox" / "ana"
    inbox.mkdir(parents=True)
    (inbox / "run.fit").write_bytes(encode_run(datetime(2026, 11, 20, 7, tzinfo=UTC),
                                               10_000, 3_000))
    (inbox / "broken.fit").write_bytes(b"not a FIT file at all")
    config = tmp_path / "strideguard.yaml"
    config.write_text("database: postgresql+psycopg://sg:Sup3rSecret@127.0.0.1:1/none\n"
                      "log_format: json\n", encoding="utf-8")
    # the database is refused: the command fails, in one plain line, without the password
    failed = subprocess.run([*STRIDEGUARD, "--config", str(config), "run", "--once"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert failed.returncode != 0 and "Sup3rSecret" not in failed.stderr + failed.stdout

    config.write_text("inbox: inbox\nlog_format: json\nhttp: {listen: 'off'}\n", encoding="utf-8")
    done = subprocess.run([*STRIDEGUARD, "--config", str(config), "run", "--once"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    entries = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    assert entries and all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    by_file = {entry.get("file"): entry for entry in entries if entry.get("athlete") == "ana"}
    assert by_file["run.fit"]["message"].startswith("ingested ")
    assert by_file["broken.fit"]["level"] == "WARNING"
    assert "quarantined" in by_file["broken.fit"]["message"]
