"""The `workers` table: each `strideguard run` process says when it started, when it was last
seen and when its scan, evaluation and dispatch last succeeded, so that `strideguard status`
can show every process sharing one database (a process that died leaves its row unstopped,
its `last_seen_at` growing old)."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Literal, get_args

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from store.db import Store
from store.models import Worker, utc_now

log = logging.getLogger("strideguard.store")

# the jobs whose last success a worker row records (and /metrics shows: wiring.telemetry),
# the one list of them; each goes to its column `last_<job>_at`
WorkerJob = Literal["scan", "evaluation", "dispatch"]
WORKER_JOBS: tuple[WorkerJob, ...] = get_args(WorkerJob)
JOB_COLUMNS: dict[str, str] = {job: f"last_{job}_at" for job in WORKER_JOBS}
# rows of processes gone this long (stopped, or killed and silent since) are deleted when a
# worker registers: one row per `run --once` (a cron job's) would otherwise pile up for ever
WORKER_ROWS_KEPT = timedelta(days=30)


def register_worker(session: Session, worker_id: str, now: datetime, *,
                    started_at: datetime | None = None, hostname: str | None = None,
                    pid: int | None = None) -> None:
    """Add (or, for an id seen before, restart) this process's row, seen `now`; the rows of
    processes not seen for WORKER_ROWS_KEPT go."""
    session.execute(delete(Worker).where(Worker.last_seen_at < now - WORKER_ROWS_KEPT,
                                         Worker.id != worker_id))
    worker = session.get(Worker, worker_id)
    if worker is None:
        worker = Worker(id=worker_id)
        session.add(worker)
    worker.hostname = hostname or socket.gethostname()
    worker.pid = os.getpid() if pid is None else pid
    worker.started_at, worker.last_seen_at = started_at or now, now
    worker.last_scan_at = worker.last_evaluation_at = worker.last_dispatch_at = None
    worker.stopped_at = None


def touch_worker(session: Session, worker_id: str, now: datetime,
                 done: Mapping[str, datetime] | None = None) -> bool:
    """One UPDATE: seen `now`, and each job of `done` succeeded at its time; False when the
    row is missing (deleted, or never registered because the database was down at start).
    A row marked stopped stays stopped (a flush that comes late, after `stop`, never makes a
    stopped process look alive)."""
    values: dict[str, object] = {"last_seen_at": now}
    values.update({JOB_COLUMNS[job]: when for job, when in (done or {}).items()})
    result = session.execute(update(Worker).where(Worker.id == worker_id).values(**values))
    return bool(getattr(result, "rowcount", 0))


def stop_worker(session: Session, worker_id: str, now: datetime) -> None:
    session.execute(update(Worker).where(Worker.id == worker_id)
                    .values(stopped_at=now, last_seen_at=now))


def list_workers(session: Session, *, running_only: bool = False,
                 seen_since: datetime | None = None) -> list[Worker]:
    """Every worker row (or those not stopped, or those seen since `seen_since`), the most
    recently seen first."""
    query = select(Worker).order_by(Worker.last_seen_at.desc(), Worker.id)
    if running_only:
        query = query.where(Worker.stopped_at.is_(None))
    if seen_since is not None:
        query = query.where(Worker.last_seen_at >= seen_since)
    return list(session.scalars(query))


def record_single_cycle(store: Store, worker_id: str, started_at: datetime,
                        done: Iterable[WorkerJob] = WORKER_JOBS) -> bool:
    """`run --once`: the process's row, its jobs `done` now and stopped, in one transaction,
    so that `status` shows the cycle as the last scan. Bookkeeping: a failure is logged and
    returns False, never raised (the cycle's work is committed already)."""
    now = utc_now()
    try:
        with store.session() as session:
            register_worker(session, worker_id, now, started_at=started_at)
            session.flush()  # the UPDATEs below find the row
            touch_worker(session, worker_id, now, dict.fromkeys(done, now))
            stop_worker(session, worker_id, now)
    except Exception as exc:
        log.warning("could not record this run in `workers` (%s); `strideguard status` does "
                    "not show it as the last scan", type(exc).__name__)
        log.debug("workers row write failed", exc_info=True)
        return False
    return True


class WorkerHeartbeat:
    """This process's row. Jobs report their successes with `touch` (memory only, from any
    thread, never inside anyone's transaction); `flush`, every few seconds from a thread of
    its own, writes them with `last_seen_at` in one UPDATE.

    The row is bookkeeping for `status`: a failure to write it (the database down for a
    moment) is logged once while it lasts and never fails a job; the successes not written
    wait for the next flush. A row that went missing is registered again, until `stop`:
    after it nothing writes the row any more (a flush that comes late, say from a heartbeat
    thread the shutdown stopped waiting for, never brings a stopped worker back).
    """

    def __init__(self, store: Store, worker_id: str) -> None:
        self.store = store
        self.worker_id = worker_id
        self.started_at = utc_now()
        self._failing = False
        self._stopped = False
        self._lock = threading.Lock()
        self._done: dict[str, datetime] = {}  # job -> when it last succeeded, not yet written

    def start(self) -> None:
        self._write(self._register)

    def _register(self, session: Session, now: datetime) -> None:
        register_worker(session, self.worker_id, now, started_at=self.started_at)

    def touch(self, *done: WorkerJob) -> None:
        """These jobs succeeded now (written at the next flush)."""
        now = utc_now()
        with self._lock:
            self._done.update(dict.fromkeys(done, now))

    def flush(self) -> bool:
        """Write `last_seen_at` and the successes since the last flush; False if it failed."""
        with self._lock:
            if self._stopped:
                return False
            done, self._done = self._done, {}

        def write(session: Session, now: datetime) -> None:
            if not touch_worker(session, self.worker_id, now, done) and not self._stopped:
                self._register(session, now)
                touch_worker(session, self.worker_id, now, done)

        written = self._write(write)
        if not written:
            with self._lock:  # kept for the next flush, unless a newer success came meanwhile
                self._done = {**done, **self._done}
        return written

    def stop(self) -> None:
        """Write what is pending, and mark the row stopped (for good: see the class)."""
        self.flush()
        with self._lock:
            self._stopped = True
        self._write(lambda session, now: stop_worker(session, self.worker_id, now))

    def _write(self, write: Callable[[Session, datetime], None]) -> bool:
        try:
            with self.store.session() as session:
                write(session, utc_now())
        except Exception as exc:  # bookkeeping only: no job fails for it
            if not self._failing:
                log.warning("could not update this worker's row in `workers` (%s); "
                            "`strideguard status` shows it as it was", type(exc).__name__)
            self._failing = True
            log.debug("workers row update failed", exc_info=True)
            return False
        if self._failing:
            log.info("this worker's row in `workers` is updated again")
        self._failing = False
        return True
