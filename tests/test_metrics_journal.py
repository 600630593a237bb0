"""Pain and feel metrics from the journal, worked by hand, and the pain rules end to end: pain of
6/10 in the lower back the day after a long run sends "see a professional" and SI-joint work."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from test_rules import NOW, TODAY, fired, outbox_count, run_evaluation, store_plan

from config.schema import ServiceConfig
from fitwriter.synthetic import weekly_plan
from metrics import compute_all, load_history
from metrics.history import ActivityPoint, History, JournalPoint
from metrics.journal import (
    back_pain_after_long_run,
    feel_mean_7d,
    pain_by_day,
    pain_days_7d,
    pain_max_7d,
)
from store import Athlete, JournalEntry, Store

AS_OF = date(2026, 11, 21)
STEADY_WEEK_KM = [5.0, 6.0, 5.0, 6.0, 8.0]  # the long run of 8 km falls on each week's last day


def run(days_before: int, km: float, activity_id: int = 0, *,
        feel: float | None = None) -> ActivityPoint:
    day = AS_OF - timedelta(days=days_before)
    return ActivityPoint(activity_id or 1000 + days_before, day,
                         datetime(day.year, day.month, day.day, 7, tzinfo=UTC), km, True,
                         moving_min=km * 6.0, feel=feel)


def pain(days_before: int, level: int | None, area: str | None = "lower_back",
         note: str | None = None, entry_id: int = 0) -> JournalPoint:
    return JournalPoint(entry_id or 5000 + days_before * 10 + len(area or ""),
                        AS_OF - timedelta(days=days_before), level, area, note)


def history(points: tuple[ActivityPoint, ...] = (),
            journal: tuple[JournalPoint, ...] = ()) -> History:
    return History(AS_OF, points, journal)


# --- pain_max_7d, pain_days_7d ----------------------------------------------------------------


def test_no_entry_in_the_window_is_not_told_not_no_pain() -> None:
    old = history(journal=(pain(7, 8), pain(0, None, note="felt fine")))  # D-7 is outside
    for metric in (pain_max_7d, pain_days_7d, back_pain_after_long_run):
        assert metric(old).value is None
    assert pain_max_7d(history(journal=(pain(3, 0),))).value == 0  # a zero is an answer


def test_the_highest_pain_of_the_week_names_its_entry() -> None:
    found = pain_max_7d(history(journal=(
        pain(6, 4, "knee"), pain(2, 6, "lower_back", "sharp when sitting"), pain(0, 2, "knee"))))
    assert found.value == 6
    assert (found.detail["day"], found.detail["area"], found.detail["where"],
            found.detail["note"]) == ("2026-11-19", "lower_back", "in the lower back",
                                      "sharp when sitting")
    assert found.detail["entries"] == 3


def test_pain_days_count_three_or_more_in_one_area() -> None:
    # 1-2/10 is not a pain day; two areas are counted apart; two entries on a day count once
    week = history(journal=(
        pain(6, 3, "knee"), pain(5, 2, "knee"), pain(4, 4, "knee"), pain(4, 5, "knee", "again"),
        pain(1, 3, "hip"), pain(0, 3, "knee")))
    found = pain_days_7d(week)
    assert found.value == 3
    assert found.detail["area"] == "knee"
    assert found.detail["days"] == ["2026-11-15", "2026-11-17", "2026-11-21"]
    assert pain_max_7d(week).detail["pain_days"] == 3
    assert pain_days_7d(history(journal=(pain(1, 2), pain(0, 1)))).value == 0


def test_pain_without_an_area_counts_as_its_own_area() -> None:
    found = pain_days_7d(history(journal=(pain(2, 4, None), pain(1, 4, None), pain(0, 4, None))))
    assert (found.value, found.detail["area"], found.detail["where"]) == (3, "unspecified", "")


# --- back_pain_after_long_run -----------------------------------------------------------------


def long_run_block(long_km: float = 14.0, long_days_before: int = 1) -> tuple[ActivityPoint, ...]:
    """Runs of 6 km every other day for five weeks, and one long run."""
    runs = [run(d, 6.0) for d in range(35, 1, -2) if d != long_days_before]
    return (*runs, run(long_days_before, long_km, 1))


@pytest.mark.parametrize("days_after", [0, 1, 2])
def test_back_pain_within_48_hours_of_the_months_longest_run(days_after: int) -> None:
    found = back_pain_after_long_run(history(
        long_run_block(long_days_before=3), (pain(3 - days_after, 5, "si_joint"),)))
    assert found.value == 5
    assert found.detail["run_km"] == 14.0 and found.detail["run_date"] == "2026-11-18"
    assert found.detail["days_after_run"] == days_after
    assert found.detail["run_activity_id"] == 1
    assert found.detail["where"] == "in the SI-joint area"
    assert found.activity_ids == ()  # the entry, not the run, dates the finding


def test_back_pain_three_days_later_or_after_a_short_run_or_elsewhere_is_not_it() -> None:
    block = long_run_block(long_days_before=6)
    assert back_pain_after_long_run(history(block, (pain(3, 6),))).value is None  # 3 days on
    assert back_pain_after_long_run(history(block, (pain(5, 6, "knee"),))).value is None
    # a 6 km run two days ago was not the longest of its 30 days: the 14 km one was
    short_run = (*block, run(2, 6.0, 2))
    assert back_pain_after_long_run(history(short_run, (pain(1, 6),))).value is None
    assert back_pain_after_long_run(history(short_run, (pain(4, 6),))).value == 6


def test_a_run_as_long_as_the_months_longest_counts_as_a_long_run() -> None:
    same = tuple(run(d, 8.0) for d in range(28, -1, -2))
    found = back_pain_after_long_run(history(same, (pain(1, 4),)))
    assert found.value == 4 and found.detail["run_date"] == "2026-11-19"


def test_the_strongest_back_pain_of_the_week_after_long_runs() -> None:
    block = (*long_run_block(long_days_before=6), run(0, 15.0, 2))
    found = back_pain_after_long_run(history(block, (pain(5, 7), pain(0, 3, "si_joint"))))
    assert found.value == 7 and found.detail["run_km"] == 14.0
    assert found.detail["days_after_run"] == 1


# --- feel, the pain series, the store ---------------------------------------------------------


def test_feel_is_the_mean_of_the_weeks_runs_that_have_it() -> None:
    found = feel_mean_7d(history((run(8, 5.0, feel=0.0), run(3, 5.0, feel=25.0),
                                  run(2, 5.0), run(0, 5.0, feel=100.0))))
    assert found.value == 62.5 and found.detail == {"runs": 2}
    assert feel_mean_7d(history((run(8, 5.0, feel=50.0),))).value is None
    assert feel_mean_7d(history((run(1, 5.0, feel=0.0),))).value == 0  # 0 is "very weak"


def test_pain_by_day_takes_each_days_highest_entry() -> None:
    entries = (pain(2, 3, "knee"), pain(2, 5), pain(0, 4, "si_joint"))
    series = dict(pain_by_day(history(journal=entries), AS_OF - timedelta(days=3)))
    assert list(series.values()) == [None, 5.0, None, 4.0]
    back = dict(pain_by_day(history(journal=entries), AS_OF - timedelta(days=2),
                            ("lower_back", "si_joint")))
    assert list(back.values()) == [5.0, None, 4.0]


def test_a_history_cut_at_a_day_drops_later_entries_and_refuses_them_beyond_as_of() -> None:
    full = history((run(3, 5.0), run(0, 6.0)), (pain(3, 4), pain(0, 6)))
    earlier = full.up_to(AS_OF - timedelta(days=1))
    assert [e.pain for e in earlier.journal] == [4] and len(earlier.points) == 1
    assert pain_max_7d(earlier).value == 4
    assert full.counting_as_runs(["running"]).journal == full.journal
    with pytest.raises(ValueError, match="later journal entry"):
        History(AS_OF - timedelta(days=1), (), (pain(0, 3),))
    assert earlier.newest_data_utc == datetime(2026, 11, 19, tzinfo=UTC)  # after its run
    assert full.newest_data_utc == datetime(2026, 11, 22, tzinfo=UTC)  # the entry's day ends


def add_entries(store: Store, *entries: tuple[date, int | None, str | None, str | None],
                athlete: str = "ana") -> None:
    with store.session() as session:
        if session.get(Athlete, athlete) is None:
            session.add(Athlete(id=athlete))
            session.flush()
        for day, level, area, note in entries:
            session.add(JournalEntry(athlete_id=athlete, day=day, pain=level, area=area,
                                     note=note, source="cli"))


def test_load_history_brings_the_athletes_entries_up_to_as_of(store: Store) -> None:
    add_entries(store, (TODAY - timedelta(days=1), 4, "knee", None),
                (TODAY, 6, "lower_back", "sharp"), (TODAY + timedelta(days=1), 9, "foot", None))
    add_entries(store, (TODAY, 8, "hip", None), athlete="ben")
    with store.session() as session:
        loaded = load_history(session, "ana", "UTC", TODAY)
    assert [(e.day, e.pain, e.area, e.note) for e in loaded.journal] == [
        (TODAY - timedelta(days=1), 4, "knee", None), (TODAY, 6, "lower_back", "sharp")]
    values = {name: result.value for name, result in compute_all(loaded).items()}
    assert (values["pain_max_7d"], values["pain_days_7d"]) == (6, 1)
    assert values["back_pain_after_long_run"] is None  # no run at all


# --- the pain rules, end to end (acceptance 2, metrics side) ----------------------------------


@pytest.fixture
def config(tmp_path: Path) -> ServiceConfig:
    return ServiceConfig(mail_dir=tmp_path / "mail")


def test_lower_back_pain_the_day_after_a_long_run_says_see_a_professional_and_si_work(
        store: Store, config: ServiceConfig) -> None:
    long_run_day = TODAY - timedelta(days=1)
    plan = weekly_plan(long_run_day, 6, STEADY_WEEK_KM)
    store_plan(store, plan)
    run_evaluation(store, config, now=NOW - timedelta(days=1), as_of=long_run_day)
    assert fired(store) == {}  # a steady runner: nothing
    add_entries(store, (TODAY, 6, "lower_back", "sharp when sitting"))
    report = run_evaluation(store, config)
    assert sorted((t.kind, t.finding.rule.id, t.finding.severity, t.notified)
                  for t in report.transitions) == [
        ("fired", "back_pain_after_long_run", "warn", True),
        ("fired", "pain_reported", "warn", True)]
    assert outbox_count(store) == 2

    back = fired(store)["back_pain_after_long_run"].payload
    assert [block["key"] for block in back["advice_blocks"]] == [
        "see_a_professional", "si_joint_stability", "mobility"]
    text = " ".join(back["advice"])
    assert "physiotherapist or doctor" in text and "same day" in text
    for exercise in ("bird-dog", "side planks", "glute bridges", "clamshells",
                     "single-leg balance"):
        assert exercise in text
    assert "SI-joint area" in text
    assert back["summary"] == (
        'You reported pain of 6/10 in the lower back on 2026-11-21 ("sharp when sitting"), '
        "the day after your 8.0 km run on 2026-11-20, the longest of its 30 days. Pain of "
        "5/10 or more there after a long run is worth showing a physiotherapist or doctor "
        "before the next long run.")
    assert back["detail"]["run_activity_id"] is not None
    assert "bladder or bowel" in back["see_a_professional"]
    chart = back["chart"]
    assert chart["kind"] == "metric_days" and chart["values"][-2:] == [None, 6.0]
    assert chart["title"].startswith("Pain 6/10 in the lower back on 2026-11-21, the day after")

    reported = fired(store)["pain_reported"].payload
    assert [block["key"] for block in reported["advice_blocks"]] == [
        "rest_from_pain", "see_a_professional"]
    assert reported["summary"] == ('You reported pain of 6/10 in the lower back on 2026-11-21 '
                                   '("sharp when sitting").')
    assert reported["chart"]["thresholds"] == [["warn >= 5/10", 5.0],
                                               ["pain day: 3/10 or more", 3.0]]


def test_pain_on_three_days_of_a_week_alerts_and_one_mild_day_does_not(
        store: Store, config: ServiceConfig) -> None:
    store_plan(store, weekly_plan(TODAY, 6, STEADY_WEEK_KM))
    add_entries(store, (TODAY - timedelta(days=5), 3, "knee", None),
                (TODAY - timedelta(days=4), 2, "knee", None))
    run_evaluation(store, config, now=NOW - timedelta(hours=2))
    assert fired(store) == {}  # one pain day, and a 2/10 that is not one
    add_entries(store, (TODAY - timedelta(days=2), 4, "knee", None),
                (TODAY, 3, "knee", "stairs"))
    run_evaluation(store, config)
    alert = fired(store)["pain_reported"]
    assert alert.severity == "warn" and alert.value == 4
    assert alert.payload["summary"] == "Pain of 3/10 or more in the knee on 3 of the last 7 days."
    assert "back_pain_after_long_run" not in fired(store)
    assert alert.payload["chart"]["title"] == (
        "Pain of 3/10 or more in the knee on 3 of the last 7 days")


def test_a_history_is_as_new_as_its_newest_run_or_journal_entry(store: Store) -> None:
    store_plan(store, weekly_plan(TODAY - timedelta(days=5), 6, STEADY_WEEK_KM))
    add_entries(store, (TODAY, 7, "shin", None))
    with store.session() as session:
        loaded = load_history(session, "ana", "UTC", TODAY)
        before = load_history(session, "ana", "UTC", TODAY - timedelta(days=1))
    assert loaded.newest_data_utc == datetime(2026, 11, 22, tzinfo=UTC)  # the entry's day ends
    assert before.newest_data_utc == before.newest_start_utc == datetime(2026, 11, 16, 7,
                                                                         tzinfo=UTC)


def test_a_pain_entry_today_is_sent_after_days_without_a_run(
        store: Store, config: ServiceConfig) -> None:
    """The staleness check (max_alert_age, 3 days) must look at today's journal entry, not at
    the last run five days ago: pain told today is news."""
    store_plan(store, weekly_plan(TODAY - timedelta(days=5), 6, STEADY_WEEK_KM))
    add_entries(store, (TODAY, 7, "shin", None))
    run_evaluation(store, config)
    assert fired(store)["pain_reported"].silenced_reason is None
