"""The return after a break: the metrics worked by hand, the shipped rule's thresholds
(research/science-addendum.md §1), and the runner who comes back at her old long run after six
weeks off against the one who comes back gently (acceptance 3)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from test_rules import fired, outbox_count, run_evaluation, store_plan

from config.schema import ServiceConfig
from fitwriter.synthetic import PlannedSession, weekly_plan
from metrics import compute_all
from metrics.comeback import days_off_before_last_run, return_ratio
from metrics.history import ActivityPoint, History
from rules.judge import judge
from rules.loader import load_rules
from rules.schema import Rule
from store import Store

AS_OF = date(2026, 11, 21)
OLD_WEEK_KM = [6.0, 8.0, 6.0, 12.0]  # 32 km a week; the typical run 7 km, the long run 12 km


def run(days_before: int, km: float) -> ActivityPoint:
    day = AS_OF - timedelta(days=days_before)
    return ActivityPoint(3000 + days_before, day,
                         datetime(day.year, day.month, day.day, 7, tzinfo=UTC), km, True)


def weeks_then_break(days_off: int, *returns: tuple[int, float],
                     week_km: list[float] = OLD_WEEK_KM, weeks: int = 6) -> History:
    """`weeks` weeks of the old runs (4 a week, the long run last), then `days_off` days without
    a run, then the runs of `returns` as (days after the first day back, km); as of the last."""
    first_back = AS_OF - timedelta(days=max(offset for offset, _ in returns))
    last_before = first_back - timedelta(days=days_off + 1)
    points = []
    for week in range(weeks):
        for index, (offset, km) in enumerate(zip((0, 2, 4, 6), week_km, strict=True)):
            day = last_before - timedelta(days=7 * (weeks - 1 - week) + 6 - offset)
            points.append(ActivityPoint(100 * week + index, day,
                                        datetime(day.year, day.month, day.day, 7, tzinfo=UTC),
                                        km, True))
    points += [run((AS_OF - first_back).days - offset, km) for offset, km in returns]
    return History(AS_OF, tuple(points))


@pytest.fixture(scope="module")
def shipped() -> Rule:
    rule = load_rules().rule("return_after_break")
    assert rule is not None
    return rule


def verdict(rule: Rule, history: History) -> str | None:
    metrics = compute_all(history)
    return judge(rule, "ana", history, metrics[rule.metric], None, metrics).severity


# --- the metrics ------------------------------------------------------------------------------


def test_days_off_counts_the_days_between_the_last_two_run_days() -> None:
    assert days_off_before_last_run(History(AS_OF, (run(0, 5.0),))).value is None
    assert days_off_before_last_run(History(AS_OF, (run(3, 5.0), run(2, 5.0)))).value == 0
    found = days_off_before_last_run(History(AS_OF, (run(30, 5.0), run(10, 6.0), run(10, 9.0))))
    assert found.value == 19
    assert found.detail["last_run_km"] == 9.0 and found.activity_ids == (3010,)
    assert "first_run_km" not in found.detail  # one run before: no habit to compare with


def test_return_ratio_is_the_first_run_against_the_typical_run_before_the_break() -> None:
    history = weeks_then_break(20, (0, 10.0))
    found = return_ratio(history)
    assert found.value == pytest.approx(10 / 7, abs=1e-3)
    detail = found.detail
    assert (detail["phase"], detail["days_off"], detail["day_number"]) == ("first_run", 20, 1)
    assert (detail["typical_run_km"], detail["longest_run_km"], detail["pre_break_runs"]) == (
        7.0, 12.0, 16)
    assert detail["old_week_km"] == 32.0 and detail["half_old_week_km"] == 16.0
    assert detail["first_run_vs_longest"] == pytest.approx(10 / 12, abs=1e-3)
    assert detail["weekly_ratio"] is None
    assert detail["first_run_date"] == AS_OF.isoformat()
    assert days_off_before_last_run(history).detail["first_run_km"] == 10.0


def test_from_day_seven_the_return_ratio_is_the_weekly_load_since_coming_back() -> None:
    # 4 + 4 + 4 + 4 km in the first week back: half the old 32 km
    history = weeks_then_break(20, (0, 4.0), (2, 4.0), (4, 4.0), (6, 4.0))
    found = return_ratio(history)
    assert found.detail["phase"] == "weekly" and found.detail["day_number"] == 7
    assert found.value == pytest.approx(0.5)
    assert found.detail["first_run_vs_typical"] == pytest.approx(4 / 7, abs=1e-3)
    assert len(found.activity_ids) == 4
    # ten days on, 20 km: 20 / (10/7) / 32
    later = weeks_then_break(20, (0, 4.0), (2, 4.0), (4, 4.0), (6, 4.0), (9, 4.0))
    assert return_ratio(later).value == pytest.approx(20 / (10 / 7) / 32, abs=1e-3)
    assert days_off_before_last_run(later).value == 2


def test_no_return_without_a_habit_before_or_a_break_of_two_weeks() -> None:
    assert return_ratio(weeks_then_break(13, (0, 12.0))).value is None  # 13 days: no break
    thin = History(AS_OF, (run(70, 6.0), run(45, 6.0), run(40, 6.0), run(35, 6.0),
                           run(0, 12.0)))
    assert return_ratio(thin).value is None  # 3 runs in the four weeks before the break
    assert return_ratio(History(AS_OF, (*thin.points, run(34, 6.0)))).value == 2.0
    long_ago = weeks_then_break(20, (0, 6.0), *((n, 6.0) for n in range(2, 30, 2)))
    assert return_ratio(long_ago).value is None  # the return began more than four weeks ago


# --- the shipped rule's thresholds -------------------------------------------------------------


@pytest.mark.parametrize(("days_off", "first_km", "severity"), [
    (13, 12.0, None),  # not a break
    (14, 5.5, None),  # 0.79 × the typical run: a gentle start
    (14, 5.6, "warn"),  # 0.8 ×: near the old load
    (20, 12.0, "warn"),
    (27, 5.6, "warn"),
    (28, 4.1, None),  # 0.59 ×
    (28, 4.2, "warn"),  # after four weeks off, 0.6 × is already near the old load
    (42, 12.0, "warn"),
    (120, 7.0, "warn"),
])
def test_the_rule_warns_when_the_first_run_back_starts_near_the_old_load(
        shipped: Rule, days_off: int, first_km: float, severity: str | None) -> None:
    assert verdict(shipped, weeks_then_break(days_off, (0, first_km))) == severity


def test_the_rule_judges_the_first_day_back_only(shipped: Rule) -> None:
    assert verdict(shipped, weeks_then_break(20, (0, 12.0))) == "warn"
    # still the latest run on the next days: the same episode, nothing new to send
    next_day = weeks_then_break(20, (0, 12.0))
    assert verdict(shipped, History(AS_OF + timedelta(days=1), next_day.points)) == "warn"
    # the second run back ends it, even at the old load
    assert verdict(shipped, weeks_then_break(20, (0, 12.0), (2, 12.0))) is None


# --- end to end (acceptance 3) ----------------------------------------------------------------

FIRST_BACK = date(2026, 11, 21)
BREAK_DAYS = 42  # six weeks without running


@pytest.fixture
def config(tmp_path: Path) -> ServiceConfig:
    return ServiceConfig(mail_dir=tmp_path / "mail")


def evening(day: date) -> datetime:
    return datetime.combine(day, time(20), tzinfo=UTC)


def old_weeks(store: Store, days_off: int = BREAK_DAYS) -> None:
    """Eight steady weeks of 32 km (the 12 km long run on their last day) ending `days_off`
    days before FIRST_BACK, and strength work twice a week from then on, through the break and
    the first weeks back (cross-training keeps the strength nudges quiet)."""
    last_before = FIRST_BACK - timedelta(days=days_off + 1)
    store_plan(store, weekly_plan(last_before, 8, OLD_WEEK_KM))
    days = ((FIRST_BACK + timedelta(days=14)) - last_before).days
    store_plan(store, [PlannedSession(last_before + timedelta(days=n), "strength",
                                      start_local=time(18, 30))
                       for n in range(1, days) if n % 7 in (2, 5)])


def test_six_weeks_off_then_the_old_long_run_warns_that_day_with_rebuild_advice(
        store: Store, config: ServiceConfig) -> None:
    old_weeks(store)
    store_plan(store, [PlannedSession(FIRST_BACK, "run", 12.0)])
    report = run_evaluation(store, config, as_of=FIRST_BACK, now=evening(FIRST_BACK))
    assert [(t.kind, t.finding.rule.id, t.notified) for t in report.transitions] == [
        ("fired", "return_after_break", True)]
    alert = fired(store)["return_after_break"]
    # a warning, as the issue asks; the summary and advice say how long the break was
    assert alert.severity == "warn" and alert.value == BREAK_DAYS
    assert outbox_count(store) == 1
    payload = alert.payload
    assert payload["summary"].startswith(
        "Your 12.0 km run on 2026-11-21 came after 42 days without a run. It was 1.7 × your "
        "typical run before the break (7.0 km, the median of 16 runs in the 4 weeks to "
        "2026-10-09) and as long as your longest then (12.0 km). A first week of about 16.0 km, "
        "half your old 32.0 km a week, all easy, is the usual way back.")
    assert "watch simply stayed at home" in payload["summary"]
    assert [block["key"] for block in payload["advice_blocks"]] == ["rebuild_after_break",
                                                                    "rest_day"]
    assert "half your old weekly volume" in payload["advice"][0]
    assert "two to four weeks" in payload["advice"][0].lower()
    assert "not a tested prescription" in payload["advice"][0]
    chart = payload["chart"]
    assert chart["kind"] == "weekly_distance" and chart["limit_km"] == 16.0
    assert chart["distance_km"][-1] == 12.0 and max(chart["distance_km"]) == 32.0
    assert chart["title"].startswith("12.0 km on your first day back after 42 days")
    # the second run back ends the episode
    store_plan(store, [PlannedSession(FIRST_BACK + timedelta(days=2), "run", 5.0)])
    run_evaluation(store, config, as_of=FIRST_BACK + timedelta(days=2),
                   now=evening(FIRST_BACK + timedelta(days=2)))
    assert fired(store)["return_after_break"].resolved_at is not None


def test_after_three_weeks_off_the_old_run_is_a_warning(store: Store,
                                                        config: ServiceConfig) -> None:
    old_weeks(store, days_off=21)
    store_plan(store, [PlannedSession(FIRST_BACK, "run", 8.0)])
    run_evaluation(store, config, as_of=FIRST_BACK, now=evening(FIRST_BACK))
    alerts = fired(store)
    assert set(alerts) == {"return_after_break"}  # 8 km ≤ 1.1 × 12: the spike rule is quiet
    assert (alerts["return_after_break"].severity, alerts["return_after_break"].value) == (
        "warn", 21)
    assert "as long as your longest" not in alerts["return_after_break"].payload["summary"]


def test_a_gentle_return_at_half_the_old_volume_gets_no_alert(store: Store,
                                                              config: ServiceConfig) -> None:
    old_weeks(store)
    # the first week back: four easy runs of 4 km, 16 km, half the old 32 km
    gentle = [PlannedSession(FIRST_BACK + timedelta(days=offset), "run", 4.0)
              for offset in (0, 2, 4, 6)]
    for day_number in range(7):
        day = FIRST_BACK + timedelta(days=day_number)
        store_plan(store, [s for s in gentle if s.day == day])
        report = run_evaluation(store, config, as_of=day, now=evening(day))
        assert [t.finding.rule.id for t in report.transitions] == [], day
    assert fired(store) == {} and outbox_count(store) == 0


def test_the_rule_never_fires_a_week_after_the_first_run_back(store: Store,
                                                               config: ServiceConfig) -> None:
    """A first run back below "near the old load" gives no alert that day, and none a week
    later either, when the ratio turns to the weekly load (the rule is about the first day)."""
    start = AS_OF - timedelta(days=60)
    plan = [PlannedSession(start + timedelta(days=offset), "run", km)
            for offset, km in ((0, 1.0), (7, 10.0), (14, 10.0), (21, 10.0))]
    first_back = start + timedelta(days=21 + 21)  # 20 days without a run
    plan.append(PlannedSession(first_back, "run", 7.0))
    store_plan(store, plan)
    for day in (first_back, first_back + timedelta(days=6), first_back + timedelta(days=8)):
        report = run_evaluation(store, config, as_of=day,
                                now=datetime.combine(day, time(20), tzinfo=UTC))
        assert [t.finding.rule.id for t in report.transitions
                if t.finding.rule.id == "return_after_break"] == []
