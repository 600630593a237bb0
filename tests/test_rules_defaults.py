"""The shipped rules over ten weeks of FIT files: quiet for a steady runner, loud for a real risk.

Every scenario goes the real way: FIT files written by the project's encoder, ingested from an
inbox, evaluated with config/rules.yaml as shipped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from config.schema import ServiceConfig
from fitwriter.encode import encode_run, encode_strength
from ingest import IngestSettings, ingest_inbox
from notify.outbox import enqueue_alert
from rules.evaluate import evaluate
from rules.loader import load_rules
from store import Alert, Store

TODAY = date(2026, 11, 22)  # a Sunday: the long run
NOW = datetime(2026, 11, 22, 19, 0, tzinfo=UTC)
WEEK = ((0, 5.0), (1, 6.0), (3, 6.0), (5, 5.0), (6, 8.0))  # weekday, km: 30 km in five runs
STRENGTH_DAYS = (2, 4)
PACE_S_PER_KM = 330.0


def write_weeks(inbox: Path, weeks: int = 10, *,
                cadence_of: Callable[[date], float] = lambda _day: 170.0,
                strength_from: date | None = None, last_run_km: float | None = None,
                balance_left_pct: float = 50.0) -> int:
    """Ten weeks ending TODAY: five runs a week at 5:30/km with balanced ground contact (or
    `balance_left_pct`), and two strength sessions a week, none from `strength_from` on when it
    is given."""
    folder = inbox / "ana"
    folder.mkdir(parents=True, exist_ok=True)
    first_monday = TODAY - timedelta(days=7 * weeks - 1)
    count = 0
    for week in range(weeks):
        for weekday, km in WEEK:
            day = first_monday + timedelta(days=7 * week + weekday)
            if day == TODAY and last_run_km is not None:
                km = last_run_km
            start = datetime(day.year, day.month, day.day, 7, tzinfo=UTC)
            data = encode_run(start, km * 1000, km * PACE_S_PER_KM, cadence_spm=cadence_of(day),
                              stance_time_balance_left_pct=balance_left_pct, interval_s=15.0)
            (folder / f"{day}-run.fit").write_bytes(data)
            count += 1
        for weekday in STRENGTH_DAYS:
            day = first_monday + timedelta(days=7 * week + weekday)
            if strength_from is not None and day >= strength_from:
                continue
            start = datetime(day.year, day.month, day.day, 18, tzinfo=UTC)
            (folder / f"{day}-strength.fit").write_bytes(encode_strength(start))
            count += 1
    return count


@pytest.fixture
def ingest_and_evaluate(store: Store, tmp_path: Path) -> Callable[[], dict[str, Alert]]:
    config = ServiceConfig(mail_dir=tmp_path / "mail")
    settings = IngestSettings(inbox=tmp_path / "inbox", archive=tmp_path / "archive",
                              quarantine=tmp_path / "quarantine", stability_s=0.0, workers=1)

    def run() -> dict[str, Alert]:
        outcomes = ingest_inbox(store, settings)
        assert outcomes and {o.status for o in outcomes} == {"ingested"}
        evaluate(store, config, load_rules(), now=NOW,
                 enqueue=lambda session, alert, kind: enqueue_alert(session, config, alert,
                                                                    kind, NOW))
        with store.session() as session:
            return {a.rule_id: a for a in session.scalars(select(Alert))}

    run.inbox = settings.inbox  # type: ignore[attr-defined]
    return run


def test_a_steady_balanced_runner_gets_no_alert(
        ingest_and_evaluate: Callable[[], dict[str, Alert]]) -> None:
    write_weeks(ingest_and_evaluate.inbox)  # type: ignore[attr-defined]
    assert ingest_and_evaluate() == {}


def test_a_last_run_over_twice_the_months_longest_is_critical_with_rest_advice(
        ingest_and_evaluate: Callable[[], dict[str, Alert]]) -> None:
    write_weeks(ingest_and_evaluate.inbox, last_run_km=16.5)  # type: ignore[attr-defined]
    alerts = ingest_and_evaluate()
    assert set(alerts) == {"single_run_spike"}
    spike = alerts["single_run_spike"]
    assert spike.severity == "critical" and spike.value == pytest.approx(16.5 / 8, abs=1e-3)
    assert spike.payload["advice"][0].startswith("Rest or an easy week")
    assert "8.8 km" in " ".join(spike.payload["advice"])  # the next long run's ceiling: 1.1 × 8


def test_two_weeks_without_strength_gets_a_strength_nudge(
        ingest_and_evaluate: Callable[[], dict[str, Alert]]) -> None:
    write_weeks(ingest_and_evaluate.inbox,  # type: ignore[attr-defined]
                strength_from=TODAY - timedelta(days=13))
    alerts = ingest_and_evaluate()
    assert set(alerts) == {"no_strength_7d"}
    text = " ".join(alerts["no_strength_7d"].payload["advice"])
    assert "planks" in text and "single-leg" in text and "two short strength sessions a week" \
        in text.lower()


def test_cadence_falling_16_spm_over_six_weeks_gets_a_form_alert(
        ingest_and_evaluate: Callable[[], dict[str, Alert]]) -> None:
    fall_starts = TODAY - timedelta(days=41)

    def cadence(day: date) -> float:
        return 176.0 - 16.0 * max(0, (day - fall_starts).days) / 41

    write_weeks(ingest_and_evaluate.inbox, cadence_of=cadence)  # type: ignore[attr-defined]
    alerts = ingest_and_evaluate()
    assert set(alerts) == {"cadence_falling"}
    form = alerts["cadence_falling"]
    assert form.value is not None and form.value <= -3
    assert form.payload["detail"]["change_high_spm_8w"] < 0
    assert [block["key"] for block in form.payload["advice_blocks"]] == ["form", "strength"]
    assert "5 % higher at the same pace" in form.payload["advice"][0]
    assert "fell about" in form.payload["summary"]
    assert "not medical advice" in form.payload["disclaimer"]


def write_run(inbox: Path, day: date, km: float, **record_options: float) -> None:
    folder = inbox / "ana"
    folder.mkdir(parents=True, exist_ok=True)
    start = datetime(day.year, day.month, day.day, 7, tzinfo=UTC)
    (folder / f"{day}-run.fit").write_bytes(encode_run(
        start, km * 1000, km * PACE_S_PER_KM, interval_s=15.0, **record_options))


def test_a_new_users_first_five_days_bring_no_spike_warning(
        ingest_and_evaluate: Callable[[], dict[str, Alert]]) -> None:
    """5, 6 and 10 km in the first five days of history: the 30 days before the 10 km run hold
    almost nothing yet, so the spike rule waits until they are on record (min_history)."""
    inbox = ingest_and_evaluate.inbox  # type: ignore[attr-defined]
    for days_before, km in ((4, 5.0), (2, 6.0), (0, 10.0)):
        write_run(inbox, TODAY - timedelta(days=days_before), km)
    assert ingest_and_evaluate() == {}


def test_a_single_old_run_dropped_today_says_nothing_about_balance(
        ingest_and_evaluate: Callable[[], dict[str, Alert]]) -> None:
    """One run from 2017 with 55 % left: "the last runs" look back eight weeks only."""
    write_run(ingest_and_evaluate.inbox, date(2017, 5, 18), 8.0,  # type: ignore[attr-defined]
              stance_time_balance_left_pct=55.0)
    assert ingest_and_evaluate() == {}


def test_a_lopsided_balance_names_the_runs_and_the_band_the_rule_uses(
        ingest_and_evaluate: Callable[[], dict[str, Alert]]) -> None:
    write_weeks(ingest_and_evaluate.inbox, balance_left_pct=53.0)  # type: ignore[attr-defined]
    alerts = ingest_and_evaluate()
    assert set(alerts) == {"gct_imbalance"}
    payload = alerts["gct_imbalance"].payload
    assert payload["summary"] == (
        f"Your ground-contact balance is {payload['value']} % left, the median of your last 5 "
        f"runs (since {(TODAY - timedelta(days=6)).isoformat()}); this rule speaks up outside "
        "47.8-52.2 %, what Garmin rates poor.")
    assert payload["condition"] == "outside 47.8..52.2"
    assert payload["detail"]["runs"] == 5
