"""Pain and feel from what the athlete tells StrideGuard: the journal (pain 0-10 per area and
day) and the FIT session's workout_feel (research/science-addendum.md §2-§3).

A day without an entry is "not told", never "no pain": every pain metric is null until the
window holds an entry with a pain value.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from statistics import fmean

from metrics.history import ActivityPoint, History, JournalPoint
from metrics.result import NO_DATA, MetricResult

PAIN_WINDOW_DAYS = 7
PAIN_DAY_MIN = 3  # 1-2/10 is not a pain day (addendum §2 thresholds)
BACK_AREAS = ("lower_back", "si_joint")
LONG_RUN_LOOKBACK_DAYS = 30  # "the longest run of its 30 days" (Frandsen 2025's window)
AFTER_RUN_DAYS = 2  # "within 48 h": the run's day and the two days after it
NO_AREA = "unspecified"
# how alert texts name an area: "SI-joint area", never a diagnosis (addendum §2 wording)
AREA_PHRASES = {"lower_back": "in the lower back", "si_joint": "in the SI-joint area",
                "hip": "in the hip", "knee": "in the knee", "shin": "in the shin",
                "foot": "in the foot"}


def where(area: str | None) -> str:
    """How a text names the area, e.g. "in the lower back"; "" for other or none."""
    return AREA_PHRASES.get(area or "", "")


def _pain_entries(history: History) -> list[JournalPoint]:
    """Entries with a pain value in D-6..D."""
    return [e for e in history.journal_between(history.days_back(PAIN_WINDOW_DAYS),
                                               history.as_of) if e.pain is not None]


def _entry_detail(entry: JournalPoint) -> dict[str, object]:
    return {"pain": entry.pain, "day": entry.day.isoformat(), "area": entry.area or NO_AREA,
            "where": where(entry.area), "note": entry.note}


def _pain_days_by_area(entries: list[JournalPoint]) -> dict[str, list[date]]:
    """Area -> the distinct days with pain of PAIN_DAY_MIN or more there, oldest first."""
    days: dict[str, set[date]] = defaultdict(set)
    for entry in entries:
        if (entry.pain or 0) >= PAIN_DAY_MIN:
            days[entry.area or NO_AREA].add(entry.day)
    return {area: sorted(found) for area, found in days.items()}


def _most_pain_days(entries: list[JournalPoint]) -> tuple[str | None, list[date]]:
    """The area with the most pain days (the most recent pain day breaks a tie), and its days."""
    by_area = _pain_days_by_area(entries)
    if not by_area:
        return None, []
    area = max(by_area, key=lambda a: (len(by_area[a]), by_area[a][-1]))
    return area, by_area[area]


def pain_max_7d(history: History) -> MetricResult:
    """The highest pain (0-10) of the journal entries in D-6..D, any area.

    Null with no entry holding a pain value in the window: a day without an entry is "not
    told", not "no pain". The pain-monitoring model (Silbernagel 2007; addendum §2) counts 0-3
    as safe, 4-5 as acceptable and over 5 as too much. The detail names the entry (the latest
    of equal maxima) and the window's pain days, for texts that quote either rule of P1/P3.
    """
    entries = _pain_entries(history)
    if not entries:
        return NO_DATA
    worst = max(entries, key=lambda e: (e.pain or 0, e.day, e.entry_id))
    area, days = _most_pain_days(entries)
    return MetricResult(float(worst.pain or 0), detail={
        **_entry_detail(worst), "entries": len(entries),
        "pain_days": len(days), "pain_days_area": area,
        "pain_days_where": where(area),
        "pain_day_min": PAIN_DAY_MIN, "window_days": PAIN_WINDOW_DAYS})


def pain_days_7d(history: History) -> MetricResult:
    """Days in D-6..D with pain of 3/10 or more in one area: the largest count over areas.

    Addendum §2 P3: ≥ 3 on 3 of 7 days in one area is worth a physio's or doctor's look (it
    mirrors the consensus injury definition, Yamato 2015); 1-2/10 is not a pain day. An entry
    without an area counts as area "unspecified". Null with no pain entry in the window; 0 when
    the entries hold no pain day.
    """
    entries = _pain_entries(history)
    if not entries:
        return NO_DATA
    area, days = _most_pain_days(entries)
    return MetricResult(float(len(days)), detail={
        "area": area, "where": where(area),
        "days": [day.isoformat() for day in days],
        "pain_day_min": PAIN_DAY_MIN, "window_days": PAIN_WINDOW_DAYS})


def is_longest_of_its_30_days(history: History, run: ActivityPoint) -> bool:
    """No run in the 30 days ending on the run's day (that day included) was longer: a tie
    counts, so a runner whose runs are all alike has every run as a long run."""
    window = history.runs_between(run.local_date - timedelta(days=LONG_RUN_LOOKBACK_DAYS - 1),
                                  run.local_date)
    return run.distance_km > 0 and all(other.distance_km <= run.distance_km for other in window)


def back_pain_after_long_run(history: History) -> MetricResult:
    """The highest lower-back or SI-joint pain (0-10) reported in D-6..D within 48 h after a
    long run: an entry of area lower_back or si_joint whose day is the run's day or one of the
    two days after it (a daily entry has no hour), where the run was the longest of the 30 days
    ending on its day (ties count).

    Addendum §2 P4 (grade C): ≥ 3 → core, SI-joint and hip work, cap long runs; ≥ 5, one-sided,
    worse sitting, recurring or lasting → see a professional; the seeds: "sharp pain in your
    lower back after long runs, especially when sitting down" → seek professional guidance.
    Null with no such entry in the window. The detail names the entry and the run (date, km,
    id); the run is not among the result's activities: the finding is as new as the entry
    (History.newest_data_utc), not as old as the run.
    """
    best: tuple[JournalPoint, ActivityPoint] | None = None
    for entry in _pain_entries(history):
        if entry.area not in BACK_AREAS:
            continue
        runs = [run for run in history.runs_between(entry.day - timedelta(days=AFTER_RUN_DAYS),
                                                    entry.day)
                if is_longest_of_its_30_days(history, run)]
        if not runs:
            continue
        run = max(runs, key=lambda r: (r.local_date, r.distance_km))  # the latest long run
        if best is None or (entry.pain or 0, entry.day) >= (best[0].pain or 0, best[0].day):
            best = (entry, run)
    if best is None:
        return NO_DATA
    entry, run = best
    return MetricResult(float(entry.pain or 0), detail={
        **_entry_detail(entry), "run_date": run.local_date.isoformat(),
        "run_km": round(run.distance_km, 2), "run_activity_id": run.activity_id,
        "days_after_run": (entry.day - run.local_date).days,
        "long_run_window_days": LONG_RUN_LOOKBACK_DAYS})


def pain_by_day(history: History, first: date, areas: tuple[str, ...] | None = None
                ) -> list[tuple[date, float | None]]:
    """Each day first..as_of with its highest pain (of `areas`, or any), None without an entry:
    the series a pain chart draws."""
    highest: dict[date, int] = {}
    for entry in history.journal_between(first, history.as_of):
        if entry.pain is None or (areas is not None and entry.area not in areas):
            continue
        highest[entry.day] = max(highest.get(entry.day, 0), entry.pain)
    days = [first + timedelta(days=n) for n in range((history.as_of - first).days + 1)]
    return [(day, float(highest[day]) if day in highest else None) for day in days]


def feel_mean_7d(history: History) -> MetricResult:
    """Mean workout_feel (0 weak .. 100 strong; FIT session field 192) of the runs in D-6..D
    that have it. Display only: nothing links "feel" to injury (addendum §3). Null without one.
    """
    felt = [run for run in history.runs_between(history.days_back(7), history.as_of)
            if run.feel is not None]
    if not felt:
        return NO_DATA
    return MetricResult(round(fmean(run.feel or 0.0 for run in felt), 1),
                        tuple(run.activity_id for run in felt), {"runs": len(felt)})
