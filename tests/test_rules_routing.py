"""Routing (`deliver: immediate | digest`) and the chart series an alert payload carries."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from test_rules import NOW, TODAY, fired, outbox_count, run_evaluation, store_plan

from config.schema import ServiceConfig
from fitwriter.synthetic import weekly_plan
from rules.loader import load_rules
from rules.schema import Rule
from store import Store


@pytest.fixture
def config(tmp_path: Path) -> ServiceConfig:
    return ServiceConfig(mail_dir=tmp_path / "mail")


def test_info_goes_to_the_digest_and_warn_or_critical_at_once_unless_a_rule_says() -> None:
    rule = Rule(id="r", metric="distance_7d_km", info="> 10", warn="> 20")
    assert [rule.delivery_for(s) for s in ("info", "warn", "critical")] == [
        "digest", "immediate", "immediate"]
    assert Rule(id="r", metric="distance_7d_km", warn="> 20",
                deliver="digest").delivery_for("warn") == "digest"
    shipped = {r.id: r.delivery_for(None) for r in load_rules().rules}
    for nudge in ("no_strength_7d", "strength_under_twice_a_week", "cadence_falling",
                  "gct_imbalance"):
        assert shipped[nudge] == "digest"
    for risk in ("single_run_spike", "weekly_progression", "monotony", "run_streak"):
        assert load_rules().rules[[r.id for r in load_rules().rules].index(risk)] \
            .delivery_for("warn") == "immediate"


def test_a_nudge_that_escalates_to_a_warning_leaves_the_digest_and_is_sent(
        store: Store, config: ServiceConfig, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text('rules:\n  - id: volume\n    metric: distance_7d_km\n    info: "> 20"\n'
                     '    warn: "> 40"\n', encoding="utf-8")
    store_plan(store, weekly_plan(TODAY - timedelta(days=7), 2, [8.0, 8.0, 9.0]))
    report = run_evaluation(store, config, rules=[rules], as_of=TODAY - timedelta(days=7),
                            now=NOW - timedelta(days=7))
    assert [(t.kind, t.deliver, t.notified) for t in report.transitions] == [
        ("fired", "digest", False)]
    assert outbox_count(store) == 0
    store_plan(store, weekly_plan(TODAY, 1, [15.0, 15.0, 16.0]))
    report = run_evaluation(store, config, rules=[rules])
    assert [(t.kind, t.deliver, t.notified) for t in report.transitions] == [
        ("escalated", "immediate", True)]
    assert fired(store)["volume"].deliver == "immediate"
    assert outbox_count(store) == 1  # the fallback .eml: the first message about it


def test_a_spike_alert_carries_its_chart_series(store: Store, config: ServiceConfig) -> None:
    store_plan(store, weekly_plan(TODAY, 6, [5.0, 6.0, 5.0, 6.0, 8.0], final_run_km=18.0))
    run_evaluation(store, config)
    chart = fired(store)["single_run_spike"].payload["chart"]
    assert chart["kind"] == "runs_against_longest"
    assert chart["reference_km"] == 8.0 and chart["run_km"][-1] == 18.0
    assert chart["highlight"][-1] is True and sum(chart["highlight"]) == 1
    assert [ratio for _label, ratio in chart["ratio_lines"]] == [1.1, 2.0]
    assert chart["last_day"] == TODAY.isoformat()
    assert "2.25×" in chart["title"]
    progression = fired(store)["weekly_progression"].payload["chart"]
    assert progression["kind"] == "weekly_distance"
    assert progression["distance_km"][-2:] == [30.0, 40.0]
    assert progression["limit_km"] == 39.0 and "30 %" in progression["limit_label"]


def test_a_steady_runners_year_keeps_the_nudges_out_of_the_inbox(store: Store,
                                                                  config: ServiceConfig) -> None:
    """A year of steady running with strength work in most weeks, arriving day by day and
    evaluated every evening with the shipped rules: the strength nudges are recorded for the
    digest, and nothing is sent on its own."""
    import random

    from sqlalchemy import select

    from fitwriter.synthetic import PlannedSession
    from notify.outbox import enqueue_alert
    from rules.evaluate import evaluate
    from store import Alert, OutboxMessage

    rng = random.Random(7)
    first_monday = TODAY - timedelta(days=7 * 52 - 1)
    by_day: dict = {}
    for week in range(52):
        monday = first_monday + timedelta(days=7 * week)
        scale = 1.0 + 0.1 * ((week % 4) - 1.5) / 1.5  # a four-week cycle, ±10 %
        for offset, km in ((1, 7), (3, 9), (5, 7), (6, 14)):
            by_day.setdefault(monday + timedelta(days=offset), []).append(PlannedSession(
                monday + timedelta(days=offset), "run",
                round(km * scale * rng.uniform(0.93, 1.07), 1), cadence_spm=rng.gauss(170, 1.5)))
        sessions = 2 if rng.random() < 0.7 else (1 if rng.random() < 0.6 else 0)
        for offset in (0, 4)[:sessions]:
            by_day.setdefault(monday + timedelta(days=offset), []).append(
                PlannedSession(monday + timedelta(days=offset), "strength"))
    rules = load_rules()
    for back in range(7 * 52 - 1, -1, -1):
        day = TODAY - timedelta(days=back)
        store_plan(store, by_day.get(day, []))
        evening = NOW - timedelta(days=back)
        evaluate(store, config, rules, now=evening,
                 enqueue=lambda session, alert, kind, at=evening: enqueue_alert(
                     session, config, alert, kind, at))
    with store.session() as session:
        episodes = [(a.rule_id, a.severity, a.deliver) for a in session.scalars(select(Alert))]
        messages = [row.alert.severity for row in session.scalars(select(OutboxMessage))]
    nudges = [e for e in episodes if e[2] == "digest"]
    assert len(nudges) >= 5 and {rule for rule, _s, _d in nudges} <= {
        "no_strength_7d", "strength_under_twice_a_week"}
    # nothing about this runner is a risk: not one email all year (the first month's runs are
    # not compared with a month that is not on record)
    assert messages == [] and [e for e in episodes if e[2] == "immediate"] == []


def test_a_digest_nudges_cooldown_never_holds_back_a_warning(
        store: Store, config: ServiceConfig, tmp_path: Path) -> None:
    """info (to the digest), resolved, then warn within the cooldown: the warning is sent."""
    rules = tmp_path / "rules.yaml"
    rules.write_text('rules:\n  - id: volume\n    metric: distance_7d_km\n    info: "> 20"\n'
                     '    warn: "> 40"\n    cooldown: 21d\n', encoding="utf-8")
    two_weeks_ago = TODAY - timedelta(days=14)
    store_plan(store, weekly_plan(two_weeks_ago, 1, [8.0, 8.0, 9.0]))
    run_evaluation(store, config, rules=[rules], as_of=two_weeks_ago,
                   now=NOW - timedelta(days=14))
    run_evaluation(store, config, rules=[rules], as_of=TODAY - timedelta(days=7),
                   now=NOW - timedelta(days=7))  # a quiet week: resolved
    store_plan(store, weekly_plan(TODAY, 1, [15.0, 15.0, 16.0]))
    report = run_evaluation(store, config, rules=[rules])
    assert [(t.kind, t.finding.severity, t.notified) for t in report.transitions] == [
        ("fired", "warn", True)]
    assert outbox_count(store) == 1
