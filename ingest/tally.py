"""The tally of file outcomes kept in the store for `strideguard status` (store.file_outcomes):
written in small batches while a scan goes on, so a long backfill shows up as it happens."""

from __future__ import annotations

import logging
import time

from sqlalchemy.exc import SQLAlchemyError

from ingest.outcome import IngestOutcome, IngestStatus, problem_class
from store import Store, utc_now
from store.file_outcomes import FileOutcomeRow, record_file_outcomes

log = logging.getLogger("strideguard.ingest")
FLUSH_EVERY = 200  # outcomes
FLUSH_AFTER_S = 5.0
# a file still being copied is looked at again every scan: not an outcome worth a row
NOT_TALLIED = (IngestStatus.WAITING,)


class OutcomeTally:
    """Buffers a batch's outcomes and appends them to `file_outcomes`. A failed write is logged
    and dropped: these are counts for an operator, never a reason to stop ingesting."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._rows: list[FileOutcomeRow] = []
        self._flushed_at = time.monotonic()

    def add(self, outcome: IngestOutcome) -> None:
        if outcome.status in NOT_TALLIED:
            return
        problem = (problem_class(outcome.reason)
                   if outcome.status in (IngestStatus.QUARANTINED, IngestStatus.ERROR) else None)
        self._rows.append(FileOutcomeRow(utc_now(), outcome.athlete_id, outcome.status.value,
                                         problem, outcome.label))
        if (len(self._rows) >= FLUSH_EVERY
                or time.monotonic() - self._flushed_at >= FLUSH_AFTER_S):
            self.flush()

    def flush(self) -> None:
        rows, self._rows = self._rows, []
        self._flushed_at = time.monotonic()
        if not rows:
            return
        try:
            with self._store.session() as session:
                record_file_outcomes(session, rows)
        except SQLAlchemyError as exc:
            log.warning("could not record %d file outcomes for `status`: %s", len(rows),
                        type(exc).__name__)
