"""The health and metrics endpoint of `strideguard run` (DESIGN §8), as an operator and
Prometheus use it: /healthz, /readyz (503 with a reason while PostgreSQL refuses connections),
/metrics whose counters move when files arrive and an alert is sent; `off`, and a port in use
(its parts: tests/test_telemetry.py)."""

from __future__ import annotations

import http.client
import logging
import os
import shutil
import socket
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import POSTGRES_ENV
from helpers import (
    HTTP_ANY_PORT,
    REPO,
    STRIDEGUARD,
    Samples,
    http_get,
    metric_samples,
    metric_total,
    running_service,
    served_url,
    wait_for,
)
from sqlalchemy import create_engine, text

from config.locate import EXIT_CONFIG
from fitwriter.synthetic import weekly_plan, write_plan
from wiring.inbox_scan import InboxScan


def scrape(base_url: str) -> Samples:
    status, body = http_get(f"{base_url}/metrics")
    assert status == 200, body
    return metric_samples(body)



def write_service_config(folder: Path, database_url: str | None = None,
                         http: str = HTTP_ANY_PORT) -> Path:
    config = folder / "strideguard.yaml"
    database = f"database: \"{database_url}\"\n" if database_url else ""
    config.write_text(database + "schedule:\n  scan_interval: 1s\n  dispatch_interval: 1s\n"
                      "ingest:\n  stability: 0s\n  workers: 1\n" + http, encoding="utf-8")
    return config


def response_headers(url: str) -> dict[str, str]:
    """The headers of a GET of `url`, as sent (http.client: no proxy, nothing rewritten)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request("GET", parts.path)
        response = connection.getresponse()
        response.read()
        return dict(response.getheaders())
    finally:
        connection.close()


def check_counters_move_with_a_file_and_an_alert(folder: Path, base_url: str) -> None:
    """Drop a five-week history whose last run is a 2x spike: files stored, an alert written
    (no channel configured: an .eml file) and the counters that say so."""
    before = scrape(base_url)
    assert metric_total(before, "strideguard_database_up") == 1
    assert metric_total(before, "strideguard_last_scan_timestamp_seconds") > 0  # the first scan
    write_plan(weekly_plan(datetime.now(UTC).date(), 5, [5.0, 6.0, 8.0], final_run_km=17.0),
               folder / "data" / "inbox" / "ana")
    mail_dir = folder / "data" / "mail"
    assert wait_for(lambda: any(mail_dir.glob("*.eml")), 90), "no alert was written"

    def sent(samples: Samples) -> float:
        return metric_total(samples, "strideguard_notifications_total", channel="file",
                            outcome="sent")

    assert wait_for(lambda: sent(scrape(base_url)) >= 1, 30)
    after = scrape(base_url)
    ingested = "strideguard_files_total"
    assert (metric_total(after, ingested, outcome="ingested")
            - metric_total(before, ingested, outcome="ingested")) == 25
    assert metric_total(after, "strideguard_decode_seconds_count") >= 25
    assert metric_total(after, "strideguard_records_decoded_total") > metric_total(
        before, "strideguard_records_decoded_total")
    assert metric_total(after, "strideguard_evaluations_total") >= 1
    assert metric_total(after, "strideguard_evaluation_duration_seconds_count") >= 1
    assert metric_total(after, "strideguard_alerts_total", rule="single_run_spike") >= 1
    assert metric_total(after, "strideguard_last_dispatch_timestamp_seconds") > 0
    assert metric_total(after, "strideguard_last_evaluation_timestamp_seconds") > 0
    assert metric_total(after, "strideguard_outbox_depth") == 0
    assert not any(name.endswith("_created") for name, _labels in after)  # half the series
    # bounded labels only: never a file, an athlete or a channel's hash
    assert {key for name, labels in after if name.startswith("strideguard_")
            for key, _value in labels} <= {"outcome", "reason", "rule", "severity", "channel",
                                           "kind", "worker", "le"}
    assert {labels_of["channel"] for _n, labels in after
            if "channel" in (labels_of := dict(labels))} <= {"email", "webhook", "push", "file"}


def test_sqlite_service_answers_health_ready_and_metrics(tmp_path: Path) -> None:
    config = write_service_config(tmp_path)
    with running_service(config) as service:
        base_url = served_url(service)
        assert http_get(f"{base_url}/healthz") == (200, "ok\n")
        assert wait_for(lambda: http_get(f"{base_url}/readyz") == (200, "ready\n"), 30)
        assert http_get(f"{base_url}/nothing-here")[0] == 404
        headers = response_headers(f"{base_url}/metrics")
        assert headers["Server"] == "strideguard"
        assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        check_counters_move_with_a_file_and_an_alert(tmp_path, base_url)
        log = service.stop()
    assert "GET /readyz" not in log  # access lines only at debug
    assert "Traceback" not in log


# --- folders the service may not list ------------------------------------------------------


def subject_to_file_modes() -> tuple[str, ...]:
    """A command prefix under which the service is held to file modes as any user is (the
    container's PUID that does not own the inbox): root passes them (CAP_DAC_OVERRIDE), so a
    test run as root starts the service without that capability."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("run as root, and no setpriv to drop CAP_DAC_OVERRIDE: a folder's mode "
                    "000 would not stop the service")
    capabilities = "-dac_override,-dac_read_search"
    return (setpriv, "--inh-caps", capabilities, "--bounding-set", capabilities)


def test_an_inbox_that_is_not_there_is_logged_once_and_again_after_it_came_back(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="strideguard.ingest")
    inbox = tmp_path / "inbox"
    scan = InboxScan(inbox)
    for _scan in range(3):
        assert scan.list_files() == []
        assert (scan.inbox_listed, scan.unlisted_reasons()) == (False, ["missing"])
    assert scan.problems() == []  # the inbox itself: /readyz asks it at each request
    inbox.mkdir()
    (inbox / "ana").mkdir()
    write_plan(weekly_plan(datetime.now(UTC).date(), 1, [5.0], strength_per_week=0),
               inbox / "ana")
    assert [item.athlete_id for item in scan.list_files()] == ["ana"]
    assert (scan.inbox_listed, scan.unlisted_reasons()) == (True, [])
    messages = [record.getMessage() for record in caplog.records]
    assert sum(m.startswith(f"cannot list {inbox} (") for m in messages) == 1
    assert f"{inbox} can be listed again; its files are read" in messages


def test_folders_it_cannot_list_are_logged_once_counted_and_shown_by_readyz(
        tmp_path: Path) -> None:
    """An athlete's folder of mode 000 (the wrong PUID in Docker): named by /readyz, counted,
    logged once while it lasts, read once it can be. The inbox itself unlistable: no scan
    counts as a success (the last scan's time stands still) until it can be listed again."""
    prefix = subject_to_file_modes()
    inbox = tmp_path / "data" / "inbox"
    ana = inbox / "ana"
    files = write_plan(weekly_plan(datetime.now(UTC).date(), 1, [5.0], strength_per_week=0),
                       ana)
    ana.chmod(0)
    try:
        with running_service(write_service_config(tmp_path), prefix=prefix) as service:
            base_url = served_url(service)

            def folder_errors() -> float:
                return metric_total(scrape(base_url), "strideguard_scan_folder_errors_total",
                                    reason="permission")

            def last_scan() -> float:
                return metric_total(scrape(base_url),
                                    "strideguard_last_scan_timestamp_seconds")

            assert wait_for(lambda: folder_errors() >= 3, 30), service.log()
            status, body = http_get(f"{base_url}/readyz")
            assert status == 503 and f"inbox: cannot list {ana} at the last scan" in body, body
            samples = scrape(base_url)
            assert metric_total(samples, "strideguard_scan_unlisted_folders") == 1
            assert metric_total(samples, "strideguard_files_total") == 0
            assert last_scan() > 0  # the inbox was listed: the scan read what it could
            assert service.log().count(f"cannot list {ana} (") == 1  # once while it lasts

            ana.chmod(0o755)
            assert wait_for(lambda: http_get(f"{base_url}/readyz") == (200, "ready\n"), 30)
            assert wait_for(lambda: metric_total(scrape(base_url), "strideguard_files_total",
                                                 outcome="ingested") == len(files), 60)
            assert f"{ana} can be listed again" in service.log()

            errors_before = folder_errors()
            inbox.chmod(0)
            assert wait_for(lambda: folder_errors() >= errors_before + 1, 30), service.log()
            stood_still_at = last_scan()
            assert wait_for(lambda: folder_errors() >= errors_before + 3, 30)
            assert last_scan() == stood_still_at
            status, body = http_get(f"{base_url}/readyz")
            assert status == 503 and f"inbox: {inbox} is not readable" in body, body
            inbox.chmod(0o755)
            assert wait_for(lambda: last_scan() > stood_still_at, 30)
            assert wait_for(lambda: http_get(f"{base_url}/readyz") == (200, "ready\n"), 30)
            log = service.stop()
    finally:  # pytest's clean-up must be able to remove them
        inbox.chmod(0o755)
        ana.chmod(0o755)
    assert service.process.returncode == 0, log
    assert log.count(f"cannot list {inbox} (") == 1 and log.count(f"cannot list {ana} (") == 1
    assert "Traceback" not in log


# --- PostgreSQL: readiness follows the database --------------------------------------------


def refuse_connections(name: str, refuse: bool) -> None:
    """As a database being restarted or taken away does: no new connections, and (refusing)
    the open ones cut."""
    admin = create_engine(os.environ[POSTGRES_ENV], isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            allow = "false" if refuse else "true"
            connection.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {allow}'))
            if refuse:
                connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                        "WHERE datname = :name"), {"name": name})
    finally:
        admin.dispose()


def test_postgres_readyz_is_503_with_the_reason_while_the_database_refuses_connections(
        tmp_path: Path, throwaway_postgres_database: tuple[str, str]) -> None:
    database_url, name = throwaway_postgres_database
    config = write_service_config(tmp_path, database_url)
    with running_service(config) as service:
        base_url = served_url(service)
        assert http_get(f"{base_url}/healthz") == (200, "ok\n")
        assert wait_for(lambda: http_get(f"{base_url}/readyz") == (200, "ready\n"), 30)
        check_counters_move_with_a_file_and_an_alert(tmp_path, base_url)

        refuse_connections(name, refuse=True)
        assert wait_for(lambda: http_get(f"{base_url}/readyz")[0] == 503, 30), service.log()
        status, body = http_get(f"{base_url}/readyz")
        assert status == 503 and "database: " in body and "not currently accepting" in body, body
        assert http_get(f"{base_url}/healthz") == (200, "ok\n")  # alive: no database asked
        samples = scrape(base_url)  # the scrape still answers, and says the database is down
        assert metric_total(samples, "strideguard_database_up") == 0
        assert metric_total(samples, "strideguard_files_total", outcome="ingested") == 25

        refuse_connections(name, refuse=False)
        assert wait_for(lambda: http_get(f"{base_url}/readyz") == (200, "ready\n"), 30), \
            http_get(f"{base_url}/readyz")
        assert metric_total(scrape(base_url), "strideguard_database_up") == 1
        log = service.stop()
    assert service.process.returncode == 0, log
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            stopped = connection.execute(text("SELECT stopped_at, last_scan_at FROM workers")
                                         ).all()
    finally:
        engine.dispose()
    assert len(stopped) == 1 and stopped[0][0] is not None and stopped[0][1] is not None


def test_postgres_sigterm_while_the_database_refuses_connections_exits_0(
        tmp_path: Path, throwaway_postgres_database: tuple[str, str]) -> None:
    """A shutdown while the database is away (restarted under it): the worker's row cannot be
    marked stopped, which is logged, and the process still ends cleanly."""
    database_url, name = throwaway_postgres_database
    with running_service(write_service_config(tmp_path, database_url)) as service:
        base_url = served_url(service)
        assert wait_for(lambda: http_get(f"{base_url}/readyz") == (200, "ready\n"), 30)
        refuse_connections(name, refuse=True)
        assert wait_for(lambda: http_get(f"{base_url}/readyz")[0] == 503, 30), service.log()
        log = service.stop()
    assert service.process.returncode == 0, log
    assert "could not update this worker's row" in log and log.rstrip().endswith("stopped")


# --- off, and a port in use -----------------------------------------------------------------


def listening_ports(pid: int) -> set[int]:
    """The TCP ports a process listens on (Linux: its socket inodes in /proc/net/tcp*)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_listen_off_serves_nothing(tmp_path: Path) -> None:
    config = write_service_config(tmp_path, http="http:\n  listen: off\n")
    with running_service(config) as service:
        assert listening_ports(service.process.pid) == set()
        log = service.log()
    assert "http.listen is off" in log and "serving /healthz" not in log


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_port_zero_listens_on_the_port_it_logs(tmp_path: Path) -> None:
    with running_service(write_service_config(tmp_path)) as service:
        port = int(served_url(service).rsplit(":", 1)[1])
        assert listening_ports(service.process.pid) == {port}


def test_a_port_in_use_stops_the_service_at_start_naming_the_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_service_config(tmp_path, http=f'http:\n  listen: "127.0.0.1:{port}"\n')
        done = subprocess.run([*STRIDEGUARD, "--config", str(config), "run"], cwd=REPO,
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert f"port {port} is already in use" in done.stderr
    assert "Traceback" not in done.stderr
    assert "initial scan" not in done.stderr  # nothing was started
