"""The decoding workers: parse jobs inline (one worker) or in a process pool, stored in order."""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import TYPE_CHECKING, TypeVar

from ingest.parse import ParsedFit, parse_fit_safely

if TYPE_CHECKING:
    from ingest.settings import IngestSettings

# parsed files waiting to be stored, per worker: keeps memory flat however many files there are
IN_FLIGHT_PER_WORKER = 3
_JobT = TypeVar("_JobT")


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def worker_count(requested: int) -> int:
    return requested if requested > 0 else usable_cores()


class ParsePool:
    """Runs parse jobs inline (one worker) or in a process pool started on the second job."""

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        self.workers = worker_count(settings.workers)
        self._pool: Executor | None = None
        self._jobs = 0

    @property
    def in_flight_limit(self) -> int:
        return 1 if self.workers == 1 else self.workers * IN_FLIGHT_PER_WORKER

    def submit(self, data: bytes, athlete_id: str) -> Future[ParsedFit]:
        self._jobs += 1
        timezone_name = self.settings.timezone_for(athlete_id)
        if self.workers == 1 or (self._jobs == 1 and self._pool is None):
            done: Future[ParsedFit] = Future()
            done.set_result(parse_fit_safely(data, self.settings.decoder, timezone_name))
            return done
        if self._pool is None:
            # forkserver: workers never inherit the scheduler's or the database pool's threads
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["ingest.parse"])
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context)
        return self._pool.submit(parse_fit_safely, data, self.settings.decoder, timezone_name)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def in_order(jobs: Iterable[_JobT], finish: Callable[[_JobT], None], limit: int) -> None:
    """Feed jobs (whose parsing has started) and finish them oldest first, keeping at most
    `limit` waiting: storing follows the input order while the workers run ahead."""
    in_flight: deque[_JobT] = deque()
    for job in jobs:
        in_flight.append(job)
        while len(in_flight) > limit:
            finish(in_flight.popleft())
    while in_flight:
        finish(in_flight.popleft())
