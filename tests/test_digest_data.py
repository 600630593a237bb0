"""The weekly digest's data: ISO weeks, one runner's week from stored activities and alerts, the
squad's risk order, and the webhook data (on SQLite and PostgreSQL through the `store` fixture)."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from config.schema import AthleteConfig, ServiceConfig
from digest.athlete import athlete_week
from digest.data import athlete_week_data, squad_week_data
from digest.model import AthleteWeek, WeekTotals
from digest.squad import squad_week
from digest.week import (
    parse_week,
    previous_weeks,
    shift_week,
    week_bounds_utc,
    week_days,
    week_ended_before,
    week_of,
    weeks_ending,
)
from fitwriter.synthetic import weekly_plan
from metrics import load_history
from metrics.load import atl, ctl
from notify.outbox import enqueue_alert
from rules.evaluate import evaluate
from rules.listing import (
    AlertWindow,
    athlete_alerts,
)
from rules.loader import RuleSet, load_rules
from store import Activity, Alert, Athlete, SourceFile, Store
from store.ledger import claim_period

WEEK = "2026-W48"  # Monday 23 November .. Sunday 29 November 2026
MONDAY, SUNDAY = date(2026, 11, 23), date(2026, 11, 29)
DIGEST_NOW = datetime(2026, 11, 30, 7, 30, tzinfo=UTC)  # the Monday after, at the digest time
PACE_MIN_PER_KM = 6.0
# km of the Tuesday, Thursday and Sunday runs of each week, W37 (from 7 September) to W48
HISTORY_KM = {**{f"2026-W{n}": (5.0, 5.0, 10.0) for n in range(37, 45)},
              "2026-W45": (6.0, 6.0, 12.0), "2026-W46": (6.0, 6.0, 12.0),
              "2026-W47": (6.0, 8.0, 12.0), "2026-W48": (8.0, 9.0, 13.0)}


@pytest.fixture(scope="module")
def rule_set() -> RuleSet:
    return load_rules()


def add_athlete(session: Session, athlete_id: str) -> None:
    if session.get(Athlete, athlete_id) is None:
        session.add(Athlete(id=athlete_id))
        session.flush()


def add_activity(session: Session, athlete_id: str, start_local: datetime, *,
                 km: float | None = None, timezone_name: str = "UTC",
                 cadence_spm: float | None = None, speed_mps: float | None = None,
                 gct_balance_left_pct: float | None = None) -> None:
    """A run of `km` (6 min/km) or, without km, a 40-minute strength session, at a local time."""
    add_athlete(session, athlete_id)
    source = SourceFile(sha256=uuid.uuid4().hex, athlete_id=athlete_id,
                        original_name=f"{uuid.uuid4().hex}.fit", size_bytes=1, status="ingested")
    start_utc = start_local.replace(tzinfo=ZoneInfo(timezone_name)).astimezone(UTC)
    is_run = km is not None
    session.add(Activity(
        athlete_id=athlete_id, source_file=source, sport="running" if is_run else "training",
        sub_sport=None if is_run else "strength_training", is_run=is_run,
        is_strength=not is_run, start_utc=start_utc,
        distance_m=km * 1000.0 if km is not None else None,
        timer_s=km * PACE_MIN_PER_KM * 60.0 if km is not None else 2400.0,
        steady_cadence_spm=cadence_spm, steady_speed_mps=speed_mps,
        gct_balance_left_pct=gct_balance_left_pct))


def store_history(store: Store, athlete_id: str = "ana") -> None:
    """HISTORY_KM: runs on Tuesday, Thursday and Sunday at 07:00; strength on Monday and Friday
    at 18:30, but only on the Wednesday of W48 (one session that week)."""
    with store.session() as session:
        for week, runs_km in HISTORY_KM.items():
            monday, _ = week_days(week)
            for weekday, km in zip((1, 3, 6), runs_km, strict=True):
                add_activity(session, athlete_id,
                             datetime.combine(monday + timedelta(days=weekday), time(7)), km=km)
            strength_days = (2,) if week == WEEK else (0, 4)
            for weekday in strength_days:
                add_activity(session, athlete_id,
                             datetime.combine(monday + timedelta(days=weekday), time(18, 30)))


def add_alert(session: Session, athlete_id: str, *, rule: str = "no_strength_7d",
              severity: str = "info", fired_at: datetime, as_of: date | None = None,
              resolved_at: datetime | None = None, silenced_reason: str | None = None,
              deliver: str = "immediate", episode: int = 1,
              escalated_at: datetime | None = None,
              metric: str = "strength_sessions_7d") -> str:
    add_athlete(session, athlete_id)
    alert_id = str(uuid.uuid4())
    session.add(Alert(
        id=alert_id, rule_id=rule, athlete_id=athlete_id, episode=episode, severity=severity,
        metric=metric, value=0.0, threshold=1.0,
        as_of=as_of or fired_at.date(), fired_at=fired_at, resolved_at=resolved_at,
        silenced_reason=silenced_reason, deliver=deliver, escalated_at=escalated_at,
        payload={"summary": f"{rule} summary", "description": f"{rule} description",
                 "advice_blocks": [{"key": "strength", "title": "Strength work, twice a week",
                                    "text": "..."}]}))
    session.flush()
    return alert_id


def week_for(store: Store, config: ServiceConfig, rule_set: RuleSet, week: str = WEEK,
             athlete_id: str = "ana", now: datetime = DIGEST_NOW) -> AthleteWeek:
    with store.session() as session:
        return athlete_week(session, config, rule_set, athlete_id, week, now=now)


# --- ISO weeks ---------------------------------------------------------------------------------


def test_iso_weeks_parse_format_and_shift_across_year_ends() -> None:
    assert parse_week("2026-W48") == (2026, 48)
    assert week_days("2026-W48") == (MONDAY, SUNDAY)
    # 2026 begins on a Thursday, so it has 53 ISO weeks; 2027 has 52
    assert date.fromisocalendar(2026, 53, 1) == date(2026, 12, 28)
    assert week_days("2026-W53") == (date(2026, 12, 28), date(2027, 1, 3))
    assert week_of(date(2027, 1, 1)) == "2026-W53"
    assert week_of(date(2025, 12, 29)) == "2026-W01"
    assert shift_week("2026-W53", 1) == "2027-W01"
    assert previous_weeks("2027-W02", 3) == ("2026-W52", "2026-W53", "2027-W01")
    assert weeks_ending("2027-W01", 2) == ("2026-W53", "2027-W01")
    for bad, says in (("2026-48", "2026-W48"), ("2026-W5", "2026-W48"), ("W48", "2026-W48"),
                      ("2027-W53", "W01 to W52"), ("2026-W54", "W01 to W53"),
                      ("2026-W00", "W01 to W53")):
        with pytest.raises(ValueError, match=says):
            parse_week(bad)


def test_the_week_a_digest_is_about_ended_on_the_last_sunday_before_its_day() -> None:
    assert week_ended_before(date(2026, 11, 30)) == "2026-W48"  # Monday: the week just ended
    assert week_ended_before(date(2026, 12, 2)) == "2026-W48"
    assert week_ended_before(date(2026, 11, 29)) == "2026-W47"  # Sunday: this week is not over
    assert week_ended_before(date(2027, 1, 4)) == "2026-W53"


def test_local_week_bounds_in_utc_follow_the_zone_and_its_clock_change() -> None:
    start, end = week_bounds_utc("2026-W44", "Europe/Berlin")  # 26 Oct .. 1 Nov, after CEST
    assert start == datetime(2026, 10, 25, 23, 0, tzinfo=UTC)
    assert end == datetime(2026, 11, 1, 23, 0, tzinfo=UTC)
    start, end = week_bounds_utc("2026-W43", "Europe/Berlin")  # the week clocks go back
    assert end - start == timedelta(hours=169)


# --- one runner's week -------------------------------------------------------------------------


def test_the_weeks_numbers_against_last_week_and_the_4_week_mean(store: Store,
                                                                 rule_set: RuleSet) -> None:
    store_history(store)
    week = week_for(store, ServiceConfig(), rule_set)
    assert week.recorded and (week.first_day, week.last_day) == (MONDAY, SUNDAY)
    assert week.this_week == WeekTotals(30.0, 180.0, 3.0)
    assert week.last_week == WeekTotals(26.0, 156.0, 3.0)
    # W44..W47: 20, 24, 24 and 26 km
    assert week.average_4w == WeekTotals(23.5, 141.0, 3.0) and week.average_4w_weeks == 4
    assert week.change_vs_last_week_pct == pytest.approx((30 / 26 - 1) * 100)
    assert week.distance_ratio_4w == pytest.approx(30 / 23.5)
    assert week.strength_this_week == 1 and week.strength_target_per_week == 2
    assert week.last_activity_day == SUNDAY and week.days_since_last_activity == 0
    assert week.verdict == "A steady week: 30 km in 3 runs, nothing to worry about"
    # one strength session and no open alert: the strength advice comes first
    assert week.suggestion.advice_key == "strength"
    assert "twice a week" in week.suggestion.title


def test_twelve_bars_with_4_week_means_long_runs_and_ctl_atl(store: Store,
                                                            rule_set: RuleSet) -> None:
    store_history(store)
    week = week_for(store, ServiceConfig(), rule_set)
    bars = week.weeks
    assert [bar.week for bar in bars] == [f"2026-W{n}" for n in range(37, 49)]
    assert bars[0].label == "W37" and bars[-1].label == "W48"
    assert [bar.distance_km for bar in bars] == [20.0] * 8 + [24.0, 24.0, 26.0, 30.0]
    assert [bar.long_run_km for bar in bars] == [10.0] * 8 + [12.0, 12.0, 12.0, 13.0]
    assert [bar.strength_sessions for bar in bars] == [2] * 11 + [1]
    # history starts in W37: a 4-week mean from W40 on
    assert [bar.average_4w_km for bar in bars] == [None, None, None, 20.0, 20.0, 20.0, 20.0,
                                                   20.0, 21.0, 22.0, 23.5, 26.0]
    # history starts with Monday 7 September's strength session: 7 days by the first Sunday
    # (ATL), 42 days by Sunday 18 October (CTL, from W42 on)
    assert all(bar.atl_km is not None for bar in bars)
    assert [bar.ctl_km is None for bar in bars] == [True] * 5 + [False] * 7
    with store.session() as session:
        for bar in (bars[6], bars[-1]):
            history = load_history(session, "ana", "UTC", week_days(bar.week)[1])
            assert bar.ctl_km == pytest.approx(ctl(history).value, abs=1e-3)
            assert bar.atl_km == pytest.approx(atl(history).value, abs=1e-3)


def test_longest_run_against_the_month_and_next_weeks_ceiling(store: Store,
                                                              rule_set: RuleSet) -> None:
    store_history(store)
    week = week_for(store, ServiceConfig(), rule_set)
    assert week.longest_run_km == 13.0 and week.longest_run_day == SUNDAY
    assert week.longest_30d_before_km == 12.0
    assert week.longest_ratio == pytest.approx(13 / 12)
    assert week.longest_30d_km == 13.0
    assert week.next_long_run_ceiling_km == pytest.approx(14.3)


def test_a_week_with_nothing_recorded_says_so(store: Store, rule_set: RuleSet) -> None:
    store_history(store)
    week = week_for(store, ServiceConfig(), rule_set, "2026-W49",
                    now=datetime(2026, 12, 7, 7, 30, tzinfo=UTC))
    assert not week.recorded
    assert week.this_week == WeekTotals(0.0, 0.0, 0.0)
    assert week.last_week.distance_km == 30.0
    assert week.verdict == ("A quiet week: the watch recorded nothing, so there are no numbers "
                            "to judge")
    assert week.days_since_last_activity == 7 and week.longest_run_km is None
    assert week.suggestion.advice_key == "gradual_progression"
    assert "about 14.3 km" in week.suggestion.text  # 1.1 × the 13 km of 29 November


def test_a_new_athlete_is_compared_with_the_weeks_it_has(store: Store,
                                                        rule_set: RuleSet) -> None:
    with store.session() as session:
        add_activity(session, "cy", datetime(2026, 11, 18, 7), km=10.0)  # W47
        add_activity(session, "cy", datetime(2026, 11, 24, 7), km=12.0)
    week = week_for(store, ServiceConfig(), rule_set, athlete_id="cy")
    assert week.average_4w_weeks == 1 and week.average_4w.distance_km == 10.0
    assert week.change_vs_last_week_pct == pytest.approx(20.0)
    assert all(bar.average_4w_km is None and bar.ctl_km is None for bar in week.weeks)
    with store.session() as session:
        add_activity(session, "dee", datetime(2026, 11, 25, 18))  # strength only
    strength_only = week_for(store, ServiceConfig(), rule_set, athlete_id="dee")
    assert strength_only.recorded and strength_only.strength_this_week == 1
    assert strength_only.verdict == "No runs recorded this week, only 1 other activity"
    empty = week_for(store, ServiceConfig(), rule_set, athlete_id="nobody")
    assert not empty.recorded and empty.average_4w_weeks == 0
    assert empty.last_activity_day is None and empty.weeks[-1].distance_km is None


def test_a_run_at_2330_local_on_sunday_belongs_to_that_week(store: Store,
                                                           rule_set: RuleSet) -> None:
    zone = "America/New_York"
    config = ServiceConfig(athletes=[AthleteConfig(id="bo", name="Bo", timezone=zone)])
    with store.session() as session:
        add_activity(session, "bo", datetime(2026, 11, 24, 7), km=5.0, timezone_name=zone)
        # 04:30 UTC on Monday 30 November: still Sunday the 29th in New York
        add_activity(session, "bo", datetime(2026, 11, 29, 23, 30), km=15.0, timezone_name=zone)
        late = add_alert(session, "bo", severity="warn", rule="single_run_spike",
                         fired_at=datetime(2026, 11, 30, 4, 45, tzinfo=UTC), as_of=SUNDAY)
    week = week_for(store, config, rule_set, athlete_id="bo",
                    now=datetime(2026, 11, 30, 13, 0, tzinfo=UTC))
    assert week.athlete_name == "Bo"
    assert week.this_week.distance_km == 20.0 and week.longest_run_day == SUNDAY
    assert [(a.alert_id, a.state, a.since) for a in week.alerts] == [(late, "fired", SUNDAY)]
    following = week_for(store, config, rule_set, "2026-W49", athlete_id="bo",
                         now=datetime(2026, 12, 7, 13, 0, tzinfo=UTC))
    assert not following.recorded and following.alerts == ()
    assert [a.alert_id for a in following.still_open] == [late]


def test_a_falling_cadence_gives_the_trend_line_and_the_form_suggestion(
        store: Store, rule_set: RuleSet) -> None:
    """Three runs a week for eight weeks at one pace, cadence falling one step/min a week, two
    strength sessions a week, the cadence nudge open: the view's line runs through the runs; the
    suggestion is form."""
    first = MONDAY - timedelta(weeks=7)
    with store.session() as session:
        for week in range(8):
            for weekday in (1, 3, 6):
                day = first + timedelta(weeks=week, days=weekday)
                add_activity(session, "ana", datetime.combine(day, time(7)), km=8.0,
                             cadence_spm=176.0 - (day - first).days / 7.0, speed_mps=3.0,
                             gct_balance_left_pct=49.0 + (day - first).days / 100.0)
            for weekday in (0, 4):
                add_activity(session, "ana", datetime.combine(
                    first + timedelta(weeks=week, days=weekday), time(18)))
        # what the shipped cadence_falling rule records for such a trend
        add_alert(session, "ana", rule="cadence_falling", metric="cadence_change_spm_8w",
                  deliver="digest", fired_at=datetime(2026, 11, 29, 20, tzinfo=UTC))
    week = week_for(store, ServiceConfig(), rule_set)
    view = week.cadence
    assert view is not None and len(view.run_days) == 24
    assert view.change_spm_8w == pytest.approx(-8.0)
    assert view.low_spm_8w <= view.change_spm_8w <= view.high_spm_8w < 0
    assert view.fit_days == (first + timedelta(days=1), SUNDAY)
    # noise-free: the line through the medians runs through the first and the last run
    assert view.adjusted_spm[0] == pytest.approx(176.0 - 1 / 7, abs=0.05)
    assert view.fit_spm == pytest.approx((view.adjusted_spm[0], view.adjusted_spm[-1]),
                                         abs=0.05)
    assert view.low_spm[0] >= view.fit_spm[0] >= view.high_spm[0]  # wider away from the anchor
    assert view.low_spm[1] <= view.fit_spm[1] <= view.high_spm[1]
    assert view.reference_speed_mps == 3.0
    # the week's runs: 176 - 50/7, 176 - 52/7, 176 - 55/7 steps/min; median the middle one
    assert week.cadence_spm == pytest.approx(176.0 - 52 / 7, abs=0.05)
    # the median of the last five runs' balance (days 45, 48, 50, 52, 55 after the first Monday)
    assert week.gct_balance_left_pct == pytest.approx(49.5)
    assert week.suggestion.advice_key == "form"
    assert "from about 169 to 177 steps/min" in week.suggestion.text


# --- alerts in the digest ----------------------------------------------------------------------


def test_a_digest_nudge_is_listed_once_then_shown_as_still_open(store: Store,
                                                               rule_set: RuleSet) -> None:
    store_history(store)
    with store.session() as session:
        # routed to the digest, fired on the Monday morning before the digest is made
        nudge = add_alert(session, "ana", fired_at=datetime(2026, 11, 30, 7, 0, tzinfo=UTC),
                          deliver="digest")
        later = add_alert(session, "ana", rule="gct_imbalance", deliver="digest",
                          fired_at=datetime(2026, 11, 30, 9, 0, tzinfo=UTC))  # after `now`
    week = week_for(store, ServiceConfig(), rule_set)
    assert [(a.alert_id, a.state) for a in week.nudges] == [(nudge, "fired")]
    assert week.listed_alert_ids == (nudge,) and week.alerts == () and week.still_open == ()
    line = week.nudges[0]
    assert (line.deliver, line.description, line.advice_key) == (
        "digest", "no_strength_7d description", "strength")
    assert week.open_severity == "info"
    assert week.verdict == "A steady week: 30 km in 3 runs, with 1 open nudge below"
    with store.session() as session:
        claim_period(session, "athlete", "ana", WEEK, athlete_week_data(week),
                     week.listed_alert_ids, now=DIGEST_NOW)
    # made again for its own week (a preview after sending), the digest says the same
    assert week_for(store, ServiceConfig(), rule_set).nudges == week.nudges
    # the next week's digest shows it compactly, and its firing is not news any more
    following = week_for(store, ServiceConfig(), rule_set, "2026-W49",
                         now=datetime(2026, 12, 7, 7, 30, tzinfo=UTC))
    assert [a.alert_id for a in following.nudges] == [later]
    assert [(a.alert_id, a.state) for a in following.still_open] == [(nudge, "open")]
    assert following.alerts == ()


def test_the_weeks_alerts_fired_escalated_resolved_and_held_back(store: Store) -> None:
    start, end = week_bounds_utc(WEEK, "UTC")
    window = AlertWindow(start, end, MONDAY, SUNDAY)
    before, during = start - timedelta(days=3), start + timedelta(days=2)
    with store.session() as session:
        fired = add_alert(session, "ana", rule="r_fired", severity="warn", fired_at=during)
        escalated = add_alert(session, "ana", rule="r_escalated", severity="critical",
                              fired_at=before, as_of=SUNDAY, escalated_at=during)
        resolved = add_alert(session, "ana", rule="r_resolved", fired_at=before,
                             resolved_at=during)
        held = add_alert(session, "ana", rule="r_held", fired_at=during,
                         silenced_reason="data from 2026-10-01 is older than max_alert_age")
        old_open = add_alert(session, "ana", rule="r_old", fired_at=before - timedelta(days=9))
        add_alert(session, "ana", rule="r_gone", fired_at=before, resolved_at=before)
        nudge = add_alert(session, "ana", rule="r_nudge", fired_at=during, deliver="digest")
        add_alert(session, "bo", rule="r_other", severity="critical", fired_at=during)
    with store.session() as session:
        found = athlete_alerts(session, "ana", window, DIGEST_NOW)
    assert {a.alert_id: a.state for a in found.week} == {
        fired: "fired", escalated: "escalated", resolved: "resolved", held: "held back"}
    assert [a.alert_id for a in found.nudges] == [nudge]
    assert [(a.alert_id, a.state) for a in found.still_open] == [(old_open, "open")]
    assert found.open_severity == "critical"
    assert not next(a for a in found.week if a.alert_id == resolved).is_open


def test_a_spike_evaluated_with_the_shipped_rules_gives_the_alert_and_rest(
        store: Store, rule_set: RuleSet, tmp_path) -> None:
    """Ten steady weeks (long runs of 10 km) ending with a 21 km run on the Sunday, evaluated
    that evening with config/rules.yaml: the digest points to the critical spike and rest."""
    config = ServiceConfig(mail_dir=tmp_path / "mail")
    with store.session() as session:
        for planned in weekly_plan(SUNDAY, 10, [6.0, 8.0, 6.0, 10.0], final_run_km=21.0):
            add_activity(session, "ana", datetime.combine(planned.day, planned.start_local),
                         km=planned.distance_km if planned.kind == "run" else None)
    evening = datetime(2026, 11, 29, 20, 0, tzinfo=UTC)
    evaluate(store, config, rule_set, now=evening,
             enqueue=lambda session, alert, kind: enqueue_alert(session, config, alert, kind,
                                                                evening))
    week = week_for(store, config, rule_set)
    spike = next(a for a in week.alerts if a.rule == "single_run_spike")
    assert (spike.severity, spike.state, spike.advice_key, spike.since) == (
        "critical", "fired", "rest", SUNDAY)
    assert spike.description.startswith("A run much longer")
    assert week.open_severity == "critical" and week.spike_ratio == pytest.approx(2.1)
    assert week.verdict.startswith("A big step up: 41 km, 37 % more than last week — see the")
    # the ceiling comes from the 10 km before the spike, not from the spike itself
    assert week.next_long_run_ceiling_km == pytest.approx(11.0)
    assert week.suggestion.advice_key == "rest"
    assert "about 11.0 km" in week.suggestion.text
    assert "not medical advice" in week.disclaimer


# --- the squad and the webhook data ------------------------------------------------------------


def _as(week: AthleteWeek, athlete_id: str, severity: str | None, km: float,
        average_km: float) -> AthleteWeek:
    return replace(week, athlete_id=athlete_id, open_severity=severity,
                   this_week=WeekTotals(km, km * 6, 3.0),
                   average_4w=WeekTotals(average_km, average_km * 6, 3.0))


def test_the_squad_is_in_risk_order(store: Store, rule_set: RuleSet) -> None:
    store_history(store)
    base = week_for(store, ServiceConfig(), rule_set)
    weeks = [
        _as(base, "quiet_low", None, 20.0, 25.0),
        _as(base, "info", "info", 10.0, 30.0),
        _as(base, "quiet_high", None, 40.0, 25.0),
        _as(base, "warn_b", "warn", 30.0, 30.0),
        _as(base, "warn_a", "warn", 30.0, 30.0),
        _as(base, "critical", "critical", 10.0, 30.0),
        _as(base, "quiet_new", None, 15.0, 0.0),  # km after no average: first among the quiet
        _as(base, "quiet_none", None, 0.0, 0.0),
    ]
    squad = squad_week(weeks, WEEK)
    assert (squad.first_day, squad.last_day) == (MONDAY, SUNDAY)
    assert [a.athlete_id for a in squad.athletes] == [
        "critical", "warn_a", "warn_b", "info", "quiet_new", "quiet_high", "quiet_low",
        "quiet_none"]
    data = squad_week_data(squad)
    assert json.loads(json.dumps(data)) == data
    assert [a["athlete"] for a in data["athletes"]][:2] == ["critical", "warn_a"]
    assert data["athletes"][-1]["ratio_to_average_4w"] is None
    assert data["athletes"][5]["ratio_to_average_4w"] == 1.6


def test_the_webhook_data_holds_the_weeks_numbers(store: Store, rule_set: RuleSet) -> None:
    store_history(store)
    with store.session() as session:
        add_alert(session, "ana", fired_at=datetime(2026, 11, 30, 7, 0, tzinfo=UTC),
                  deliver="digest")
    data = athlete_week_data(week_for(store, ServiceConfig(), rule_set))
    assert json.loads(json.dumps(data)) == data
    assert (data["athlete"], data["week"], data["first_day"]) == ("ana", WEEK, "2026-11-23")
    assert data["this_week"] == {"distance_km": 30.0, "moving_min": 180.0, "runs": 3.0}
    assert data["average_4w"]["distance_km"] == 23.5
    assert data["change_vs_last_week_pct"] == 15.4
    assert data["longest_run"] == {
        "distance_km": 13.0, "day": "2026-11-29", "longest_30d_before_km": 12.0,
        "ratio": 1.08, "longest_30d_km": 13.0, "spike_ratio": 1.08,
        "next_long_run_ceiling_km": 14.3}
    assert len(data["weeks"]) == 12 and data["weeks"][-1]["average_4w_km"] == 26.0
    assert data["strength"] == {"this_week": 1, "target_per_week": 2}
    assert [n["state"] for n in data["nudges"]] == ["fired"]
    assert data["nudges"][0]["since"] == "2026-11-30"
    assert data["suggestion"]["advice"] == "strength"
    assert data["disclaimer"] and data["verdict"]
