"""The weekly digest as plain data: one runner's week and the squad's, before any rendering."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

SEVERITY_ORDER = ("critical", "warn", "info")  # most urgent first


@dataclass(frozen=True)
class WeekTotals:
    """Running in one ISO week (or the mean of several): distance, moving time, runs."""

    distance_km: float
    moving_min: float
    runs: float  # a mean over weeks may be fractional


@dataclass(frozen=True)
class WeekBar:
    """One week of the 12-week picture, oldest first."""

    week: str  # ISO week "2026-W48"
    label: str  # short axis label, e.g. "W48"
    # None for a week before the athlete's history began (not "0 km": nothing was recorded)
    distance_km: float | None
    average_4w_km: float | None  # mean of the 4 weeks ending with this one; None before 4 weeks
    long_run_km: float | None  # the week's longest run; None without a run
    strength_sessions: int | None
    ctl_km: float | None  # CTL on the week's Sunday (km/day); None under 42 days of history
    atl_km: float | None  # ATL on the week's Sunday (km/day); None under 7 days


@dataclass(frozen=True)
class CadenceView:
    """The 8-week speed-adjusted cadence trend (metrics.form.cadence_trend) as plain series."""

    change_spm_8w: float
    low_spm_8w: float  # 95 % interval of the change
    high_spm_8w: float
    run_days: tuple[date, ...]
    adjusted_spm: tuple[float, ...]  # each run's cadence at the reference speed
    fit_days: tuple[date, ...]  # the fitted line's end points
    fit_spm: tuple[float, ...]
    low_spm: tuple[float, ...]  # the interval's lines at fit_days
    high_spm: tuple[float, ...]
    reference_speed_mps: float


@dataclass(frozen=True)
class AlertLine:
    """One alert in a digest: what happened to it this week and the advice it points to."""

    alert_id: str
    rule: str
    description: str
    severity: str  # info | warn | critical
    state: str  # fired | escalated | resolved | held back | open
    summary: str
    advice_key: str | None  # the first advice block of the rule
    advice_title: str | None
    deliver: str  # immediate | digest
    since: date  # the local day the episode fired
    held_back_reason: str | None = None  # why it was recorded, not sent (stale data, cooldown,
    # a silence: "silenced until 2026-12-06 (holiday: on holiday) by coach")
    is_open: bool = True  # still open when the digest was made (a fired line may have resolved)
    metric: str = ""  # the rule's metric (catalogue name)
    silence_id: str | None = None  # the silence that held it back


@dataclass(frozen=True)
class SilenceLine:
    """A silence in force when the digest was made: what it mutes, why, and when it ends."""

    silence_id: str
    labels: tuple[str, ...]  # the muted rules as a reader names them ("strength nudges")
    preset: str | None
    reason: str
    created_by: str | None
    ends_local: datetime  # the moment it ends, in the athlete's time zone
    last_day: date  # the last local day it mutes (the day before a midnight end)
    # local days from the digest's day to the day it ends (0 today, 1 tomorrow) when it ends
    # within 7 days of the digest; None when it ends later
    ends_in_days: int | None = None


@dataclass(frozen=True)
class Suggestion:
    """One concrete thing to do next week, from the advice library, with its numbers filled."""

    advice_key: str
    title: str
    text: str


@dataclass(frozen=True)
class AthleteWeek:
    """Everything one runner's digest says about an ISO week, as numbers and short texts."""

    athlete_id: str
    athlete_name: str
    week: str  # "2026-W48"
    first_day: date  # Monday
    last_day: date  # Sunday
    recorded: bool  # the watch recorded any activity in the week
    this_week: WeekTotals
    last_week: WeekTotals
    average_4w: WeekTotals  # mean of the 4 weeks before this one
    longest_run_km: float | None  # the week's longest run
    longest_30d_before_km: float | None  # the longest run in the 30 days before that run
    longest_ratio: float | None  # longest_run_km / longest_30d_before_km
    longest_30d_km: float | None  # the longest run of the 30 days up to the week's Sunday
    # 1.1 × the longest run of the 30 days before the week's longest (after a spike, the run
    # before it: the ceiling does not grow with a spike; Frandsen 2025, rules.payload)
    next_long_run_ceiling_km: float | None
    weeks: tuple[WeekBar, ...]  # 12 weeks ending with this one, oldest first
    cadence_spm: float | None  # median steady cadence of the week's runs
    cadence: CadenceView | None  # None without enough runs with cadence and speed
    gct_balance_left_pct: float | None  # median of the last 5 runs that have it
    strength_this_week: int
    strength_target_per_week: int
    alerts: tuple[AlertLine, ...]  # fired, escalated, resolved or held back this week
    nudges: tuple[AlertLine, ...]  # digest-routed findings not in an earlier digest
    still_open: tuple[AlertLine, ...]  # open and already shown in an earlier digest
    suggestion: Suggestion
    verdict: str  # the one-line verdict, e.g. "A steady week: 31 km in 4 runs, ..."
    last_activity_day: date | None
    days_since_last_activity: int | None  # counted to the week's Sunday
    disclaimer: str
    open_severity: str | None = None  # the worst open alert's severity; None when quiet
    average_4w_weeks: int = 4  # weeks behind average_4w: fewer when history is younger (0: none)
    longest_run_day: date | None = None  # the local day of the week's longest run
    spike_ratio: float | None = None  # longest_run_ratio_30d on Sunday: the week's worst run
    silences: tuple[SilenceLine, ...] = ()  # silences in force when the digest was made

    @property
    def listed_alert_ids(self) -> tuple[str, ...]:
        """The alerts this digest lists for the first time (recorded in the ledger)."""
        return tuple(line.alert_id for line in self.nudges)

    @property
    def open_alerts(self) -> tuple[AlertLine, ...]:
        """Every line still open, most urgent first (the squad digest's list)."""
        lines = [a for a in (*self.alerts, *self.nudges, *self.still_open) if a.is_open]
        return tuple(sorted(lines, key=lambda a: (SEVERITY_ORDER.index(a.severity)
                                                  if a.severity in SEVERITY_ORDER else 3)))

    @property
    def change_vs_last_week_pct(self) -> float | None:
        """(this week / last week − 1) × 100; None when last week had under 10 km (as
        distance_change_7d_pct: a small base makes any change look huge)."""
        if self.last_week.distance_km < 10.0:
            return None
        return (self.this_week.distance_km / self.last_week.distance_km - 1.0) * 100.0

    @property
    def distance_ratio_4w(self) -> float | None:
        """This week's km over the 4-week average; None without an average to compare."""
        if self.average_4w.distance_km <= 0:
            return None
        return self.this_week.distance_km / self.average_4w.distance_km


@dataclass(frozen=True)
class SquadWeek:
    """The coach's view of an ISO week: every athlete, most at risk first."""

    week: str
    first_day: date
    last_day: date
    athletes: tuple[AthleteWeek, ...]  # risk order: open critical, warn, info, then quiet
    inactive_after_days: int = 7  # days since the last activity from which a runner is flagged
