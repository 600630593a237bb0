"""Running the judge over athletes' metrics: the evaluation pass, and `explain`'s day by day."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial

from sqlalchemy.orm import Session

from config.schema import ServiceConfig
from metrics import CATALOGUE, History, MetricResult, athlete_metrics, compute_all, load_history
from metrics.history import local_date_of
from rules.alerts import AlertStates, Enqueue, Retired, Transition
from rules.chart import alert_chart
from rules.judge import Finding, judge
from rules.loader import RuleSet
from rules.payload import advice_context, build_payload
from rules.schema import Rule
from rules.silences import ActiveSilence, Announce, ending_notices, rule_groups
from store import Store, ensure_athlete
from store.queries import athlete_ids
from store.silences import list_silences

log = logging.getLogger("strideguard.rules")

Metrics = dict[str, MetricResult]


@dataclass
class EvaluationReport:
    transitions: list[Transition] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    retired: list[Retired] = field(default_factory=list)


def local_today(timezone_name: str, now: datetime) -> date:
    return local_date_of(now, timezone_name)


class _RuleInputs:
    """The history and metrics each rule sees: the athlete's default ones, or, for a rule that
    counts other sports as runs or takes another load, its own (computed once per variant)."""

    def __init__(self, history: History, metrics: Metrics) -> None:
        self.default = history, metrics
        self._variants: dict[tuple[frozenset[str], str], tuple[History, Metrics]] = {}

    def for_rule(self, rule: Rule) -> tuple[History, Metrics]:
        if rule.sports is None and rule.load == "distance":
            return self.default
        key = (frozenset(rule.sports or ()), rule.load)
        if key not in self._variants:
            history = self.default[0]
            counted = history if rule.sports is None else history.counting_as_runs(rule.sports)
            self._variants[key] = counted, compute_all(counted, rule.load)
        return self._variants[key]


def _evaluate_athlete(session: Session, config: ServiceConfig, rule_set: RuleSet,
                      athlete_id: str, day: date, states: AlertStates,
                      report: EvaluationReport, rule_id: str | None = None) -> None:
    """Judge every rule in force for the athlete (or only `rule_id`) as of the local `day`,
    and move their alerts on (the athlete's silences in force are read once, here)."""
    timezone_name = config.timezone_for(athlete_id)
    states.silences[athlete_id] = tuple(
        ActiveSilence.of(silence, timezone_name)
        for silence in list_silences(session, athlete_id=athlete_id, active_at=states.now))
    inputs = _RuleInputs(*athlete_metrics(session, athlete_id, timezone_name, day))
    athlete_cfg = config.athlete(athlete_id)
    name = athlete_cfg.name if athlete_cfg else None
    for rule in rule_set.rules:
        if not rule.applies_to(athlete_id) or rule_id not in (None, rule.id):
            continue
        history, metrics = inputs.for_rule(rule)
        finding = judge(rule, athlete_id, history, metrics[rule.metric],
                        config.overrides_for(athlete_id, rule.id), metrics)
        report.findings.append(finding)
        overrides = config.overrides_for(athlete_id, rule.id)
        payload_for = partial(build_payload, finding, athlete_name=name, rule_set=rule_set,
                              advice=advice_context(finding, metrics, history),
                              chart=partial(alert_chart, finding, history, overrides))
        transition = states.advance(finding, history, payload_for)
        if transition is not None:
            report.transitions.append(transition)
    if rule_id is None:
        in_force = [rule.id for rule in rule_set.rules if rule.applies_to(athlete_id)]
        report.retired.extend(states.retire(athlete_id, in_force))


def _announce_endings(session: Session, config: ServiceConfig, rule_set: RuleSet,
                      athlete_id: str, now: datetime, announce: Announce) -> None:
    athlete_cfg = config.athlete(athlete_id)
    name = athlete_cfg.name if athlete_cfg and athlete_cfg.name else athlete_id
    for key, notice in ending_notices(session, athlete_id, name, config.timezone_for(athlete_id),
                                      now, rule_groups(list(config.rules)),
                                      rule_set.advice.disclaimer.strip()):
        announce(session, notice, key)
        log.info("%s: told that silence %s ends within a day", athlete_id, notice["silence_id"])


def evaluate(store: Store, config: ServiceConfig, rule_set: RuleSet, *,
             as_of: date | None = None, now: datetime | None = None,
             enqueue: Enqueue | None = None, dry_run: bool = False,
             athlete_id: str | None = None, rule_id: str | None = None,
             announce: Announce | None = None) -> EvaluationReport:
    """One evaluation pass; alerts and their outbox rows are written in one transaction.

    A dry run computes the same transitions and rolls everything back. `announce` queues the
    notice that a silence ends within a day (once per silence).
    """
    moment = now or datetime.now(UTC)
    report = EvaluationReport()
    with store.session_factory() as session:
        states = AlertStates(session=session, now=moment, max_alert_age=config.max_alert_age,
                             enqueue=None if dry_run else enqueue)
        ids = [athlete_id] if athlete_id else athlete_ids(session, (a.id for a in config.athletes))
        for each in ids:
            ensure_athlete(session, each)
            day = as_of or local_today(config.timezone_for(each), moment)
            _evaluate_athlete(session, config, rule_set, each, day, states, report, rule_id)
            if announce is not None and not dry_run and rule_id is None:
                _announce_endings(session, config, rule_set, each, moment, announce)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    if dry_run:
        return report
    for transition in report.transitions:
        held = (f" silenced: {transition.silenced_reason}" if transition.silenced_reason
                else " (for the weekly digest)" if transition.deliver == "digest" else "")
        log.info("%s %s for %s (%s)%s", transition.kind, transition.finding.rule.id,
                 transition.finding.athlete_id, transition.summary, held)
    for retired in report.retired:
        log.info("resolved %s for %s: the rule is no longer in force", retired.rule_id,
                 retired.athlete_id)
    return report


@dataclass(frozen=True)
class DayVerdict:
    """One day of `explain`: the metric's value then, and the severity the rule gave it."""

    day: date
    value: float | None
    severity: str | None
    held_back_by_when: bool  # a threshold holds, but the rule's `when` does not


def explain_rule(session: Session, config: ServiceConfig, rule: Rule, athlete_id: str,
                 as_of: date, days: int) -> list[DayVerdict]:
    """The rule's metric on each of the `days` local days up to as_of, as evaluations on those
    days would have seen it (later activities ignored), with the severity the judge gave."""
    full = load_history(session, athlete_id, config.timezone_for(athlete_id), as_of)
    if rule.sports is not None:
        full = full.counting_as_runs(rule.sports)
    overrides = config.overrides_for(athlete_id, rule.id)
    needed = dict.fromkeys([rule.metric, *(rule.when.metrics if rule.when else [])])
    verdicts = []
    for back in range(days - 1, -1, -1):
        day = as_of - timedelta(days=back)
        history = full.up_to(day)
        metrics = {name: CATALOGUE[name].value(history, rule.load) for name in needed}
        finding = judge(rule, athlete_id, history, metrics[rule.metric], overrides, metrics)
        verdicts.append(DayVerdict(day=day, value=finding.value, severity=finding.severity,
                                   held_back_by_when=finding.held_back_by_when))
    return verdicts
