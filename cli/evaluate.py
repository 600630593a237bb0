"""`strideguard evaluate` (what the rules say now, `--json` for scripts) and `explain` (one rule's
metric day by day)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from cli.common import parse_day, print_table, rule_or_error, thresholds_text
from metrics import CATALOGUE
from rules.evaluate import EvaluationReport, explain_rule, local_today
from wiring import App, open_app


def _finding_rows(app: App, report: EvaluationReport) -> list[dict[str, Any]]:
    return [{
        "rule": f.rule.id, "athlete": f.athlete_id, "as_of": f.as_of.isoformat(),
        "metric": f.rule.metric, "window": CATALOGUE[f.rule.metric].meaning,
        "value": f.value, "severity": f.severity, "condition": f.condition,
        "threshold": f.threshold,
        "thresholds": thresholds_text(f.rule, app.config.overrides_for(f.athlete_id, f.rule.id)),
        "when": str(f.rule.when) if f.rule.when else None,
        "detail": f.result.detail,
    } for f in report.findings]


def _change_rows(report: EvaluationReport) -> list[dict[str, Any]]:
    changes = [{"change": t.kind, "rule": t.finding.rule.id, "athlete": t.finding.athlete_id,
                "alert_id": t.alert_id, "notified": t.notified, "deliver": t.deliver,
                "silence_id": t.silence_id,
                "silenced_reason": t.silenced_reason, "summary": t.summary}
               for t in report.transitions]
    changes += [{"change": "resolved", "rule": r.rule_id, "athlete": r.athlete_id,
                 "alert_id": r.alert_id, "notified": True, "deliver": "immediate",
                 "silence_id": None,
                 "silenced_reason": None,
                 "summary": "the rule is no longer in force"} for r in report.retired]
    return changes


def cmd_evaluate(args: argparse.Namespace) -> int:
    with open_app(args.config) as app:
        return _evaluate(app, args)


def _evaluate(app: App, args: argparse.Namespace) -> int:
    if args.rule:
        rule_or_error(app.rules, args.rule)
    report = app.evaluate(as_of=parse_day(args.as_of), dry_run=args.dry_run,
                          athlete_id=args.athlete, rule_id=args.rule)
    if not args.dry_run:
        app.dispatch()
    rows, changes = _finding_rows(app, report), _change_rows(report)
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, "findings": rows, "changes": changes},
                         indent=2))
        return _failed(report)
    table_rows = []
    for row in rows:
        value = "null (not enough data)" if row["value"] is None else f"{row['value']:g}"
        fires = f"{row['severity']} ({row['condition']})" if row["severity"] else "-"
        when = f"; when {row['when']}" if row["when"] else ""
        table_rows.append((row["athlete"], row["rule"], f"{row['metric']} ({row['window']})",
                           value, row["thresholds"] + when, fires))
    print_table("rules" + (" (dry run: nothing stored or sent)" if args.dry_run else ""),
                ("athlete", "rule", "metric (window)", "value", "thresholds", "fires"),
                table_rows)
    for change in changes:
        if change["notified"]:
            note = ""
        elif change["silenced_reason"]:
            note = f" [not sent: {change['silenced_reason']}]"
        else:
            note = " [in the next weekly digest]" if change["deliver"] == "digest" else ""
        print(f"{change['change']}: {change['rule']} for {change['athlete']}: "
              f"{change['summary']}{note}")
    return _failed(report)


def _failed(report: EvaluationReport) -> int:
    """An athlete whose evaluation raised (logged with why) makes the command fail, after the
    others were evaluated and stored."""
    if not report.failed:
        return 0
    print(f"strideguard evaluate: the evaluation failed for {', '.join(report.failed)} "
          "(the log says why)", file=sys.stderr)
    return 1


def cmd_explain(args: argparse.Namespace) -> int:
    if args.days < 1:
        raise ValueError(f"--days: expected a positive number of days, got {args.days}")
    with open_app(args.config) as app:
        return _explain(app, args)


def _explain(app: App, args: argparse.Namespace) -> int:
    rule = rule_or_error(app.rules, args.rule)
    timezone_name = app.config.timezone_for(args.athlete)
    as_of = parse_day(args.as_of) or local_today(timezone_name, datetime.now(UTC))
    with app.store.session() as session:
        verdicts = explain_rule(session, app.config, rule, args.athlete, as_of, args.days)
    if args.json:
        print(json.dumps({"rule": rule.id, "athlete": args.athlete, "days": [
            {"day": v.day.isoformat(), "value": v.value, "severity": v.severity}
            for v in verdicts]}, indent=2))
        return 0
    spec = CATALOGUE[rule.metric]
    print(f"{rule.id}: {rule.description}")
    print(f"metric {rule.metric}: {spec.meaning} ({spec.unit_for(rule.load)}); fires at "
          f"{thresholds_text(rule, app.config.overrides_for(args.athlete, rule.id))}"
          + (f"; only when {rule.when}" if rule.when else "")
          + (f"; needs {rule.min_history.days} days of history" if rule.min_history.days else ""))
    rows = []
    for verdict in verdicts:
        value = "null" if verdict.value is None else f"{verdict.value:g}"
        says = verdict.severity or ("- (held back: `when` does not hold)"
                                    if verdict.held_back_by_when else "-")
        rows.append((verdict.day.isoformat(), value, spec.band(verdict.value, rule.load), says))
    print_table(f"{args.athlete}, {verdicts[0].day} to {as_of} ({timezone_name})",
                ("day", "value", "band", "rule says"), rows)
    return 0
