"""The series behind an alert's chart, as plain data in its payload: notify draws it in the email
(charts/) and the webhook carries it. Each entry names a charts function and its arguments."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from metrics import CATALOGUE, History
from rules.judge import Finding
from rules.schema import Condition

SPIKE_DAYS = 30  # the spike chart: the runs of the last 30 days
WEEKS_SHOWN = 8  # the progression chart: eight rolling weeks
METRIC_DAYS = 42  # any other metric: six weeks day by day

Chart = dict[str, Any]


def alert_chart(finding: Finding, history: History,
                overrides: Mapping[str, object] | None = None) -> Chart | None:
    """The chart of the rule's metric over recent weeks with its thresholds drawn; None for a
    finding without a value."""
    if finding.value is None:
        return None
    metric = finding.rule.metric
    thresholds = finding.rule.thresholds(dict(overrides) if overrides else None)
    if metric == "longest_run_ratio_30d":
        return _spike_chart(finding, history, thresholds)
    if metric in ("distance_change_7d_pct", "distance_7d_km", "distance_prev_7d_km"):
        return _weekly_chart(finding, history, thresholds)
    if metric.startswith("cadence_change_spm_8w") or metric == "cadence_trend_spm_per_week":
        return _cadence_chart(finding, history)
    return _metric_chart(finding, history, thresholds)


def _spike_chart(finding: Finding, history: History,
                 thresholds: Mapping[str, Condition]) -> Chart:
    """The last 30 days of runs, the spike highlighted, lines at the rule's ratios of the longest
    run of the 30 days before it (Frandsen 2025: 1.1× and 2×)."""
    first_day = history.as_of - timedelta(days=SPIKE_DAYS - 1)
    runs = history.runs_between(first_day, history.as_of)
    detail = finding.result.detail
    spike_ids = set(finding.result.activity_ids)
    return {
        "kind": "runs_against_longest",
        "title": (f"Your {detail.get('run_km')} km run was {finding.value:.2f}× your longest run "
                  f"of the 30 days before it ({detail.get('longest_prior_30d_km')} km)"),
        "run_days": [run.local_date.isoformat() for run in runs],
        "run_km": [round(run.distance_km, 2) for run in runs],
        "first_day": first_day.isoformat(),
        "last_day": history.as_of.isoformat(),
        "reference_km": detail.get("longest_prior_30d_km"),
        "ratio_lines": [[f"{severity} {condition.threshold:g}×", condition.threshold]
                        for severity, condition in thresholds.items()],
        "highlight": [run.activity_id in spike_ids for run in runs],
    }


def _weekly_chart(finding: Finding, history: History,
                  thresholds: Mapping[str, Condition]) -> Chart:
    """Eight rolling 7-day totals ending on the as-of day, and for the progression rule the
    ceiling its lowest threshold puts on this week (last week × (1 + threshold / 100))."""
    totals, labels = [], []
    for back in range(WEEKS_SHOWN - 1, -1, -1):
        last = history.as_of - timedelta(days=7 * back)
        runs = history.runs_between(last - timedelta(days=6), last)
        totals.append(round(sum(run.distance_km for run in runs), 1))
        labels.append(f"to {last.day} {last.strftime('%b')}")
    limit_km, limit_label = None, ""
    if finding.rule.metric == "distance_change_7d_pct" and thresholds and len(totals) > 1:
        lowest = next(iter(thresholds.values()))
        limit_km = round(totals[-2] * (1 + lowest.threshold / 100.0), 1)
        limit_label = f"last week + {lowest.threshold:g} %"
    return {
        "kind": "weekly_distance",
        "title": f"{totals[-1]:g} km in the last 7 days against {totals[-2]:g} km the week before",
        "weeks": labels,
        "distance_km": totals,
        "limit_km": limit_km,
        "limit_label": limit_label,
    }


def _cadence_chart(finding: Finding, history: History) -> Chart | None:
    """Each run's speed-adjusted cadence over eight weeks, the Theil–Sen line and its interval."""
    from metrics.form import cadence_trend, trend_picture  # scipy: only when a chart is drawn

    trend = history.memo("cadence_trend", cadence_trend)  # the metric's own fit, not a second
    if trend is None:
        return None
    picture = trend_picture(trend, history.as_of)
    change, low, high = trend.change_8w()
    return {
        "kind": "cadence_trend",
        "title": (f"Cadence at the same pace: {change:+.1f} steps/min over 8 weeks "
                  f"(95 % interval {low:+.1f} to {high:+.1f})"),
        "run_days": [day.isoformat() for day in picture.run_days],
        "cadence_spm": list(picture.adjusted_spm),
        "fit_days": [day.isoformat() for day in picture.fit_days],
        "fit_spm": list(picture.fit_spm),
        "low_spm": list(picture.low_spm),
        "high_spm": list(picture.high_spm),
    }


def _metric_chart(finding: Finding, history: History,
                  thresholds: Mapping[str, Condition]) -> Chart:
    """The metric day by day over six weeks, as evaluations on those days saw it."""
    rule = finding.rule
    spec = CATALOGUE[rule.metric]
    days: list[date] = [history.as_of - timedelta(days=back)
                        for back in range(METRIC_DAYS - 1, -1, -1)]
    values = []
    for day in days:
        seen = History(day, tuple(p for p in history.points if p.local_date <= day))
        values.append(spec.value(seen, rule.load).value)
    lines, band = [], None
    for severity, condition in thresholds.items():
        if condition.op == "outside" and condition.high is not None:
            band = [condition.threshold, condition.high]
            lines += [[f"{severity} < {condition.threshold:g}", condition.threshold],
                      [f"{severity} > {condition.high:g}", condition.high]]
        else:
            lines.append([f"{severity} {condition}", condition.threshold])
    unit = spec.unit_for(rule.load)
    return {
        "kind": "metric_days",
        "title": f"{rule.description or rule.metric} ({finding.value:g} {unit})".replace(" )", ")"),
        "days": [day.isoformat() for day in days],
        "values": values,
        "unit": unit,
        "thresholds": lines,
        "band": band,
    }
