"""The decoding workers: parse jobs inline (one worker) or in a process pool, stored in order."""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any, TypeVar

from ingest.parse import ParsedFile, limit_worker_memory, parse_payload_safely

if TYPE_CHECKING:
    from ingest.containers import PayloadFormat
    from ingest.settings import IngestSettings

log = logging.getLogger("strideguard.ingest")
# parsed files waiting to be stored, per worker: keeps memory flat however many files there are
IN_FLIGHT_PER_WORKER = 3
# a payload this small (a run of hours recorded every second) may be decoded in this process
# (no worker started for one file); a larger one always goes to a worker process, whose memory
# is capped (parse.WORKER_MEMORY_BYTES): decoding holds memory in proportion to the file, and
# the service's own process must never grow by it (the kernel would kill the service, and it
# would meet the same file again on restart)
INLINE_MAX_BYTES = 1024 * 1024
_JobT = TypeVar("_JobT")
# what a worker runs on one payload (a module attribute, looked up at each submit, so a test can
# run a worker that dies the way an out-of-memory kill does)
parse_task: Callable[..., ParsedFile] = parse_payload_safely
# a payload whose worker died is read again alone up to this often; dying every time, it is
# quarantined. Not once: the first death may be another file's, or a moment short of memory
ALONE_READINGS = 2
KILLED_TWICE = ("its decoding process was killed twice while reading it alone (most likely "
                "for running out of memory); quarantined so it is not tried again on every scan")


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def worker_count(requested: int) -> int:
    return requested if requested > 0 else usable_cores()


class ParsePool:
    """Runs parse jobs inline (one worker, or the first job) or in a process pool started on
    the second job; a payload over INLINE_MAX_BYTES always runs in the pool (of one worker if
    one is asked for), in a process whose memory is capped.

    A worker that dies (the kernel's out-of-memory killer) breaks the whole process pool: every
    job in it fails with BrokenProcessPool, the one that killed it and its innocent neighbours
    alike. `result` then starts a fresh pool and reads each such payload again, alone, so a
    payload whose worker dies under it alone twice is known for sure: it comes back unreadable
    (and is quarantined), the others are read as if nothing happened.
    """

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        self.workers = worker_count(settings.workers)
        self._pool: ProcessPoolExecutor | None = None
        self._jobs = 0
        # the arguments of each job in the process pool, to read it again if the pool breaks
        self._arguments: dict[Future[ParsedFile], tuple[Any, ...]] = {}

    @property
    def in_flight_limit(self) -> int:
        return 1 if self.workers == 1 else self.workers * IN_FLIGHT_PER_WORKER

    def submit(self, data: bytes, athlete_id: str, payload_format: PayloadFormat = "fit", *,
               name: str = "the file", sport_hint: str | None = None) -> Future[ParsedFile]:
        """Parse one payload of the athlete's; `name` is what a problem with it names."""
        self._jobs += 1
        arguments = (data, payload_format, self.settings.decoder,
                     self.settings.timezone_for(athlete_id), name, sport_hint)
        if len(data) <= INLINE_MAX_BYTES and (self.workers == 1 or (
                self._jobs == 1 and self._pool is None)):
            done: Future[ParsedFile] = Future()
            done.set_result(parse_task(*arguments))
            return done
        try:
            future = self._process_pool().submit(parse_task, *arguments)
        except BrokenProcessPool:  # a worker died since the last job was handed out
            self._restart()
            future = self._process_pool().submit(parse_task, *arguments)
        self._arguments[future] = arguments
        return future

    def result(self, future: Future[ParsedFile]) -> ParsedFile:
        """The parse of a submitted payload. One whose worker died is read again alone (the
        jobs still waiting were handed to the broken pool too, so nothing else runs then):
        a worker dying under it alone twice names it for certain, and it comes back
        unreadable; a neighbour the dead worker took down is read as if nothing happened."""
        arguments = self._arguments.pop(future, None)
        try:
            return future.result()
        except BrokenProcessPool:
            if arguments is None:
                raise
        name = arguments[4]
        for _attempt in range(ALONE_READINGS):
            log.warning("a decoding process died while %s was being read; reading it again "
                        "alone", name)
            self._restart()
            try:
                return self._process_pool().submit(parse_task, *arguments).result()
            except BrokenProcessPool:
                continue
        log.error("%s killed its decoding process twice: quarantined", name)
        self._restart()
        return ParsedFile.unreadable(f"{name}: {KILLED_TWICE}", arguments[1])

    def _process_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # forkserver: workers never inherit the scheduler's or the database pool's threads
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["ingest.parse"])
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context,
                                             initializer=limit_worker_memory)
        return self._pool

    def _restart(self) -> None:
        """Drop a broken process pool; the next job starts a fresh one."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        self._arguments.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def in_order(jobs: Iterable[_JobT], finish: Callable[[_JobT], None], limit: int, *,
             size_of: Callable[[_JobT], int] = lambda _job: 0,
             max_bytes: int | None = None) -> None:
    """Feed jobs (whose parsing has started) and finish them oldest first, keeping at most
    `limit` waiting: storing follows the input order while the workers run ahead. With
    `max_bytes`, the bytes the waiting jobs hold (`size_of`) are kept under it too, down to one
    job: a run of large payloads (a zip of many 60 MB members) is not held all at once."""
    in_flight: deque[_JobT] = deque()
    held_bytes = 0
    for job in jobs:
        in_flight.append(job)
        held_bytes += size_of(job)
        del job  # no reference of ours keeps a finished job's bytes while the next is read
        while len(in_flight) > limit or (
                max_bytes is not None and held_bytes > max_bytes and len(in_flight) > 1):
            held_bytes -= size_of(in_flight[0])
            finish(in_flight.popleft())
    while in_flight:
        finish(in_flight.popleft())
