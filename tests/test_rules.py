"""Rules: loading with file:line:col errors, shipped defaults, and the alert state machine."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from config.schema import ServiceConfig
from fitwriter.synthetic import PlannedSession, weekly_plan
from notify.outbox import enqueue_alert
from rules.evaluate import evaluate, explain_rule
from rules.loader import load_rules
from store import Activity, Alert, Athlete, OutboxMessage, SourceFile, Store

TODAY = date(2026, 11, 21)
NOW = datetime(2026, 11, 21, 20, 0, tzinfo=UTC)


def store_plan(store: Store, plan: list[PlannedSession], athlete: str = "ana") -> None:
    """Activities straight into the store (the FIT path is covered by the ingest tests)."""
    with store.session() as session:
        if session.get(Athlete, athlete) is None:
            session.add(Athlete(id=athlete))
        for index, planned in enumerate(plan):
            start = datetime.combine(planned.day, planned.start_local, tzinfo=UTC)
            source = SourceFile(sha256=uuid.uuid4().hex, athlete_id=athlete,
                                original_name=f"{index}.fit", size_bytes=1, status="ingested")
            session.add(source)
            is_run = planned.kind == "run"
            session.add(Activity(
                athlete_id=athlete, source_file=source, sport="running" if is_run else "training",
                sub_sport="generic" if is_run else "strength_training", is_run=is_run,
                is_strength=not is_run, start_utc=start,
                distance_m=planned.distance_km * 1000 if is_run else None,
                timer_s=planned.distance_km * planned.pace_s_per_km if is_run else 2400,
                steady_cadence_spm=planned.cadence_spm if is_run else None))


def run_evaluation(store: Store, config: ServiceConfig, *, now: datetime = NOW,
                   as_of: date | None = None, dry_run: bool = False,
                   rules: list[Path] | None = None):
    return evaluate(store, config, load_rules(rules), as_of=as_of, now=now, dry_run=dry_run,
                    enqueue=lambda session, alert, kind: enqueue_alert(session, config, alert,
                                                                       kind, now))


def fired(store: Store) -> dict[str, Alert]:
    with store.session() as session:
        return {a.rule_id: a for a in session.scalars(select(Alert))}


def outbox_count(store: Store) -> int:
    with store.session() as session:
        return len(session.scalars(select(OutboxMessage)).all())


@pytest.fixture
def config(tmp_path: Path) -> ServiceConfig:
    return ServiceConfig(mail_dir=tmp_path / "mail")


def test_shipped_rules_load_and_quote_existing_advice() -> None:
    rule_set = load_rules()
    ids = {rule.id for rule in rule_set.rules}
    assert {"single_run_spike", "weekly_progression", "no_strength_7d"} <= ids
    spike = next(r for r in rule_set.rules if r.id == "single_run_spike")
    assert str(spike.warn) == "> 1.1" and str(spike.critical) == "> 2"


def test_steady_balanced_runner_gets_no_alert(store: Store, config: ServiceConfig) -> None:
    # ten weeks of 30 km in five runs, long run never above the month's longest, 2x strength
    store_plan(store, weekly_plan(TODAY, 10, [5.0, 6.0, 5.0, 6.0, 8.0]))
    report = run_evaluation(store, config)
    assert [t.finding.rule.id for t in report.transitions] == []
    assert fired(store) == {} and outbox_count(store) == 0


def test_a_run_twice_the_months_longest_fires_critical_with_rest_advice_once(
        store: Store, config: ServiceConfig) -> None:
    store_plan(store, weekly_plan(TODAY, 6, [5.0, 6.0, 5.0, 6.0, 8.0], final_run_km=17.0))
    run_evaluation(store, config)
    alert = fired(store)["single_run_spike"]
    assert alert.severity == "critical" and alert.value == pytest.approx(17 / 8, rel=1e-3)
    assert alert.silenced_reason is None
    titles = [block["title"] for block in alert.payload["advice_blocks"]]
    assert "Rest or an easy week" in titles
    assert "8.8 km" in " ".join(alert.payload["advice"])  # the next long run's ceiling
    assert outbox_count(store) == 1  # no channel configured: one .eml
    run_evaluation(store, config, now=NOW + timedelta(hours=1))
    assert outbox_count(store) == 1  # same episode, nothing new


def test_episode_resolves_and_a_new_one_inside_cooldown_is_not_sent(
        store: Store, config: ServiceConfig, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - id: single_run_spike\n    metric: longest_run_ratio_30d\n"
                     "    warn: \"> 1.10\"\n    cooldown: 30d\n", encoding="utf-8")
    store_plan(store, weekly_plan(TODAY, 6, [5.0, 6.0, 5.0, 6.0, 8.0], final_run_km=10.0))
    run_evaluation(store, config, rules=[rules])
    assert fired(store)["single_run_spike"].severity == "warn"
    assert fired(store)["single_run_spike"].payload["severity"] == "warn"
    later = TODAY + timedelta(days=7)  # the 10 km run has left the 7-day window
    run_evaluation(store, config, as_of=later, now=NOW + timedelta(days=7), rules=[rules])
    assert fired(store)["single_run_spike"].resolved_at is not None
    store_plan(store, [PlannedSession(later + timedelta(days=1), "run", 12.0)])
    run_evaluation(store, config, as_of=later + timedelta(days=1),
                   now=NOW + timedelta(days=8), rules=[rules])
    with store.session() as session:
        episodes = session.scalars(select(Alert).where(Alert.rule_id == "single_run_spike")
                                   .order_by(Alert.episode)).all()
        assert [a.episode for a in episodes] == [1, 2]
        assert "cooldown" in (episodes[1].silenced_reason or "")
        assert len(session.scalars(select(OutboxMessage).where(
            OutboxMessage.alert_id == episodes[1].id)).all()) == 0


def test_old_data_is_recorded_but_not_sent(store: Store, config: ServiceConfig) -> None:
    long_ago = TODAY - timedelta(days=200)
    store_plan(store, weekly_plan(long_ago, 6, [5.0, 6.0, 5.0, 6.0, 8.0], final_run_km=17.0))
    run_evaluation(store, config, as_of=long_ago)
    alert = fired(store)["single_run_spike"]
    assert "older than max_alert_age" in (alert.silenced_reason or "")
    assert outbox_count(store) == 0


def test_two_weeks_without_strength_gets_a_strength_nudge(store: Store,
                                                          config: ServiceConfig) -> None:
    plan = weekly_plan(TODAY, 6, [5.0, 6.0, 5.0, 6.0, 8.0])
    fortnight_ago = TODAY - timedelta(days=13)
    store_plan(store, [p for p in plan if p.kind == "run" or p.day < fortnight_ago])
    run_evaluation(store, config)
    alert = fired(store)["no_strength_7d"]
    assert alert.severity == "info"
    assert any("planks" in text for text in alert.payload["advice"])


def test_dry_run_stores_and_sends_nothing(store: Store, config: ServiceConfig) -> None:
    store_plan(store, weekly_plan(TODAY, 6, [5.0, 6.0, 5.0, 6.0, 8.0], final_run_km=17.0))
    report = run_evaluation(store, config, dry_run=True)
    assert [t.finding.rule.id for t in report.transitions] == ["single_run_spike"]
    assert fired(store) == {} and outbox_count(store) == 0


def test_athlete_override_changes_a_threshold(store: Store, tmp_path: Path) -> None:
    strict = ServiceConfig(mail_dir=tmp_path, athletes=[
        {"id": "ana", "overrides": {"single_run_spike": {"warn": "> 1.05"}}}])
    store_plan(store, weekly_plan(TODAY, 6, [5.0, 6.0, 5.0, 6.0, 8.0], final_run_km=8.6))
    run_evaluation(store, ServiceConfig(mail_dir=tmp_path))
    assert "single_run_spike" not in fired(store)
    run_evaluation(store, strict)
    assert fired(store)["single_run_spike"].severity == "warn"


def test_a_late_evening_run_counts_on_its_local_day(store: Store, tmp_path: Path) -> None:
    berlin = ServiceConfig(mail_dir=tmp_path, timezone="Europe/Berlin")
    plan = weekly_plan(TODAY - timedelta(days=1), 6, [5.0, 6.0, 5.0, 6.0, 8.0])
    # 23:30 in Berlin on TODAY is 22:30 UTC; in UTC terms it is still TODAY, but the run at
    # 00:30 Berlin on TODAY+1 is 23:30 UTC on TODAY: it must not count for TODAY
    late = PlannedSession(TODAY, "run", 17.0, start_local=time(22, 30))
    after_midnight = PlannedSession(TODAY, "run", 30.0, start_local=time(23, 30))
    store_plan(store, [*plan, late, after_midnight])
    report = run_evaluation(store, berlin, as_of=TODAY)
    spike = next(f for f in report.findings if f.rule.id == "single_run_spike")
    assert spike.value == pytest.approx(17 / 8, rel=1e-3)


def test_backfill_sends_nothing_then_a_new_run_today_makes_the_nudge_current_once(
        store: Store, config: ServiceConfig) -> None:
    # a year-old block of runs without strength work, imported today
    old_block = weekly_plan(TODAY - timedelta(days=300), 6, [5.0, 6.0, 8.0], strength_per_week=0)
    store_plan(store, old_block)
    run_evaluation(store, config)
    # nothing recorded this week: the strength counts are unknown, not zero, so nothing fires
    assert fired(store) == {}
    assert outbox_count(store) == 0
    run_evaluation(store, config, now=NOW + timedelta(minutes=5))
    assert outbox_count(store) == 0

    # fresh data, still no strength; a gentle first run after the long break (3 km, half the
    # old block's typical run: return_after_break stays quiet)
    store_plan(store, [PlannedSession(TODAY, "run", 3.0)])
    report = run_evaluation(store, config, now=NOW + timedelta(minutes=10))
    assert [(t.kind, t.finding.rule.id, t.deliver, t.notified)
            for t in report.transitions] == [("fired", "no_strength_7d", "digest", False)]
    nudge = fired(store)["no_strength_7d"]
    assert nudge.silenced_reason is None and nudge.deliver == "digest"
    # a nudge waits for the weekly digest: no message of its own, now or later
    assert outbox_count(store) == 0
    report = run_evaluation(store, config, now=NOW + timedelta(minutes=15))
    assert report.transitions == [] and outbox_count(store) == 0


def test_evaluating_the_past_does_not_resolve_a_current_alert(store: Store,
                                                              config: ServiceConfig) -> None:
    store_plan(store, weekly_plan(TODAY, 6, [5.0, 6.0, 5.0, 6.0, 8.0], final_run_km=17.0))
    run_evaluation(store, config)
    run_evaluation(store, config, as_of=TODAY - timedelta(days=10))
    assert fired(store)["single_run_spike"].resolved_at is None


def test_a_rule_can_count_other_sports_as_runs(store: Store, config: ServiceConfig,
                                               tmp_path: Path) -> None:
    store_plan(store, weekly_plan(TODAY, 3, [5.0, 5.0]))  # 10 km of running a week
    with store.session() as session:
        source = SourceFile(sha256=uuid.uuid4().hex, athlete_id="ana", original_name="hike.fit",
                            size_bytes=1, status="ingested")
        session.add(Activity(athlete_id="ana", source_file=source, sport="hiking",
                             is_run=False, start_utc=NOW - timedelta(days=1),
                             distance_m=25_000, timer_s=6 * 3600))
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - id: on_foot\n    metric: distance_7d_km\n    warn: \"> 30\"\n"
        "    sports: [running, hiking]\n  - id: running_only\n    metric: distance_7d_km\n"
        "    warn: \"> 30\"\n", encoding="utf-8")
    report = run_evaluation(store, config, rules=[rules])
    values = {f.rule.id: (f.value, f.severity) for f in report.findings}
    assert values == {"on_foot": (35.0, "warn"), "running_only": (10.0, None)}


def test_a_rule_can_take_moving_time_as_the_load(store: Store, config: ServiceConfig,
                                                 tmp_path: Path) -> None:
    store_plan(store, weekly_plan(TODAY, 3, [5.0, 6.0, 8.0]))  # at 5:30/km (store_plan)
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - id: by_km\n    metric: strain_7d\n    warn: \"> 50\"\n"
        "  - id: by_minutes\n    metric: strain_7d\n    warn: \"> 50\"\n    load: time\n",
        encoding="utf-8")
    report = run_evaluation(store, config, rules=[rules])
    found = {f.rule.id: f for f in report.findings}
    pace_min_per_km = weekly_plan(TODAY, 1, [5.0])[0].pace_s_per_km / 60
    assert found["by_minutes"].value == pytest.approx(
        found["by_km"].value * pace_min_per_km, rel=1e-3)
    assert (found["by_km"].severity, found["by_minutes"].severity) == (None, "warn")
    assert fired(store)["by_minutes"].payload["unit"] == "min"


def test_an_alert_of_a_removed_rule_resolves(store: Store, config: ServiceConfig,
                                             tmp_path: Path) -> None:
    store_plan(store, weekly_plan(TODAY, 6, [5.0, 6.0, 5.0, 6.0, 8.0], final_run_km=17.0))
    run_evaluation(store, config)
    assert fired(store)["single_run_spike"].resolved_at is None
    without_it = tmp_path / "rules.yaml"
    without_it.write_text("rules:\n  - id: streak\n    metric: consecutive_run_days\n"
                          "    warn: \">= 7\"\n", encoding="utf-8")
    dry = run_evaluation(store, config, rules=[without_it], now=NOW + timedelta(minutes=5),
                         dry_run=True)
    assert [r.rule_id for r in dry.retired] == ["single_run_spike"]
    assert fired(store)["single_run_spike"].resolved_at is None  # a dry run changes nothing
    run_evaluation(store, config, rules=[without_it], now=NOW + timedelta(minutes=5))
    assert fired(store)["single_run_spike"].resolved_at == NOW + timedelta(minutes=5)


def test_explain_gives_each_day_the_verdict_an_evaluation_that_day_gave(
        store: Store, config: ServiceConfig, tmp_path: Path) -> None:
    store_plan(store, weekly_plan(TODAY, 6, [5.0, 6.0, 5.0, 6.0, 8.0], final_run_km=17.0))
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - id: spike\n    metric: longest_run_ratio_30d\n    warn: \"> 1.10\"\n"
        "    critical: \"> 2\"\n  - id: spike_when_rested\n    metric: longest_run_ratio_30d\n"
        "    warn: \"> 1.10\"\n    when: {all: [\"rest_days_7d >= 7\"]}\n", encoding="utf-8")
    rule_set = load_rules([rules])
    for day in (TODAY - timedelta(days=10), TODAY):
        report = run_evaluation(store, config, as_of=day, rules=[rules], dry_run=True)
        judged = {f.rule.id: (f.value, f.severity) for f in report.findings}
        with store.session() as session:
            explained = {rule.id: explain_rule(session, config, rule, "ana", day, 3)
                         for rule in rule_set.rules}
        for rule_id, verdicts in explained.items():
            assert [v.day for v in verdicts] == [day - timedelta(days=n) for n in (2, 1, 0)]
            assert (verdicts[-1].value, verdicts[-1].severity) == judged[rule_id]
    assert judged == {"spike": (pytest.approx(17 / 8, rel=1e-3), "critical"),
                      "spike_when_rested": (pytest.approx(17 / 8, rel=1e-3), None)}
    assert [v.held_back_by_when for v in explained["spike_when_rested"]] == [False, False, True]
    assert not any(v.held_back_by_when for v in explained["spike"])
