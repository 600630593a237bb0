"""The series behind an alert's chart, as plain data in its payload: notify draws it in the email
(charts/) and the webhook carries it. Each entry names a charts function and its arguments."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from metrics import CATALOGUE, History
from metrics.comeback import PRE_BREAK_DAYS, find_comeback
from metrics.journal import BACK_AREAS, PAIN_DAY_MIN, pain_by_day
from rules.judge import Finding
from rules.schema import Condition

SPIKE_DAYS = 30  # the spike chart: the runs of the last 30 days
WEEKS_SHOWN = 8  # the progression chart: eight rolling weeks
RETURN_MAX_WEEKS = 10  # the return chart: back to the weeks before the break, at most this many
METRIC_DAYS = 42  # any other metric: six weeks day by day
PAIN_DAYS = 28  # pain charts: four weeks of journal, day by day
PAIN_METRICS = ("pain_max_7d", "pain_days_7d", "back_pain_after_long_run")
RETURN_METRICS = ("days_off_before_last_run", "return_ratio")

Chart = dict[str, Any]
STRONG_PAIN = 5.0  # pain_reported's "5/10 or more" (config/rules.yaml), for the chart's title
PAIN_DAYS_IN_WEEK = 3  # and its "pain on 3 of the last 7 days"


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
    if metric in PAIN_METRICS:
        return _pain_chart(finding, history, thresholds)
    if metric in RETURN_METRICS and (comeback := _return_chart(finding, history)) is not None:
        return comeback
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


def _rolling_weeks(history: History, weeks: int,
                   prefix: str = "to ") -> tuple[list[float], list[str]]:
    """`weeks` rolling 7-day running totals ending on the as-of day, oldest first, labelled
    with their last day (after `prefix`)."""
    totals, labels = [], []
    for back in range(weeks - 1, -1, -1):
        last = history.as_of - timedelta(days=7 * back)
        runs = history.runs_between(last - timedelta(days=6), last)
        totals.append(round(sum(run.distance_km for run in runs), 1))
        labels.append(f"{prefix}{last.day} {last.strftime('%b')}")
    return totals, labels


def _weekly_chart(finding: Finding, history: History,
                  thresholds: Mapping[str, Condition]) -> Chart:
    """Eight rolling 7-day totals ending on the as-of day, and for the progression rule the
    ceiling its lowest threshold puts on this week (last week × (1 + threshold / 100))."""
    totals, labels = _rolling_weeks(history, WEEKS_SHOWN)
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
        values.append(spec.value(history.up_to(day), rule.load).value)
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


def _pain_lines(finding: Finding, thresholds: Mapping[str, Condition]) -> list[list[Any]]:
    """The pain levels the rule acts on: its `when` conditions on its own metric where it has
    them (pain_reported's 5/10), else its thresholds; and the pain-day level when the rule
    counts pain days."""
    rule = finding.rule
    first_severity = next(iter(thresholds), "warn")
    own = [c.condition for c in (rule.when.conditions if rule.when else [])
           if c.metric == rule.metric]
    if own:
        lines = [[f"{first_severity} {c.op} {c.threshold:g}/10", c.threshold] for c in own]
    else:
        lines = [[f"{severity} {c.op} {c.threshold:g}/10", c.threshold]
                 for severity, c in thresholds.items()]
    if rule.when is not None and "pain_days_7d" in rule.when.metrics:
        lines.append([f"pain day: {PAIN_DAY_MIN}/10 or more", float(PAIN_DAY_MIN)])
    return lines


def _pain_title(finding: Finding) -> str:
    """What the journal showed, in the words of the finding."""
    detail, value = finding.result.detail, finding.value or 0.0
    where = f" {detail['where']}" if detail.get("where") else ""
    if finding.rule.metric == "back_pain_after_long_run":
        after = {0: "the same day as", 1: "the day after"}.get(detail.get("days_after_run", 2),
                                                              "two days after")
        return (f"Pain {value:g}/10{where} on {detail.get('day')}, {after} your "
                f"{detail.get('run_km')} km long run of {detail.get('run_date')}")
    if finding.rule.metric == "pain_days_7d":
        return f"Pain of {PAIN_DAY_MIN}/10 or more{where} on {value:g} of the last 7 days"
    days = detail.get("pain_days", 0)
    if value < STRONG_PAIN and days >= PAIN_DAYS_IN_WEEK:
        days_where = f" {detail['pain_days_where']}" if detail.get("pain_days_where") else ""
        return f"Pain of {PAIN_DAY_MIN}/10 or more{days_where} on {days} of the last 7 days"
    return f"Pain {value:g}/10{where} on {detail.get('day')}: the highest of the last 7 days"


def _pain_chart(finding: Finding, history: History,
                thresholds: Mapping[str, Condition]) -> Chart:
    """The journal's pain day by day over four weeks (each day's highest entry; lower back
    and SI joint only for the back-pain rule), against the levels the rule acts on."""
    first_day = history.as_of - timedelta(days=PAIN_DAYS - 1)
    areas = BACK_AREAS if finding.rule.metric == "back_pain_after_long_run" else None
    days = pain_by_day(history, first_day, areas)
    return {
        "kind": "metric_days",
        "title": _pain_title(finding),
        "days": [day.isoformat() for day, _pain in days],
        "values": [pain for _day, pain in days],
        "unit": "pain (0-10)",
        "thresholds": _pain_lines(finding, thresholds),
        "band": None,
    }


def _return_chart(finding: Finding, history: History) -> Chart | None:
    """Weekly distance from the four weeks before the break to this week (rolling weeks, at
    most 10), against half the old weekly average: where the first week back should stay."""
    comeback = history.memo("comeback", find_comeback)
    if comeback is None:
        return None
    start = comeback.last_before - timedelta(days=PRE_BREAK_DAYS - 1)
    weeks = min(RETURN_MAX_WEEKS, max(WEEKS_SHOWN, -(-((history.as_of - start).days + 1) // 7)))
    totals, labels = _rolling_weeks(history, weeks, prefix="")  # short: up to 10 bars
    return {
        "kind": "weekly_distance",
        "title": (f"{comeback.first_run.distance_km:.1f} km on your first day back after "
                  f"{comeback.days_off} days without running; the 4 weeks before the break "
                  f"averaged {comeback.old_week_km:.1f} km a week"),
        "weeks": labels,
        "distance_km": totals,
        "limit_km": round(comeback.old_week_km / 2, 1),
        "limit_label": "half your old week",
    }
