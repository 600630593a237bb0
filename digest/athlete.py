"""One runner's ISO week as digest data: the numbers from one history query, the alerts from the
rules room's listings, a verdict and a suggestion from the advice library.

Weeks are the athlete's local calendar (`config.timezone_for`). Everything is computed from one
`metrics.load_history` as of the week's Sunday, so a run on Monday morning before the digest is
not in it; the alert lists run up to `now` (the digest moment).
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy.orm import Session

from config.schema import ServiceConfig
from digest.model import (
    SEVERITY_ORDER,
    AlertLine,
    AthleteWeek,
    CadenceView,
    SilenceLine,
    Suggestion,
    WeekBar,
    WeekTotals,
)
from digest.schedule import digest_window
from digest.week import week_days, week_label, weeks_ending
from metrics.catalogue import CATALOGUE
from metrics.daily import DailySeries
from metrics.form import cadence_trend, trend_picture
from metrics.history import History, load_history, local_date_of
from metrics.load import (
    ATL_DAYS,
    CTL_DAYS,
    SPIKE_LOOKBACK_DAYS,
    longest_run_ratio_30d,
    pmc_series,
)
from rules.listing import (
    AlertListing,
    AlertWindow,
    SilenceListing,
    athlete_alerts,
    athlete_silences,
)
from rules.loader import TEMPLATE_ENV, RuleSet
from rules.payload import CADENCE_STEP, LONG_RUN_STEP
from rules.schema import AdviceLibrary
from rules.silences import last_local_day, rule_groups

BAR_WEEKS = 12
AVERAGE_WEEKS = 4
STRENGTH_TARGET_PER_WEEK = 2  # WHO 2020: muscle strengthening on two or more days a week
MONTH_DAYS = 30  # the "30-day longest" of the long-run ceiling (Frandsen 2025)
SILENCE_NOTICE_DAYS = 7  # a silence ending within a week of the digest is flagged: it is the
# last digest before the muted rules speak again (DESIGN §8: tell the athlete before the end)
_SPAN_WEEKS = BAR_WEEKS + AVERAGE_WEEKS - 1  # the first bar's average needs 3 weeks before it


def athlete_week(session: Session, config: ServiceConfig, rule_set: RuleSet, athlete_id: str,
                 week: str, *, now: datetime) -> AthleteWeek:
    """Everything a runner's digest says about `week` ("2026-W48"), as numbers and short texts.

    Three queries: the history up to the week's Sunday, the athlete's alerts and the silences
    in force at `now` (rules.listing).
    """
    timezone_name = config.timezone_for(athlete_id)
    monday, sunday = week_days(week)
    history = load_history(session, athlete_id, timezone_name, sunday)
    span = _Span(history, monday - timedelta(weeks=_SPAN_WEEKS - 1))
    this, last = span.totals(_SPAN_WEEKS - 1), span.totals(_SPAN_WEEKS - 2)
    average, average_weeks = span.average(_SPAN_WEEKS - 1 - AVERAGE_WEEKS, AVERAGE_WEEKS)
    long_run = _long_run_numbers(history, monday, sunday)
    start_utc, end_utc = digest_window(week, timezone_name, config.schedule.digest)
    listing = athlete_alerts(session, athlete_id,
                             AlertWindow(start_utc, end_utc, monday, sunday), now, week)

    alerts, nudges, still_open = (tuple(_line(one, rule_set, timezone_name) for one in found)
                                  for found in (listing.week, listing.nudges, listing.still_open))
    cadence_spm = CATALOGUE["cadence_spm"].value(history).value
    cadence = cadence_view(history)
    strength = int(span.strength[-1])
    recorded = bool(history.between(monday, sunday))
    athlete_cfg = config.athlete(athlete_id)
    last_day = history.points[-1].local_date if history.points else None
    suggestion = choose_suggestion(
        rule_set.advice, open_alerts=[a for a in (*alerts, *nudges, *still_open) if a.is_open],
        recorded=recorded, strength_sessions=strength,
        strength_target=STRENGTH_TARGET_PER_WEEK, cadence=cadence,
        ceiling_km=long_run.ceiling_km, cadence_spm=cadence_spm)
    week_data = AthleteWeek(
        athlete_id=athlete_id,
        athlete_name=(athlete_cfg.name if athlete_cfg and athlete_cfg.name else athlete_id),
        week=week, first_day=monday, last_day=sunday, recorded=recorded,
        this_week=this, last_week=last, average_4w=average,
        longest_run_km=long_run.longest_km, longest_30d_before_km=long_run.before_km,
        longest_ratio=long_run.ratio, longest_30d_km=long_run.month_km,
        next_long_run_ceiling_km=long_run.ceiling_km,
        weeks=span.bars(week), cadence_spm=cadence_spm, cadence=cadence,
        gct_balance_left_pct=CATALOGUE["gct_balance_left_pct"].value(history).value,
        strength_this_week=strength, strength_target_per_week=STRENGTH_TARGET_PER_WEEK,
        alerts=alerts, nudges=nudges, still_open=still_open, suggestion=suggestion,
        verdict="", last_activity_day=last_day,
        days_since_last_activity=(sunday - last_day).days if last_day else None,
        disclaimer=rule_set.advice.disclaimer.strip(), open_severity=listing.open_severity,
        average_4w_weeks=average_weeks, longest_run_day=long_run.longest_day,
        spike_ratio=long_run.spike_ratio,
        silences=tuple(_silence_line(one, timezone_name, now) for one in athlete_silences(
            session, athlete_id, now, rule_groups(list(config.rules)))),
    )
    other_activities = sum(1 for p in history.between(monday, sunday) if not p.is_run)
    return replace(week_data, verdict=verdict(week_data, other_activities,
                                              long_run.spike_run_km))


class _Span:
    """Weekly sums of the daily series over the 15 weeks ending with the digest's week (the 12
    bars and the three weeks the first bar's 4-week average needs), index 0 oldest."""

    def __init__(self, history: History, first_monday: date) -> None:
        self.history, self.first_monday = history, first_monday
        daily = history.daily
        days = _SPAN_WEEKS * 7
        sums = np.zeros((4, days))
        if daily is not None:
            offset = (daily.first_day - first_monday).days  # the span's index of daily day 0
            low, high = max(0, -offset), min(daily.days, days - offset)
            if high > low:
                for row, values in enumerate((daily.run_km, daily.run_moving_min,
                                              daily.run_count, daily.strength_count)):
                    sums[row, low + offset:high + offset] = values[low:high]
        self.km, self.minutes, self.runs, self.strength = sums.reshape(4, _SPAN_WEEKS, 7).sum(2)
        self.long_run: list[float | None] = [None] * _SPAN_WEEKS
        for run in history.runs_between(first_monday, history.as_of):
            index = (run.local_date - first_monday).days // 7
            best = self.long_run[index]
            self.long_run[index] = run.distance_km if best is None else max(best, run.distance_km)

    def sunday(self, index: int) -> date:
        return self.first_monday + timedelta(weeks=index, days=6)

    def covered(self, index: int) -> bool:
        """The athlete's history had begun by the week's Sunday (a partial first week counts)."""
        first = self.history.first_date
        return first is not None and first <= self.sunday(index)

    def totals(self, index: int) -> WeekTotals:
        return WeekTotals(float(self.km[index]), float(self.minutes[index]),
                          float(self.runs[index]))

    def average(self, first: int, weeks: int) -> tuple[WeekTotals, int]:
        """The mean of weeks first..first+weeks-1 that the history covers, and how many those
        are: a runner two weeks in is compared with those two weeks, not with zeros."""
        indices = [i for i in range(first, first + weeks) if self.covered(i)]
        if not indices:
            return WeekTotals(0.0, 0.0, 0.0), 0
        return WeekTotals(float(self.km[indices].mean()), float(self.minutes[indices].mean()),
                          float(self.runs[indices].mean())), len(indices)

    def bars(self, week: str) -> tuple[WeekBar, ...]:
        ctl, atl = _pmc_on(self.history.daily, [self.sunday(i) for i in range(_SPAN_WEEKS)])
        bars = []
        for index, name in zip(range(_SPAN_WEEKS - BAR_WEEKS, _SPAN_WEEKS),
                               weeks_ending(week, BAR_WEEKS), strict=True):
            window = range(index - AVERAGE_WEEKS + 1, index + 1)
            average = (float(self.km[list(window)].mean())
                       if all(self.covered(i) for i in window) else None)
            covered = self.covered(index)
            bars.append(WeekBar(
                week=name, label=week_label(name),
                distance_km=float(self.km[index]) if covered else None,
                average_4w_km=average, long_run_km=self.long_run[index],
                strength_sessions=int(self.strength[index]) if covered else None,
                ctl_km=ctl[index], atl_km=atl[index]))
        return tuple(bars)


def _pmc_on(daily: DailySeries | None,
            sundays: list[date]) -> tuple[list[float | None], list[float | None]]:
    """CTL and ATL (km/day) on each day, as metrics.load's ctl and atl give them on that day
    (metrics.load.pmc_series); None under 42 / 7 days of history or before it."""
    if daily is None:
        return [None] * len(sundays), [None] * len(sundays)
    found = []
    for days in (CTL_DAYS, ATL_DAYS):
        series = pmc_series(daily.run_km, days)
        values: list[float | None] = []
        for sunday in sundays:
            index = (sunday - daily.first_day).days
            value = float(series[index]) if 0 <= index < len(series) else math.nan
            values.append(None if math.isnan(value) else value)
        found.append(values)
    return found[0], found[1]


class _LongRun(NamedTuple):
    longest_km: float | None  # the week's longest run
    longest_day: date | None
    before_km: float | None  # the longest run of the 30 days before that run
    ratio: float | None  # longest_km / before_km
    month_km: float | None  # the longest run of the 30 days up to Sunday
    ceiling_km: float | None  # next week's long-run ceiling
    spike_ratio: float | None  # longest_run_ratio_30d on Sunday (the week's worst run)
    spike_run_km: float | None  # that run's distance


def _long_run_numbers(history: History, monday: date, sunday: date) -> _LongRun:
    """The week's longest run against the longest of the 30 days before it (the formula of
    longest_run_ratio_30d, applied to the longest run), the 30-day longest up to Sunday, and
    the ceiling for next week's long run: 1.1 × the 30-day longest, or, after a spike (the
    week's longest_run_ratio_30d over 1.1), 1.1 × the longest run before the spike, as the
    alert's advice says (rules.payload.advice_context): a spike never raises the ceiling."""
    longest = max(history.runs_between(monday, sunday), key=lambda r: r.distance_km,
                  default=None)
    before_km = ratio = None
    if longest is not None:
        prior = history.runs_between(longest.local_date - timedelta(days=SPIKE_LOOKBACK_DAYS),
                                     longest.local_date - timedelta(days=1))
        before_km = max((r.distance_km for r in prior), default=None)
        ratio = longest.distance_km / before_km if before_km else None
    month_km = max((r.distance_km for r in history.runs_between(
        sunday - timedelta(days=MONTH_DAYS - 1), sunday)), default=None)
    spike = longest_run_ratio_30d(history)
    reference_km = month_km
    if spike.value is not None and spike.value > LONG_RUN_STEP:
        reference_km = spike.detail.get("longest_prior_30d_km", month_km)
    return _LongRun(longest.distance_km if longest else None,
                    longest.local_date if longest else None, before_km, ratio, month_km,
                    reference_km * LONG_RUN_STEP if reference_km else None, spike.value,
                    spike.detail.get("run_km"))


def cadence_view(history: History) -> CadenceView | None:
    """metrics.form.cadence_trend as plain series (metrics.form.trend_picture): each run's
    cadence at the reference speed, and the Theil–Sen line with its 95 % interval lines from
    the first run's day to the week's Sunday.

    The trend keeps its slope, not its intercept; scipy's Theil–Sen intercept is
    median(y) − slope · median(x), so the line is anchored at (median week offset, median
    adjusted cadence), and the interval's lines (the low and high slopes) pivot on that anchor.
    """
    trend = history.memo("cadence_trend", cadence_trend)  # the key metrics.form shares
    if trend is None:
        return None
    picture = trend_picture(trend, history.as_of)
    change, low, high = trend.change_8w()
    return CadenceView(
        change_spm_8w=change, low_spm_8w=low, high_spm_8w=high, run_days=picture.run_days,
        adjusted_spm=picture.adjusted_spm, fit_days=picture.fit_days, fit_spm=picture.fit_spm,
        low_spm=picture.low_spm, high_spm=picture.high_spm,
        reference_speed_mps=trend.reference_speed_mps)


def _line(listing: AlertListing, rule_set: RuleSet, timezone_name: str) -> AlertLine:
    """A digest line; a payload stored without description or advice takes the rule's."""
    rule = rule_set.rule(listing.rule)
    advice_key = listing.advice_key or (rule.advice[0] if rule and rule.advice else None)
    block = rule_set.advice.advice.get(advice_key) if advice_key else None
    return AlertLine(
        alert_id=listing.alert_id, rule=listing.rule,
        description=listing.description or (rule.description if rule else ""),
        severity=listing.severity, state=listing.state, summary=listing.summary,
        advice_key=advice_key, advice_title=listing.advice_title or (block.title if block
                                                                     else None),
        deliver=listing.deliver, since=local_date_of(listing.fired_at, timezone_name),
        held_back_reason=listing.silenced_reason, is_open=listing.is_open,
        metric=listing.metric, silence_id=listing.silence_id)


def _silence_line(listing: SilenceListing, timezone_name: str, now: datetime) -> SilenceLine:
    """A silence with its end in the athlete's calendar: the last day it mutes, and, when it
    ends within SILENCE_NOTICE_DAYS of `now`, in how many local days (0 today, 1 tomorrow)."""
    zone = ZoneInfo(timezone_name)
    ends_local = listing.ends_at.astimezone(zone)
    soon = listing.ends_at - now <= timedelta(days=SILENCE_NOTICE_DAYS)
    return SilenceLine(
        silence_id=listing.silence_id, labels=listing.labels, preset=listing.preset,
        reason=listing.reason, created_by=listing.created_by, ends_local=ends_local,
        last_day=last_local_day(listing.ends_at, timezone_name),
        ends_in_days=(ends_local.date() - now.astimezone(zone).date()).days if soon else None)


# --- the verdict and the suggestion -----------------------------------------------------------

# metrics of training load: an open warn/critical alert on one of them calls for rest
LOAD_METRICS = frozenset({
    "distance_7d_km", "distance_prev_7d_km", "distance_change_7d_pct", "longest_run_km",
    "longest_run_ratio_30d", "acwr_uncoupled", "acwr_ewma", "monotony_7d", "strain_7d", "ctl",
    "atl", "tsb", "consecutive_run_days", "rest_days_7d"})
BIG_CHANGE_PCT = 30.0  # Nielsen 2014: over +30 % week over week was riskier for novices


def _risks(lines: list[AlertLine]) -> list[AlertLine]:
    """Open warn and critical lines, critical first, then the latest first."""
    rank = {severity: index for index, severity in enumerate(SEVERITY_ORDER)}
    return sorted((a for a in lines if a.is_open and a.severity in ("warn", "critical")),
                  key=lambda a: (rank[a.severity], -a.since.toordinal()))


def _km(value: float) -> str:
    """31 km, 8.5 km: whole kilometres from 10 km on."""
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}".removesuffix(".0")


def _count(n: float, singular: str, plural: str | None = None) -> str:
    whole = int(round(n))
    return f"{whole} {singular if whole == 1 else plural or singular + 's'}"


def verdict(week: AthleteWeek, other_activities: int, spike_run_km: float | None) -> str:
    """One honest line from the numbers and the open alerts, the first that applies:
    nothing recorded (said as such: the watch recorded nothing, not "you rested"); no runs;
    an open warn/critical alert (a rise over 30 %, a long-run spike, or just the numbers, each
    pointing to the alert); a rise over 30 %; a drop over 30 %; a steady week, with its open
    nudges counted or "nothing to worry about"."""
    lines = [*week.alerts, *week.nudges, *week.still_open]
    risks = _risks(lines)
    see = " — see the alert" if len(risks) == 1 else " — see the alerts"
    if not week.recorded:
        return ("A quiet week: the watch recorded nothing, so there are no numbers to judge"
                + (see if risks else ""))
    total = week.this_week
    if total.runs == 0:
        return (f"No runs recorded this week, only "
                f"{_count(other_activities, 'other activity', 'other activities')}"
                + (see if risks else ""))
    runs = f"{_km(total.distance_km)} km in {_count(total.runs, 'run')}"
    change = week.change_vs_last_week_pct
    step_up = (f"A big step up: {_km(total.distance_km)} km, {change:.0f} % more than last week"
               if change is not None and change > BIG_CHANGE_PCT else None)
    if risks:
        if step_up:
            return step_up + see
        if week.spike_ratio is not None and week.spike_ratio > LONG_RUN_STEP and spike_run_km:
            return (f"A long run well past your month: {_km(spike_run_km)} km, "
                    f"{week.spike_ratio:.2f} × the longest of the 30 days before it{see}")
        return f"A week to watch: {runs}{see}"
    if step_up:
        return step_up
    if change is not None and change < -BIG_CHANGE_PCT:
        return f"A lighter week: {runs}, {-change:.0f} % less than last week"
    notes = sum(1 for a in lines if a.is_open)
    if notes:
        return f"A steady week: {runs}, with {_count(notes, 'open nudge')} below"
    return f"A steady week: {runs}, nothing to worry about"


@lru_cache(maxsize=64)
def _template(text: str) -> Any:
    return TEMPLATE_ENV.from_string(text)  # compiled once per text, not once per athlete


def choose_suggestion(advice: AdviceLibrary, *, open_alerts: list[AlertLine], recorded: bool,
                      strength_sessions: int, strength_target: int,
                      cadence: CadenceView | None, ceiling_km: float | None,
                      cadence_spm: float | None) -> Suggestion:
    """One thing to do next week: the first of these whose advice key the library has.

    1. an open warn/critical alert on a load metric (LOAD_METRICS): `rest`, plus a sentence
       with next week's long-run ceiling;
    2. another open warn/critical alert: its first advice;
    3. nothing recorded this week: `gradual_progression` (start again below the ceiling);
    4. fewer strength sessions than the target (2): `strength`;
    5. an open alert on a cadence metric (the rules decide when cadence is falling, e.g. the
       shipped cadence_falling): `form`;
    6. otherwise `gradual_progression`.
    Texts are the library's Jinja templates, given `ceiling_km` and `cadence_target` as alert
    advice is (rules.payload.advice_context).
    """
    context = {
        "ceiling_km": f"about {ceiling_km:.1f} km" if ceiling_km else
                      "1.1 × your longest recent run",
        "cadence_target": f"from about {cadence_spm:.0f} to {cadence_spm * CADENCE_STEP:.0f} "
                          "steps/min" if cadence_spm else "about 5 % more steps per minute",
    }
    risks = _risks(open_alerts)
    candidates: list[tuple[str | None, str]] = []  # (advice key, a sentence to add)
    if any(a.metric in LOAD_METRICS for a in risks):
        candidates.append(("rest", f" Keep next week's long run under {context['ceiling_km']}."))
    candidates.extend((a.advice_key, "") for a in risks)
    if not recorded:
        candidates.append(("gradual_progression", ""))
    if strength_sessions < strength_target:
        candidates.append(("strength", ""))
    if any(a.is_open and a.metric.startswith("cadence_") for a in open_alerts):
        candidates.append(("form", ""))
    candidates.append(("gradual_progression", ""))
    candidates.extend((key, "") for key in advice.advice)  # an edited library may lack them
    for key, extra in candidates:
        block = advice.advice.get(key) if key else None
        if block is not None:
            text = _template(block.text).render(**context).strip() + extra
            return Suggestion(advice_key=key or "", title=block.title, text=text)
    return Suggestion(advice_key="", title="", text="")
