"""One process's Prometheus metrics (`/metrics` of `strideguard run`): what it ingested,
evaluated and sent, and the outbox as the database holds it at scrape time.

A registry of its own, never prometheus_client's global one: tests and a process's commands
never see another's numbers. Labels take a few fixed values (outcome words, problem classes,
channel kinds, rule ids and severities): never a file name, an athlete or a channel's hash.
Counters count this process's work since it started; sum them over processes in PromQL.
No `_created` series (disable_created_metrics): they would double the series for a number
nobody graphs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ingest.outcome import IngestOutcome, IngestStatus, problem_class
from store.workers import WORKER_JOBS, WorkerJob

if TYPE_CHECKING:
    from digest.send import DigestOutcome
    from rules.evaluate import EvaluationReport
    from wiring.health import OutboxSnapshot

log = logging.getLogger("strideguard.telemetry")

# decoding one payload: a small FIT file takes milliseconds, a long ultra with 1 s records
# seconds; a gzip bomb is stopped long before the top bucket
DECODE_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
EVALUATION_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
                        600.0)
# statuses whose reason says why the file was not stored (labelled with its class: a settings
# file skipped is not_an_activity_file, a link to a folder symlink); the others carry none
PROBLEM_STATUSES = frozenset({IngestStatus.QUARANTINED, IngestStatus.ERROR, IngestStatus.SKIPPED})
CHANNEL_KINDS = frozenset({"email", "webhook", "push", "file"})
FIRING_KINDS = frozenset({"fired", "escalated"})  # rules.alerts.Transition.kind
COUNTED_DIGESTS = frozenset({"queued", "failed"})  # "already sent" repeats at every check


class OutboxCollector(Collector):
    """The outbox's depth and ages, asked of the database when scraped; a database that fails
    (or is slow) gives `strideguard_database_up 0` and no outbox numbers, never a failed
    scrape."""

    def __init__(self, snapshot: Callable[[], OutboxSnapshot]) -> None:
        self._snapshot = snapshot

    def describe(self) -> Iterable[Metric]:
        return list(self._families())

    def _families(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("strideguard_database_up",
                                "1 when the scrape could read the database, else 0")
        yield GaugeMetricFamily("strideguard_outbox_depth",
                                "notifications waiting to be sent (pending, sending, retry)")
        yield GaugeMetricFamily("strideguard_outbox_dead",
                                "notifications that gave up (see `strideguard outbox retry`)")
        yield GaugeMetricFamily("strideguard_outbox_oldest_age_seconds",
                                "age of the oldest notification still waiting; 0 when none")
        yield GaugeMetricFamily("strideguard_outbox_oldest_due_age_seconds",
                                "how long the longest-due notification has been due; 0 "
                                "when none")

    def collect(self) -> Iterable[Metric]:
        up, depth, dead, oldest, oldest_due = self._families()
        try:
            snapshot = self._snapshot()
        except Exception as exc:  # a scrape reports the failure, it never fails
            log.debug("outbox metrics unavailable: %s", type(exc).__name__, exc_info=True)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        depth.add_metric([], snapshot.waiting)
        dead.add_metric([], snapshot.dead)
        oldest.add_metric([], snapshot.oldest_waiting_age_s)
        oldest_due.add_metric([], snapshot.oldest_due_age_s)
        return [up, depth, dead, oldest, oldest_due]


class Telemetry:
    """The metrics of one `strideguard run` process.

    `on_success(job)` hears of each successful scan, evaluation and dispatch (the worker's
    row in `workers`); `outbox` is asked at each scrape.
    """

    def __init__(self, *, worker_id: str = "",
                 outbox: Callable[[], OutboxSnapshot] | None = None,
                 on_success: Callable[[WorkerJob], None] | None = None,
                 process_metrics: bool = True) -> None:
        disable_created_metrics()  # process-wide, as the setting is
        self.registry = CollectorRegistry(auto_describe=False)
        self._on_success = on_success
        registry = self.registry
        self.files = Counter("strideguard_files", "attempts at files (and zip members) by "
                             "outcome: a file that fails, or waits, again at each scan counts "
                             "each time; reason: why one was skipped, quarantined or failed, "
                             "in a few classes", ["outcome", "reason"], registry=registry)
        self.scan_folder_errors = Counter("strideguard_scan_folder_errors",
                                          "folders of the inbox a scan could not list (counted "
                                          "at each scan), by reason: permission, missing, other",
                                          ["reason"], registry=registry)
        self.unlisted_folders = Gauge("strideguard_scan_unlisted_folders",
                                      "folders of the inbox the last scan could not list (their "
                                      "files were not read); the inbox itself among them",
                                      registry=registry)
        self.decode_seconds = Histogram("strideguard_decode_seconds",
                                        "time to decode one activity file", registry=registry,
                                        buckets=DECODE_BUCKETS_S)
        self.records = Counter("strideguard_records_decoded",
                               "timestamped records read from stored activity files",
                               registry=registry)
        self.evaluations = Counter("strideguard_evaluations", "evaluation passes",
                                   registry=registry)
        self.evaluation_seconds = Histogram("strideguard_evaluation_duration_seconds",
                                            "time of one evaluation pass", registry=registry,
                                            buckets=EVALUATION_BUCKETS_S)
        self.athletes_evaluated = Counter("strideguard_athletes_evaluated",
                                          "athletes this process evaluated", registry=registry)
        self.alerts = Counter("strideguard_alerts", "alerts fired or escalated (sent, or "
                              "held back by a silence, cooldown or the digest)",
                              ["rule", "severity"], registry=registry)
        self.notifications = Counter("strideguard_notifications",
                                     "delivery attempts by channel kind and outcome",
                                     ["channel", "outcome"], registry=registry)
        self.digests = Counter("strideguard_digests", "weekly digests queued for sending (or "
                               "failed to render) by this process", ["kind", "outcome"],
                               registry=registry)
        self.last_success = {
            job: Gauge(f"strideguard_last_{job}_timestamp_seconds",
                       f"Unix time of this process's last successful {job}; 0 before the first",
                       registry=registry)
            for job in WORKER_JOBS}
        info = Gauge("strideguard_worker_info", "this process, as in the workers table",
                     ["worker"], registry=registry)
        info.labels(worker=worker_id).set(1)
        if outbox is not None:
            registry.register(OutboxCollector(outbox))
        if process_metrics:
            from prometheus_client import ProcessCollector

            ProcessCollector(registry=registry)  # memory, CPU, open files (Linux)

    # --- what happened -------------------------------------------------------------------

    def record_files(self, outcomes: Iterable[IngestOutcome]) -> None:
        """A batch's outcomes; files still being copied (waiting) are counted when they end."""
        for outcome in outcomes:
            if outcome.status == IngestStatus.WAITING:
                continue
            reason = problem_class(outcome.reason) if outcome.status in PROBLEM_STATUSES else ""
            self.files.labels(outcome=str(outcome.status), reason=reason).inc()
            if outcome.decode_s is not None:
                self.decode_seconds.observe(outcome.decode_s)
                self.records.inc(outcome.record_count)

    def record_scan(self, outcomes: Iterable[IngestOutcome],
                    unlisted: Iterable[str] = (), *, inbox_listed: bool = True) -> None:
        """A scan of the inbox (and source folders) that ended without an error: its files,
        and the reason class of each folder it could not list (`unlisted`). A scan that could
        not list the inbox itself (`inbox_listed` False) read nothing: it is no successful scan
        (the last scan's time stays as it was)."""
        self.record_files(outcomes)
        reasons = list(unlisted)
        for reason in reasons:
            self.scan_folder_errors.labels(reason=reason).inc()
        self.unlisted_folders.set(len(reasons))
        if inbox_listed:
            self.mark("scan")

    def record_evaluation(self, report: EvaluationReport, duration_s: float) -> None:
        """An evaluation pass (not a dry run): its time, athletes and the alerts it fired."""
        self.evaluations.inc()
        self.evaluation_seconds.observe(max(0.0, duration_s))
        self.athletes_evaluated.inc(max(0, int(getattr(report, "athletes_evaluated", 0) or 0)))
        for transition in report.transitions:
            if transition.kind in FIRING_KINDS:
                finding = transition.finding
                self.alerts.labels(rule=finding.rule.id,
                                   severity=finding.severity or "none").inc()
        self.mark("evaluation")

    def record_notification(self, channel: str, outcome: str) -> None:
        """One delivery attempt: `channel` a kind (email, webhook, push, file), `outcome` sent,
        retry, dead or missing."""
        kind = channel.split(":", 1)[0]
        self.notifications.labels(channel=kind if kind in CHANNEL_KINDS else "other",
                                  outcome=str(outcome)).inc()

    def record_dispatch(self) -> None:
        """A dispatch pass that ended without an error (whether or not anything was due)."""
        self.mark("dispatch")

    def record_digests(self, outcomes: Iterable[DigestOutcome]) -> None:
        for outcome in outcomes:
            if str(outcome.status) in COUNTED_DIGESTS:
                self.digests.labels(kind=outcome.kind, outcome=str(outcome.status)).inc()

    def mark(self, job: WorkerJob) -> None:
        """`job` (scan, evaluation, dispatch) succeeded now."""
        self.last_success[job].set(time.time())
        if self._on_success is not None:
            self._on_success(job)

    # --- exposition ----------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric, the outbox read now."""
        return generate_latest(self.registry)
