"""Whole `strideguard run` processes on throwaway PostgreSQL databases, for bench/scaleout.py:
started together, waited for, timed, with the CPU they, the database server and the rest of
the machine used meanwhile (the server and any other work share the same cores)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

STRIDEGUARD = [sys.executable, "-m", "cli"]
POLL_S = 0.25


@contextmanager
def database(base_url: str, template: str | None = None, keep: bool = False) -> Iterator[str]:
    """A new database on the server of `base_url` (a copy of `template` when given), dropped
    afterwards unless `keep`; its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"sg_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def jiffies(pid: int | str) -> int:
    """utime + stime of a process, in clock ticks; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def postgres_jiffies() -> int:
    """CPU ticks of every `postgres` process now (the server and its backends)."""
    total = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if Path(f"/proc/{entry.name}/comm").read_text().strip() == "postgres":
                    total += jiffies(entry.name)
            except OSError:
                continue
    return total


def machine_busy() -> tuple[int, int]:
    """(busy, total) ticks of all cores since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class Workers:
    """N `strideguard run` processes, started together, each with its own config and log."""

    def __init__(self, configs: list[Path]) -> None:
        self.configs = configs
        self.processes: list[subprocess.Popen[bytes]] = []
        self.started = time.monotonic()
        for config in configs:
            with (config.parent / "service.log").open("wb") as log:
                self.processes.append(subprocess.Popen(
                    [*STRIDEGUARD, "--config", str(config), "run"], cwd=config.parent,
                    stdout=log, stderr=subprocess.STDOUT))

    def alive(self) -> bool:
        return all(process.poll() is None for process in self.processes)

    def cpu_s(self) -> float:
        return sum(jiffies(p.pid) for p in self.processes) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> list[str]:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            process.wait(timeout=300)
        codes = [process.returncode for process in self.processes]
        if codes != [0] * len(codes):
            raise SystemExit(f"a worker exited with {codes}")
        return [(c.parent / "service.log").read_text(errors="replace") for c in self.configs]


def run_until(workers: Workers, done: Callable[[], bool], timeout_s: float) -> dict[str, float]:
    """Wait until `done()` holds; wall time from the start, CPU of the workers and of
    PostgreSQL, and how busy the machine's cores were meanwhile."""
    busy0, total0 = machine_busy()
    postgres0 = postgres_jiffies()
    while not done():
        if not workers.alive():
            raise SystemExit("a worker died:\n" + "\n".join(
                (c.parent / "service.log").read_text(errors="replace")[-3000:]
                for c in workers.configs))
        if time.monotonic() - workers.started > timeout_s:
            raise SystemExit(f"not done after {timeout_s:.0f} s")
        time.sleep(POLL_S)
    wall_s = time.monotonic() - workers.started
    busy1, total1 = machine_busy()
    tick = os.sysconf("SC_CLK_TCK")
    workers_cpu_s = workers.cpu_s()
    postgres_cpu_s = (postgres_jiffies() - postgres0) / tick
    # what else ran on the machine meanwhile (other work shares the same cores)
    other_cpu_s = max(0.0, (busy1 - busy0) / tick - workers_cpu_s - postgres_cpu_s)
    return {"wall_s": round(wall_s, 2), "workers_cpu_s": round(workers_cpu_s, 1),
            "postgres_cpu_s": round(postgres_cpu_s, 1), "other_cpu_s": round(other_cpu_s, 1),
            "cores_busy_pct": round(100 * (busy1 - busy0) / max(total1 - total0, 1), 1)}


def query(url: str, sql: str) -> Any:
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql)).all()
    finally:
        engine.dispose()


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"check failed: {what}")


def load_1min() -> float:
    """The machine's 1-minute load average: other work on the same cores shows here."""
    return float(Path("/proc/loadavg").read_text().split()[0])
