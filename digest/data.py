"""The digest as JSON-ready data: the `digest.weekly` webhook's `data` (DESIGN §2.3) and what the
ledger keeps, holding every number the email shows (dates as ISO strings, floats rounded)."""

from __future__ import annotations

from datetime import date
from typing import Any

from digest.model import AlertLine, AthleteWeek, CadenceView, SquadWeek, WeekBar, WeekTotals


def _r(value: float | None, digits: int) -> float | None:
    """Rounded for display; None (and NaN or ∞) stays null."""
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return round(float(value), digits)


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _totals(totals: WeekTotals) -> dict[str, float | None]:
    return {"distance_km": _r(totals.distance_km, 2), "moving_min": _r(totals.moving_min, 1),
            "runs": _r(totals.runs, 2)}


def _bar(bar: WeekBar) -> dict[str, Any]:
    return {"week": bar.week, "label": bar.label, "distance_km": _r(bar.distance_km, 2),
            "average_4w_km": _r(bar.average_4w_km, 2), "long_run_km": _r(bar.long_run_km, 2),
            "strength_sessions": bar.strength_sessions, "ctl_km": _r(bar.ctl_km, 2),
            "atl_km": _r(bar.atl_km, 2)}


def _cadence(view: CadenceView | None) -> dict[str, Any] | None:
    if view is None:
        return None
    return {
        "change_spm_8w": _r(view.change_spm_8w, 1), "low_spm_8w": _r(view.low_spm_8w, 1),
        "high_spm_8w": _r(view.high_spm_8w, 1),
        "reference_speed_mps": _r(view.reference_speed_mps, 2),
        "runs": [{"day": day.isoformat(), "adjusted_spm": _r(spm, 1)}
                 for day, spm in zip(view.run_days, view.adjusted_spm, strict=True)],
        "fit": [{"day": day.isoformat(), "spm": _r(spm, 1), "low_spm": _r(low, 1),
                 "high_spm": _r(high, 1)}
                for day, spm, low, high in zip(view.fit_days, view.fit_spm, view.low_spm,
                                               view.high_spm, strict=True)],
    }


def alert_line_data(line: AlertLine) -> dict[str, Any]:
    return {"alert_id": line.alert_id, "rule": line.rule, "metric": line.metric or None,
            "description": line.description, "severity": line.severity, "state": line.state,
            "open": line.is_open, "summary": line.summary, "advice": line.advice_key,
            "advice_title": line.advice_title, "deliver": line.deliver,
            "since": line.since.isoformat(), "held_back_reason": line.held_back_reason,
            "silence_id": line.silence_id}


def athlete_week_data(aw: AthleteWeek) -> dict[str, Any]:
    """One runner's week: the `digest.weekly` webhook data."""
    return {
        "athlete": aw.athlete_id,
        "athlete_name": aw.athlete_name,
        "week": aw.week,
        "first_day": aw.first_day.isoformat(),
        "last_day": aw.last_day.isoformat(),
        "recorded": aw.recorded,
        "verdict": aw.verdict,
        "this_week": _totals(aw.this_week),
        "last_week": _totals(aw.last_week),
        "average_4w": {**_totals(aw.average_4w), "weeks": aw.average_4w_weeks},
        "change_vs_last_week_pct": _r(aw.change_vs_last_week_pct, 1),
        "ratio_to_average_4w": _r(aw.distance_ratio_4w, 2),
        "longest_run": {
            "distance_km": _r(aw.longest_run_km, 2),
            "day": _day(aw.longest_run_day),
            "longest_30d_before_km": _r(aw.longest_30d_before_km, 2),
            "ratio": _r(aw.longest_ratio, 2),
            "longest_30d_km": _r(aw.longest_30d_km, 2),
            "spike_ratio": _r(aw.spike_ratio, 2),
            "next_long_run_ceiling_km": _r(aw.next_long_run_ceiling_km, 1),
        },
        "weeks": [_bar(bar) for bar in aw.weeks],
        "cadence_spm": _r(aw.cadence_spm, 1),
        "cadence_trend": _cadence(aw.cadence),
        "gct_balance_left_pct": _r(aw.gct_balance_left_pct, 1),
        "strength": {"this_week": aw.strength_this_week,
                     "target_per_week": aw.strength_target_per_week},
        "last_activity_day": _day(aw.last_activity_day),
        "days_since_last_activity": aw.days_since_last_activity,
        "open_severity": aw.open_severity,
        "open_alerts": [alert_line_data(line) for line in aw.open_alerts],
        "alerts": [alert_line_data(line) for line in aw.alerts],
        "nudges": [alert_line_data(line) for line in aw.nudges],
        "still_open": [alert_line_data(line) for line in aw.still_open],
        "silences": [{"id": line.silence_id, "rules": list(line.labels), "preset": line.preset,
                      "reason": line.reason, "created_by": line.created_by,
                      "ends_at": line.ends_local.isoformat(),
                      "ends_in_days": line.ends_in_days} for line in aw.silences],
        "suggestion": {"advice": aw.suggestion.advice_key, "title": aw.suggestion.title,
                       "text": aw.suggestion.text},
        "disclaimer": aw.disclaimer,
    }


def squad_athlete_data(aw: AthleteWeek, inactive_after_days: int) -> dict[str, Any]:
    """One row of the squad digest: the numbers the coach's email shows for a runner."""
    since = aw.days_since_last_activity
    return {
        "athlete": aw.athlete_id,
        "athlete_name": aw.athlete_name,
        "open_severity": aw.open_severity,
        "verdict": aw.verdict,
        "distance_km": _r(aw.this_week.distance_km, 2),
        "runs": _r(aw.this_week.runs, 2),
        "average_4w_km": _r(aw.average_4w.distance_km, 2),
        "ratio_to_average_4w": _r(aw.distance_ratio_4w, 2),
        "longest_run_km": _r(aw.longest_run_km, 2),
        "longest_ratio": _r(aw.longest_ratio, 2),
        "strength_sessions": aw.strength_this_week,
        "last_activity_day": _day(aw.last_activity_day),
        "days_since_last_activity": since,
        "inactive": since is None or since >= inactive_after_days,
        "open_alerts": [alert_line_data(line) for line in aw.open_alerts],
        "weekly_km": [{"week": bar.week, "distance_km": _r(bar.distance_km, 2)}
                      for bar in aw.weeks],
    }


def squad_week_data(sw: SquadWeek) -> dict[str, Any]:
    """The coach's week, athletes in risk order."""
    return {
        "week": sw.week,
        "first_day": sw.first_day.isoformat(),
        "last_day": sw.last_day.isoformat(),
        "inactive_after_days": sw.inactive_after_days,
        "athletes": [squad_athlete_data(aw, sw.inactive_after_days) for aw in sw.athletes],
        # the rule set's own words, as each runner's digest carries them
        "disclaimer": sw.athletes[0].disclaimer if sw.athletes else None,
    }
