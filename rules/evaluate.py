"""Running the judge over athletes' metrics: the evaluation pass, and `explain`'s day by day."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
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
from store.evaluation_claims import finish_claim, lock_athlete, next_claim, open_claims
from store.queries import athlete_ids
from store.silences import list_silences

log = logging.getLogger("strideguard.rules")

Metrics = dict[str, MetricResult]


@dataclass
class EvaluationReport:
    """What one evaluation pass (of this process) did, or in a dry run would do."""

    transitions: list[Transition] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    retired: list[Retired] = field(default_factory=list)
    athletes_evaluated: int = 0  # by this process, in this pass (committed or dry run)
    failed: list[str] = field(default_factory=list)  # athletes whose evaluation raised (logged)
    dry_run: bool = False


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


@dataclass(frozen=True)
class _Pass:
    """What every athlete's evaluation in one pass shares."""

    store: Store
    config: ServiceConfig
    rule_set: RuleSet
    moment: datetime
    as_of: date | None
    enqueue: Enqueue | None
    announce: Announce | None
    dry_run: bool
    rule_id: str | None


def _judge_athlete(session: Session, run: _Pass, athlete_id: str) -> EvaluationReport:
    """One athlete, in the session's transaction (the caller locked the athlete and ends it)."""
    part = EvaluationReport(athletes_evaluated=1, dry_run=run.dry_run)
    states = AlertStates(session=session, now=run.moment, max_alert_age=run.config.max_alert_age,
                         enqueue=None if run.dry_run else run.enqueue)
    day = run.as_of or local_today(run.config.timezone_for(athlete_id), run.moment)
    _evaluate_athlete(session, run.config, run.rule_set, athlete_id, day, states, part,
                      run.rule_id)
    if run.announce is not None and not run.dry_run and run.rule_id is None:
        _announce_endings(session, run.config, run.rule_set, athlete_id, run.moment,
                          run.announce)
    return part


def _database_trouble(exc: Exception) -> bool:
    """A failure of the database rather than of one athlete's data: it ends the pass (the
    athletes left, and their claims, wait for the next one) instead of being skipped."""
    return isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated)


def _skipped(athlete_id: str, exc: Exception) -> None:
    if _database_trouble(exc):
        raise exc
    log.error("%s: the evaluation failed and was skipped: %s", athlete_id, exc, exc_info=exc,
              extra={"athlete": athlete_id})


def _evaluate_one(run: _Pass, athlete_id: str) -> EvaluationReport | None:
    """One athlete in its own transaction, after any other evaluation of it has committed
    (store.evaluation_claims.lock_athlete); None when it failed (logged, rolled back). A dry
    run locks nothing and rolls back."""
    with run.store.session_factory() as session:
        try:
            if run.dry_run:
                ensure_athlete(session, athlete_id)
            else:
                lock_athlete(session, athlete_id)
            part = _judge_athlete(session, run, athlete_id)
            if run.dry_run:
                session.rollback()
            else:
                session.commit()
            return part
        except Exception as exc:  # one athlete's failure must not cost the others theirs
            session.rollback()
            _skipped(athlete_id, exc)
            return None


def _claimed_once(run: _Pass, trigger: str, worker_id: str,
                  skip: set[str]) -> tuple[str | None, EvaluationReport | None]:
    """Take one open claim of `trigger`, evaluate its athlete and mark it done, in one
    transaction: (the athlete, its report), (the athlete, None) when its evaluation failed
    (the claim is closed as failed), (None, None) when no open claim is free."""
    with run.store.session_factory() as session:
        athlete_id = next_claim(session, trigger, skip)
        if athlete_id is None:
            session.rollback()
            return None, None
        try:
            # a savepoint: a failure rolls back the athlete's work, never the claim's lock, so
            # no other process takes the claim between the failure and its closing
            with session.begin_nested():
                lock_athlete(session, athlete_id)
                part = _judge_athlete(session, run, athlete_id)
        except Exception as exc:  # one athlete's failure must not cost the others theirs
            _skipped(athlete_id, exc)
            skip.add(athlete_id)
            finish_claim(session, trigger, athlete_id, worker_id, failed=True)
            session.commit()
            return athlete_id, None
        finish_claim(session, trigger, athlete_id, worker_id)
        session.commit()
        return athlete_id, part


def _work_claims(run: _Pass, trigger: str, worker_id: str, report: EvaluationReport,
                 should_continue: Callable[[], bool]) -> None:
    """Evaluate open claims of `trigger` one athlete at a time until none is free (the ones
    other processes hold are theirs) or `should_continue` says stop (what is left stays open
    for the others, or the next sweep)."""
    skip: set[str] = set()
    while should_continue():
        athlete_id, part = _claimed_once(run, trigger, worker_id, skip)
        if athlete_id is None:
            return
        _take(report, part, athlete_id)


def _take(report: EvaluationReport, part: EvaluationReport | None, athlete_id: str) -> None:
    """Add one athlete's committed evaluation to the pass's report, and log its changes."""
    if part is None:
        report.failed.append(athlete_id)
        return
    report.transitions += part.transitions
    report.findings += part.findings
    report.retired += part.retired
    report.athletes_evaluated += part.athletes_evaluated
    if not part.dry_run:
        _log_changes(part)


def _log_changes(part: EvaluationReport) -> None:
    for transition in part.transitions:
        held = (f" silenced: {transition.silenced_reason}" if transition.silenced_reason
                else " (for the weekly digest)" if transition.deliver == "digest" else "")
        log.info("%s %s for %s (%s)%s", transition.kind, transition.finding.rule.id,
                 transition.finding.athlete_id, transition.summary, held,
                 extra={"athlete": transition.finding.athlete_id,
                        "rule": transition.finding.rule.id})
    for retired in part.retired:
        log.info("resolved %s for %s: the rule is no longer in force", retired.rule_id,
                 retired.athlete_id, extra={"athlete": retired.athlete_id,
                                            "rule": retired.rule_id})


def evaluate(store: Store, config: ServiceConfig, rule_set: RuleSet, *,
             as_of: date | None = None, now: datetime | None = None,
             enqueue: Enqueue | None = None, dry_run: bool = False,
             athlete_id: str | None = None, rule_id: str | None = None,
             announce: Announce | None = None, athletes: Iterable[str] | None = None,
             trigger: str | None = None, worker_id: str = "",
             should_continue: Callable[[], bool] = lambda: True) -> EvaluationReport:
    """One evaluation pass: each athlete in its own transaction, which writes its alerts and
    their outbox rows and holds the athlete (no other evaluation of it, in any process, runs
    meanwhile: they take turns, so nothing is fired or queued twice).

    Which athletes: `athlete_id`, else `athletes` (those an ingest batch touched), else every
    athlete. With `trigger` (a scheduled evaluation every process meets: rules.triggers), those
    athletes' claims are opened, then every open claim of the trigger is worked, one athlete
    at a time, by whichever process takes it first (`worker_id` is recorded as the doer): each
    athlete is evaluated once per trigger however many processes share the store. A sweep
    passes `athletes=()` to finish what others left open.

    A dry run computes the same transitions and rolls everything back. `announce` queues the
    notice that a silence ends within a day (once per silence). An athlete whose evaluation
    raises is logged, rolled back and listed in `report.failed`; the others go on. A database
    that fails ends the pass with its error. `should_continue` is asked between athletes.
    """
    if trigger is not None and (dry_run or athlete_id or rule_id or as_of):
        raise ValueError("a triggered evaluation is the whole rule set as of today, stored")
    run = _Pass(store, config, rule_set, now or datetime.now(UTC), as_of, enqueue, announce,
                dry_run, rule_id)
    report = EvaluationReport(dry_run=dry_run)
    if athlete_id is not None:
        ids = [athlete_id]
    elif athletes is not None:
        ids = list(dict.fromkeys(athletes))
    else:
        with store.session() as session:
            ids = athlete_ids(session, (a.id for a in config.athletes))
    if trigger is not None:
        if ids:
            with store.session() as session:
                open_claims(session, trigger, ids)
        _work_claims(run, trigger, worker_id, report, should_continue)
        return report
    for each in ids:
        if not should_continue():
            break
        _take(report, _evaluate_one(run, each), each)
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
