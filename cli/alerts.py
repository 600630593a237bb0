"""`strideguard alerts`: every alert episode with its delivery state per channel, and the silence
that held it back, if one did."""

from __future__ import annotations

import argparse
import json
from typing import Any

from cli.common import print_table
from notify.push_text import shorten
from store.queries import AlertRow, list_alerts
from wiring import open_app

ERROR_SHOWN_CHARS = 80  # the start of a failed delivery's error in the table; --json has it all


def _alert_json(alert: AlertRow) -> dict[str, Any]:
    return {
        "alert_id": alert.alert_id, "rule": alert.rule_id, "athlete": alert.athlete_id,
        "episode": alert.episode, "severity": alert.severity,
        "state": "resolved" if alert.resolved_at else "firing",
        "silence_id": alert.silence_id, "value": alert.value,
        "as_of": alert.as_of.isoformat(), "fired_at": alert.fired_at.isoformat(),
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "not_sent_because": alert.silenced_reason,
        "deliver": alert.deliver,
        "summary": alert.payload.get("summary"),
        "deliveries": [{"channel": d.channel, "kind": d.kind, "status": d.status,
                        "attempts": d.attempts, "last_error": d.last_error}
                       for d in alert.deliveries],
    }


def _delivery_text(delivery: dict[str, Any]) -> str:
    """`email firing sent`; a failed one with the start of its last error (`dead: <error>`),
    which `strideguard outbox retry` acts on."""
    text = f"{delivery['channel']} {delivery['kind']} {delivery['status']}"
    error = delivery["last_error"]
    if error and delivery["status"] in ("dead", "retry"):
        text += f": {shorten(error, ERROR_SHOWN_CHARS)}"
    return text


def cmd_alerts(args: argparse.Namespace) -> int:
    with open_app(args.config) as app, app.store.session() as session:
        rows = [_alert_json(alert) for alert in list_alerts(session)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table_rows = []
    for row in rows:
        state = row["state"]
        if row["silence_id"] and state == "firing":
            state = f"silenced ({row['silence_id'][:8]}…)"
        deliveries = ", ".join(_delivery_text(d) for d in row["deliveries"]) or (
            f"not sent: {row['not_sent_because']}" if row["not_sent_because"]
            else "in the weekly digest" if row["deliver"] == "digest" else "-")
        table_rows.append((row["fired_at"][:16], row["athlete"], row["rule"], row["severity"],
                           state, deliveries))
    print_table(f"{len(rows)} alerts",
                ("fired", "athlete", "rule", "severity", "state", "deliveries"), table_rows)
    return 0
