"""What `strideguard run` offers an operator beside its work: the process's metrics, the
health endpoint on `http.listen`, and its row in the `workers` table. `run --once` and the
other commands need none of it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from store.workers import WorkerHeartbeat
from wiring.health import DatabaseProbe, Readiness
from wiring.http import HealthEndpoint
from wiring.inbox_scan import InboxScan
from wiring.telemetry import Telemetry

if TYPE_CHECKING:
    from wiring import App

log = logging.getLogger("strideguard")
# how often the worker's row is written (last_seen_at, and the jobs' successes since)
HEARTBEAT_INTERVAL_S = 10.0


class Operations:
    """The telemetry (set on the app, so App.evaluate and App.dispatch count into it), the
    endpoint, the heartbeat and the inbox walk (whose unlistable folders /readyz names) of
    one process.

    Made before anything starts: a port already in use raises wiring.http.ListenError here,
    with nothing left open. `start()` serves and registers the worker; `stop()` after the
    scheduler's shutdown marks the worker stopped and closes the endpoint. The worker's row
    is written by a thread of its own every HEARTBEAT_INTERVAL_S, never by a job (which may
    hold a transaction, and must not wait for bookkeeping).
    """

    def __init__(self, app: App, scheduler_running: Callable[[], bool]) -> None:
        self.heartbeat = WorkerHeartbeat(app.store, app.worker_id)
        self.probe = DatabaseProbe(app.config.database)
        self.telemetry = Telemetry(worker_id=app.worker_id, outbox=self.probe.outbox,
                                   on_success=self.heartbeat.touch)
        self.inbox_scan = InboxScan(app.config.inbox)
        self.readiness = Readiness(self.probe, app.config.inbox, scheduler_running,
                                   self.inbox_scan.problems)
        self._stopping = threading.Event()
        self._beating = threading.Thread(target=self._beat, name="strideguard-heartbeat",
                                         daemon=True)
        self.endpoint: HealthEndpoint | None = None
        if app.config.http.listen is not None:
            try:
                self.endpoint = HealthEndpoint(app.config.http.listen,
                                               self.readiness.problems,
                                               self.telemetry.exposition)
            except Exception:
                self.probe.dispose()
                raise
        app.telemetry = self.telemetry

    def _beat(self) -> None:
        while not self._stopping.wait(HEARTBEAT_INTERVAL_S):
            self.heartbeat.flush()

    def start(self) -> None:
        self.heartbeat.start()
        self._beating.start()
        if self.endpoint is not None:
            self.endpoint.start()
        else:
            log.info("http.listen is off: no /healthz, /readyz or /metrics")

    def stop(self) -> None:
        if self._beating.is_alive():  # started: write the last successes, mark it stopped
            self._stopping.set()
            self._beating.join(timeout=30)
            self.heartbeat.stop()
        if self.endpoint is not None:
            self.endpoint.stop()
        self.probe.dispose()
