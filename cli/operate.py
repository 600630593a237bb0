"""What an operator runs: `strideguard outbox retry` (failed or dead notifications sent again,
under the same ids) and `strideguard status` (is it working, and what is stuck)."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from cli.silence import silence_json
from config.schema import ServiceConfig
from notify.channel import channel_kind
from notify.outbox import OutboxStatus
from notify.probe import channel_label
from notify.push_text import shorten
from notify.requeue import LeftAlone, Requeued, RequeueReport, RowState, requeue, row_states
from rules.schema import SEVERITIES
from store import utc_now
from store.status import (
    WORKERS_SEEN_WITHIN,
    DeadRow,
    OutboxDepth,
    SeverityCount,
    StatusReport,
    WorkerRow,
    read_status,
)
from wiring import open_app

EXIT_FAILED_AGAIN = 1
ERROR_SHOWN_CHARS = 160  # the start of an error in a text line; --json has all of it
SEVERITY_ORDER = tuple(reversed(SEVERITIES))  # most severe first


# --- outbox retry -----------------------------------------------------------------------------


def cmd_outbox_retry(args: argparse.Namespace) -> int:
    """Put the notifications back in the queue, send what is due now here, and say per
    notification how it went; non-zero when any of them failed again."""
    with open_app(args.config) as app:
        report = requeue(app.store, app.config, utc_now(), dead=args.dead,
                         channel_kind=args.channel)
        print(_requeued_line(report, dead=args.dead, channel=args.channel))
        # as `run --once` would, but within backoff: only what is due now (the rows just put
        # back among them), so a --channel filter leaves other channels' waits alone
        outcomes = app.dispatch()
        states = row_states(app.store, [row.id for row in report.requeued])
        config = app.config
    failed = 0
    for row in report.requeued:
        state = states.get(row.id)
        outcome, is_failure = _outcome(row, state)
        failed += is_failure
        error = state.last_error if is_failure and state is not None else None
        print(_row_line(config, row.id, row.channel, row.kind, row.event_id, outcome, error))
    for left in report.left:
        print(_row_line(config, left.id, left.channel, left.kind, left.event_id,
                        f"left {left.was.value}", left.why))
    if outcomes:  # everything due was sent, not only these: say what this process did
        print(f"attempts made here: {_counts(outcomes)}")
    if failed:
        print(f"{failed} failed again; `strideguard status` shows the dead ones")
        return EXIT_FAILED_AGAIN
    return 0


def _requeued_line(report: RequeueReport, *, dead: bool, channel: str | None) -> str:
    """`3 notifications put back in the queue (1 waiting to retry, 2 dead)`, and the resolved
    notices queued with their firings and the notifications left as they were."""
    requeued = [row for row in report.requeued if row.was is not OutboxStatus.PENDING]
    waiting = sum(1 for row in requeued if row.was is OutboxStatus.RETRY)
    what = f"{waiting} waiting to retry" + (f", {len(requeued) - waiting} dead" if dead else "")
    scope = f" on {channel}" if channel else ""
    line = f"{len(requeued)} notifications put back in the queue{scope} ({what})"
    if resolved := len(report.requeued) - len(requeued):
        line += f", {resolved} resolved notices queued after their firings"
    if report.left:
        line += f"; {len(report.left)} left as they were ({_left_counts(report.left)})"
    return line


def _left_counts(left: list[LeftAlone]) -> str:
    counts = {status: sum(1 for row in left if row.was is status)
              for status in (OutboxStatus.RETRY, OutboxStatus.DEAD)}
    return ", ".join(f"{count} {status.value}" for status, count in counts.items() if count)


def _outcome(row: Requeued, state: RowState | None) -> tuple[str, bool]:
    """What became of a row put back: its new status in words, and whether it failed again
    (an attempt made since it was put back: its attempts grew)."""
    if state is None:
        return "deleted meanwhile", False
    if state.status == OutboxStatus.SENT:
        return "sent", False
    if state.status == OutboxStatus.SENDING:
        return "being sent by another worker", False
    if state.status == OutboxStatus.DEAD:
        return "failed, dead", True
    if state.attempts <= row.attempts:  # more were due than one dispatch sends
        return "queued, not tried yet: the service (or `run --once`) sends it", False
    return f"failed, next try at {_iso(state.next_attempt_at)}", True


def _row_line(config: ServiceConfig, row_id: int, channel: str, kind: str, event_id: str,
              outcome: str, detail: str | None) -> str:
    """`  #41 webhook firing msg_…  to https://hooks.example.com/… (webhook:<hash>): sent`; a
    failure's error (or why it was left) after the outcome."""
    where = channel_label(config, channel)
    line = (f"  #{row_id} {channel_kind(channel)} {kind} {event_id}"
            f"{f' to {where}' if where else ''}: {outcome}")
    return f"{line}: {_short(detail)}" if detail else line


# --- status -----------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    with open_app(args.config) as app, app.store.session() as session:
        report = read_status(session, utc_now(), app.config.timezone)
    if args.json:
        print(json.dumps(status_json(report), indent=2))
    else:
        print("\n".join(status_lines(report)))
    return 0


def status_json(report: StatusReport) -> dict[str, Any]:
    """The stable `status --json` document (keys in /work/notes/readme/outbox_status.md)."""
    now = report.now
    return {
        "generated_at": _iso(now),
        "timezone": report.timezone,
        "last_scan_at": _iso(report.last_scan_at),
        "last_scan_age_s": _age_s(report.last_scan_at, now),
        "workers_seen_within_s": WORKERS_SEEN_WITHIN.total_seconds(),
        "workers": [_worker_json(worker) for worker in report.workers],
        "files_today": {"day": report.day.isoformat(),
                        "total": sum(report.files_today.values()),
                        "by_status": dict(report.files_today)},
        "outbox": _outbox_json(report.outbox, now),
        "dead": {"count": report.dead_count,
                 "recent": [_dead_json(row) for row in report.dead_recent]},
        "open_alerts": {
            "total": sum(count.open for count in report.open_alerts),
            "silenced": sum(count.silenced for count in report.open_alerts),
            "by_severity": {count.severity: {"open": count.open, "silenced": count.silenced}
                            for count in _by_severity(report)},
        },
        "silences": {"active": len(report.silences),
                     "items": [silence_json(silence, now) for silence in report.silences]},
    }


def _worker_json(worker: WorkerRow) -> dict[str, Any]:
    return {"id": worker.id, "hostname": worker.hostname, "pid": worker.pid,
            "started_at": _iso(worker.started_at), "last_seen_at": _iso(worker.last_seen_at),
            "last_scan_at": _iso(worker.last_scan_at),
            "last_evaluation_at": _iso(worker.last_evaluation_at),
            "last_dispatch_at": _iso(worker.last_dispatch_at),
            "stopped_at": _iso(worker.stopped_at)}


def _outbox_json(outbox: OutboxDepth, now: datetime) -> dict[str, Any]:
    return {"depth": outbox.depth, "pending": outbox.pending, "retry": outbox.retry,
            "sending": outbox.sending, "due_now": outbox.due_now,
            "oldest_due_at": _iso(outbox.oldest_due_at),
            "oldest_due_age_s": _age_s(outbox.oldest_due_at, now),
            "oldest_queued_at": _iso(outbox.oldest_queued_at),
            "oldest_queued_age_s": _age_s(outbox.oldest_queued_at, now)}


def _dead_json(row: DeadRow) -> dict[str, Any]:
    return {"id": row.id, "event_id": row.event_id, "channel": row.channel,
            "channel_kind": channel_kind(row.channel), "kind": row.kind,
            "athlete": row.athlete_id, "alert_id": row.alert_id, "attempts": row.attempts,
            "last_error": row.last_error, "created_at": _iso(row.created_at),
            "last_attempt_due_at": _iso(row.last_due_at)}


def status_lines(report: StatusReport) -> list[str]:
    """The text `status` prints: one line per topic, then the details worth reading."""
    now = report.now
    lines = [f"status at {_iso(now)}", f"last scan: {_when(report.last_scan_at, now)}"]
    within_min = int(WORKERS_SEEN_WITHIN.total_seconds() // 60)
    lines.append(f"workers seen in the last {within_min} min: {len(report.workers)}")
    for worker in report.workers:
        stopped = f", stopped {_ago(worker.stopped_at, now)}" if worker.stopped_at else ""
        lines.append(
            f"  {worker.id}: started {_ago(worker.started_at, now)}, last seen "
            f"{_ago(worker.last_seen_at, now)}, scan {_ago(worker.last_scan_at, now)}, "
            f"evaluation {_ago(worker.last_evaluation_at, now)}, dispatch "
            f"{_ago(worker.last_dispatch_at, now)}{stopped}")
    files = ", ".join(f"{count} {status}" for status, count in report.files_today.items())
    lines.append(f"files today ({report.day.isoformat()}, {report.timezone}): "
                 f"{files or 'none'}")
    lines.append(_outbox_line(report.outbox, now))
    lines.append(f"dead notifications: {report.dead_count}"
                 + (" (`strideguard outbox retry --dead` after fixing the cause)"
                    if report.dead_count else ""))
    lines.extend(f"  {_dead_line(row)}" for row in report.dead_recent)
    if report.dead_count > len(report.dead_recent):
        lines.append(f"  ... and {report.dead_count - len(report.dead_recent)} more "
                     "(`strideguard alerts` lists every delivery)")
    lines.append(_alerts_line(report))
    lines.append(f"active silences: {len(report.silences)}")
    lines.extend(f"  {silence.id[:8]} {silence.athlete_id} "
                 f"{silence.preset or ', '.join(silence.rule_ids)} until "
                 f"{_iso(silence.ends_at)}: {_short(silence.reason)}"
                 for silence in report.silences)
    return lines


def _outbox_line(outbox: OutboxDepth, now: datetime) -> str:
    line = (f"outbox: {outbox.depth} queued ({outbox.pending} pending, {outbox.retry} retry, "
            f"{outbox.sending} sending), {outbox.due_now} due now")
    if outbox.oldest_due_at is not None:
        line += f", oldest due {_ago(outbox.oldest_due_at, now)}"
    return line


def _dead_line(row: DeadRow) -> str:
    about = row.athlete_id or ("squad" if row.kind == "squad-digest" else "-")
    return (f"#{row.id} {channel_kind(row.channel)} {row.kind} {about} "
            f"({row.attempts} attempts, {_iso(row.last_due_at)}): {_short(row.last_error)}")


def _alerts_line(report: StatusReport) -> str:
    counts = _by_severity(report)
    total = sum(count.open for count in counts)
    silenced = sum(count.silenced for count in counts)
    if not total:
        return "open alerts: 0"
    per = ", ".join(f"{count.open} {count.severity}" for count in counts)
    return f"open alerts: {total} ({per}), {silenced} silenced"


def _by_severity(report: StatusReport) -> list[SeverityCount]:
    """Most severe first; a severity the rules do not know (none should exist) last."""
    def rank(severity: str) -> int:
        return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else 99

    return sorted(report.open_alerts, key=lambda count: (rank(count.severity), count.severity))


# --- small text helpers -----------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z") if moment else None


def _age_s(moment: datetime | None, now: datetime) -> float | None:
    return round((now - moment).total_seconds(), 3) if moment else None


def _ago(moment: datetime | None, now: datetime) -> str:
    """`42 s ago`, `3 min ago`, `5 h ago`, `2 d ago`, or `never`."""
    if moment is None:
        return "never"
    age_s = (now - moment).total_seconds()
    if age_s < 0:
        return "in the future"  # another host's clock runs ahead
    for unit_s, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if age_s >= 2 * unit_s:
            return f"{int(age_s // unit_s)} {unit} ago"
    return f"{int(age_s)} s ago"


def _when(moment: datetime | None, now: datetime) -> str:
    return f"{_iso(moment)} ({_ago(moment, now)})" if moment else "never"


def _short(text: str | None) -> str:
    """A message on one line, cut to ERROR_SHOWN_CHARS; `-` for none."""
    return shorten(text, ERROR_SHOWN_CHARS) if text else "-"


def _counts(outcomes: dict[str, int]) -> str:
    return ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
