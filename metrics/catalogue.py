"""The metric catalogue of DESIGN §4: names (the contract for rules and `report --json`), units,
what each means, the bands a value falls in, and which function computes it from a History.

Importing it is cheap (no numpy, no database): `check-config` validates rules against these names
without loading the maths, which is imported on the first computed value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING, Literal

from metrics.result import MetricResult

if TYPE_CHECKING:
    from metrics.history import History

LoadKind = Literal["distance", "time", "srpe"]
LOAD_UNITS: dict[LoadKind, str] = {"distance": "km", "time": "min", "srpe": "AU"}


@dataclass(frozen=True)
class Band:
    """A labelled range of values, both ends included; None is open."""

    low: float | None
    high: float | None
    label: str

    def holds(self, value: float) -> bool:
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)


@dataclass(frozen=True)
class MetricSpec:
    name: str
    unit: str
    meaning: str
    compute: str  # "module.function" in metrics/: (history) or, with uses_load, (history, load)
    bands: tuple[Band, ...] = ()
    uses_load: bool = False  # computed from the daily load, which a rule may choose

    def value(self, history: History, load: LoadKind = "distance") -> MetricResult:
        compute = _function(self.compute)
        return compute(history, load) if self.uses_load else compute(history)

    def unit_for(self, load: LoadKind = "distance") -> str:
        """The unit under another daily load: km becomes min or AU (session-RPE)."""
        return self.unit.replace("km", LOAD_UNITS[load]) if self.uses_load else self.unit

    def band(self, value: float | None, load: LoadKind = "distance") -> str:
        """The label of the first band holding value; '' without bands or value, and under
        another load than distance (the bands are written for km)."""
        if value is None or (self.uses_load and load != "distance"):
            return ""
        return next((b.label for b in self.bands if b.holds(value)), "")


@cache
def _function(reference: str) -> Callable[..., MetricResult]:
    module, name = reference.rsplit(".", 1)
    function: Callable[..., MetricResult] = getattr(import_module(f"metrics.{module}"), name)
    return function


def _bands(*edges: tuple[float | None, float | None, str]) -> tuple[Band, ...]:
    return tuple(Band(*edge) for edge in edges)


# ACWR bands are the team-sport heuristics (Gabbett 2016: 0.8 / 1.3 / 1.5 on the coupled ratio),
# converted to the uncoupled ratio with u = 3c / (4 − c): 0.75 / 1.44 / 1.8 (science.md §2.3)
_ACWR_UNCOUPLED = _bands((None, 0.75, "low (team-sport heuristic)"),
                         (0.75, 1.44, "0.75-1.44, the team-sport 'sweet spot'"),
                         (1.44, 1.8, "high (team-sport heuristic)"),
                         (1.8, None, "very high: over 1.8 (team sports' 'danger zone')"))
_ACWR_EWMA = _bands((None, 0.8, "low (team-sport heuristic)"),
                    (0.8, 1.3, "0.8-1.3, the team-sport 'sweet spot'"),
                    (1.3, 1.5, "high (team-sport heuristic)"),
                    (1.5, None, "very high: over 1.5 (team sports' 'danger zone')"))

_SPECS = (
    MetricSpec("distance_7d_km", "km", "running distance in the last 7 days",
               "load.distance_7d_km"),
    MetricSpec("distance_prev_7d_km", "km", "running distance in the 7 days before that",
               "load.distance_prev_7d_km"),
    MetricSpec("distance_change_7d_pct", "%", "week-over-week change in running distance",
               "load.distance_change_7d_pct",
               _bands((None, 10.0, "steady or less (up to +10 %)"),
                      (10.0, 30.0, "building (+10 to +30 %)"),
                      (30.0, None, "steep: over +30 % (riskier for novices, Nielsen 2014)"))),
    MetricSpec("longest_run_km", "km", "longest run in the last 7 days", "load.longest_run_km"),
    MetricSpec("longest_run_ratio_30d", "x",
               "a recent run's length over the longest run of the 30 days before it",
               "load.longest_run_ratio_30d",
               _bands((None, 1.10, "within 10 % of the month's longest"),
                      (1.10, 2.0, "spike: over 10 % longer (injury rate x1.64, Frandsen 2025)"),
                      (2.0, None, "big spike: over twice as long (x2.28, Frandsen 2025)"))),
    MetricSpec("acwr_uncoupled", "ratio",
               "last 7 days' load over the weekly average of the 3 weeks before",
               "load.acwr_uncoupled", _ACWR_UNCOUPLED, uses_load=True),
    MetricSpec("acwr_ewma", "ratio", "7-day over 28-day exponentially weighted daily load",
               "load.acwr_ewma", _ACWR_EWMA, uses_load=True),
    MetricSpec("monotony_7d", "ratio", "daily load's mean over its spread, last 7 days",
               "load.monotony_7d",
               _bands((None, 1.5, "varied (below 1.5 is preferable)"),
                      (1.5, 2.0, "monotonous (1.5-2.0)"),
                      (2.0, None, "very monotonous: over 2.0 (Foster 1998)")), uses_load=True),
    MetricSpec("strain_7d", "km", "last 7 days' load times its monotony", "load.strain_7d",
               uses_load=True),
    MetricSpec("ctl", "km/day", "fitness: 42-day weighted daily load", "load.ctl",
               uses_load=True),
    MetricSpec("atl", "km/day", "fatigue: 7-day weighted daily load", "load.atl",
               uses_load=True),
    MetricSpec("tsb", "km/day", "form: fitness minus fatigue", "load.tsb",
               _bands((5.0, None, "fresh"), (-10.0, 5.0, "neutral"),
                      (-30.0, -10.0, "training hard (-10 to -30)"),
                      (None, -30.0, "very fatigued: below -30")), uses_load=True),
    MetricSpec("consecutive_run_days", "days", "run days in a row up to today",
               "load.consecutive_run_days",
               _bands((None, 5.0, ""), (6.0, 6.0, "six in a row"),
                      (7.0, None, "seven or more in a row: plan a rest day"))),
    MetricSpec("rest_days_7d", "days", "days without a run in the last 7 days",
               "load.rest_days_7d", _bands((0.0, 0.0, "no rest day this week"))),
    MetricSpec("strength_sessions_7d", "sessions", "strength sessions in the last 7 days",
               "load.strength_sessions_7d",
               _bands((0.0, 0.0, "none (2 a week recommended, WHO 2020)"),
                      (1.0, 1.0, "one (2 a week recommended)"),
                      (2.0, None, "2 or more: meets the guideline"))),
    MetricSpec("strength_sessions_14d", "sessions", "strength sessions in the last 14 days",
               "load.strength_sessions_14d",
               _bands((None, 3.0, "under 2 a week"), (4.0, None, "2 or more a week"))),
    MetricSpec("days_since_strength", "days", "days since the last strength session",
               "load.days_since_strength",
               _bands((None, 7.0, "within the week"), (8.0, None, "more than a week ago"))),
    MetricSpec("cadence_spm", "steps/min", "median steady cadence of the last 7 days",
               "form.cadence_spm",
               _bands((None, 151.0, "Garmin's lowest 5 % (compare with your own baseline)"),
                      (151.0, 162.0, "below Garmin's middle"), (162.0, 173.0, "Garmin's middle"),
                      (173.0, 185.0, "above Garmin's middle"),
                      (185.0, None, "Garmin's top 5 %"))),
    MetricSpec("cadence_trend_spm_per_week", "steps/min per week",
               "speed-adjusted cadence trend over 8 weeks (Theil-Sen)",
               "form.cadence_trend_spm_per_week"),
    MetricSpec("cadence_change_spm_8w", "steps/min", "speed-adjusted cadence change over 8 weeks",
               "form.cadence_change_spm_8w",
               _bands((None, -3.0, "falling: 3 or more steps/min down"),
                      (-3.0, 3.0, "stable"), (3.0, None, "rising"))),
    MetricSpec("cadence_change_spm_8w_low", "steps/min",
               "lower end of the 8-week change's 95 % confidence interval",
               "form.cadence_change_spm_8w_low"),
    MetricSpec("cadence_change_spm_8w_high", "steps/min",
               "upper end of the 8-week change's 95 % confidence interval",
               "form.cadence_change_spm_8w_high",
               _bands((None, -0.1, "below zero: the fall is real"),
                      (0.0, None, "includes no change"))),
    MetricSpec("cadence_drift_pct", "%",
               "cadence late vs early in long runs at the same speed (median of the last 3)",
               "form.cadence_drift_pct",
               _bands((None, -3.0, "fades late: 3 % or more down"),
                      (-3.0, None, "holds"))),
    MetricSpec("gct_balance_left_pct", "% left",
               "ground-contact time balance, median of the last 5 runs within 8 weeks",
               "form.gct_balance_left_pct",
               _bands((None, 47.8, "poor: right-heavy (Garmin: outside 47.8-52.2)"),
                      (47.8, 49.3, "fair: slightly right-heavy"),
                      (49.3, 50.7, "good: balanced"),
                      (50.7, 52.2, "fair: slightly left-heavy"),
                      (52.2, None, "poor: left-heavy (Garmin: outside 47.8-52.2)"))),
    # the journal (pain 0-10 per area and day) and how runs felt (addendum §2-§3)
    MetricSpec("pain_max_7d", "out of 10", "highest pain in the journal, last 7 days",
               "journal.pain_max_7d",
               _bands((0.0, 2.0, "none or mild (1-2 is not a pain day)"),
                      (3.0, 4.0, "moderate (3-4)"),
                      (5.0, None, "5 or more: rest (pain-monitoring model)"))),
    MetricSpec("pain_days_7d", "days",
               "days with pain of 3/10 or more in one area, last 7 days",
               "journal.pain_days_7d",
               _bands((0.0, 2.0, ""),
                      (3.0, None, "3 or more days: worth showing a physio or doctor"))),
    MetricSpec("back_pain_after_long_run", "out of 10",
               "lower-back or sacroiliac pain within 48 h after a long run, last 7 days",
               "journal.back_pain_after_long_run",
               _bands((0.0, 2.0, "mild"),
                      (3.0, 4.0, "3-4: core, SI-joint and hip work; cap long runs"),
                      (5.0, None, "5 or more: see a professional"))),
    MetricSpec("feel_mean_7d", "0-100", "how runs felt (workout feel), mean of 7 days",
               "journal.feel_mean_7d"),
    # the return after a break (addendum §1; coaching heuristics)
    MetricSpec("days_off_before_last_run", "days",
               "days without a run before the latest run",
               "comeback.days_off_before_last_run",
               _bands((0.0, 13.0, ""), (14.0, 27.0, "a break (14-27 days)"),
                      (28.0, 89.0, "a long break: four weeks or more"),
                      (90.0, None, "three months or more: start as a new runner"))),
    MetricSpec("return_ratio", "x",
               "the return after a break against the 4 weeks before it",
               "comeback.return_ratio",
               _bands((None, 0.6, "gentle: under 0.6 of the old load"),
                      (0.6, 0.8, "0.6-0.8 of the old load"),
                      (0.8, None, "near the old load or above (0.8 or more)"))),
    MetricSpec("return_first_run_ratio", "x",
               "the first run back against the typical run before the break (first 6 days)",
               "comeback.return_first_run_ratio",
               _bands((None, 0.6, "gentle: under 0.6 of a typical run"),
                      (0.6, 0.8, "0.6-0.8 of a typical run"),
                      (0.8, None, "near a typical run or above (0.8 or more)"))),
)

CATALOGUE: dict[str, MetricSpec] = {spec.name: spec for spec in _SPECS}
