"""Helpers the tests share: the `strideguard` command in a child process, waiting for something
observable to happen, and listing the files of a folder."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Prometheus samples by (name, labels): what a /metrics scrape holds
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

REPO = Path(__file__).resolve().parents[1]
# `strideguard ...` as the console script runs it, from this checkout and this interpreter
STRIDEGUARD = [sys.executable, "-m", "cli"]


def files_under(folder: Path) -> list[Path]:
    """Every file below a folder, sorted; none for a folder that does not exist."""
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def wait_for(condition: Callable[[], bool], timeout_s: float,
             process: subprocess.Popen[bytes] | None = None) -> bool:
    """Poll until the condition holds, the timeout passes, or the process (if given) ends."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        if process is not None and process.poll() is not None:
            return condition()
        time.sleep(0.1)
    return False


class ServiceProcess:
    """A running `strideguard run`, its log written to a file (a pipe would fill and stall it)."""

    def __init__(self, process: subprocess.Popen[bytes], log_file: Path) -> None:
        self.process = process
        self.log_file = log_file

    def log(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, text: str, timeout_s: float = 30.0, count: int = 1) -> bool:
        """Wait until the log holds `text` at least `count` times."""
        return wait_for(lambda: self.log().count(text) >= count, timeout_s, self.process)

    def stop(self, stop_signal: int = signal.SIGTERM, timeout_s: float = 60.0) -> str:
        """Signal the service, wait for it to end, and return its log."""
        self.process.send_signal(stop_signal)
        self.process.wait(timeout=timeout_s)
        return self.log()


@contextmanager
def running_service(config: Path, *, cwd: Path | None = None, first_scan: bool = True,
                    prefix: tuple[str, ...] = ()) -> Iterator[ServiceProcess]:
    """`strideguard --config CONFIG run` in a child process (started by the `prefix` command,
    if any: setpriv, say), by default once its first inbox scan is done; stopped with SIGTERM
    (killed after a minute) if the test left it running."""
    log_file = config.parent / "service.log"
    with log_file.open("wb") as log_out:
        process = subprocess.Popen([*prefix, *STRIDEGUARD, "--config", str(config), "run"],
                                   cwd=cwd or REPO, stdout=log_out, stderr=subprocess.STDOUT)
    service = ServiceProcess(process, log_file)
    try:
        if first_scan:
            assert service.wait_for_log("initial scan of"), (
                f"the service never finished its first scan:\n{service.log()}")
        yield service
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def inbox_settings(root: Path) -> Any:
    """Ingest settings for an inbox, archive and quarantine under `root`, nothing waiting."""
    from ingest import IngestSettings

    return IngestSettings(inbox=root / "inbox", archive=root / "archive",
                          quarantine=root / "quarantine", stability_s=0.0)


def drop(settings: Any, name: str, data: bytes, athlete: str = "ana") -> Path:
    """Put a file into the athlete's inbox folder."""
    folder = settings.inbox / athlete
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip holding these members (name -> bytes), deflated (or stored as they are, with
    zipfile.ZIP_STORED: a gzip bomb zipped stays a 1 MB member)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def count_rows(store: Any, model: type) -> int:
    """How many rows the model's table holds."""
    from sqlalchemy import func, select

    with store.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


# `strideguard run` serves /healthz, /readyz and /metrics on 127.0.0.1:9464 unless told
# otherwise: every test config that runs the service asks for any free port instead, so that
# services of tests running at the same time never collide (the log names the port: served_url)
HTTP_ANY_PORT = 'http:\n  listen: "127.0.0.1:0"\n'
SERVING = "serving /healthz /readyz /metrics on "


def served_url(service: ServiceProcess, timeout_s: float = 30.0) -> str:
    """The base URL of a running service's endpoint, from its start-up log line."""
    assert service.wait_for_log(SERVING, timeout_s), f"no endpoint was served:\n{service.log()}"
    line = next(line for line in service.log().splitlines() if SERVING in line)
    return "http://" + line.split(SERVING, 1)[1].strip()


def http_get(url: str, timeout_s: float = 10.0) -> tuple[int, str]:
    """GET a URL: the status and the body as text (an HTTP error status is an answer too)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status, response.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", errors="replace")


def metric_samples(exposition: str) -> Samples:
    """Prometheus text, parsed by prometheus_client's own parser (it raises on bad input)."""
    from prometheus_client.parser import text_string_to_metric_families

    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(exposition)
            for sample in family.samples}


def metric_total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(value for (sample, sample_labels), value in samples.items()
               if sample == name and wanted <= sample_labels)
