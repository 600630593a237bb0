"""Evaluate rules per athlete and move each (rule, athlete) through inactive → firing → resolved."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.schema import ServiceConfig
from metrics import CATALOGUE, History, MetricResult, athlete_metrics, compute_all, load_history
from rules.loader import TEMPLATE_ENV, RuleSet, render_summary
from rules.schema import SEVERITIES, SEVERITY_LABEL, Rule
from store import Activity, Alert, Athlete, Store

log = logging.getLogger("strideguard.rules")

# notify's enqueue function, handed in by the caller: (session, alert, kind) -> None
Enqueue = Callable[[Session, Alert, str], None]


@dataclass(frozen=True)
class Finding:
    """One rule's verdict for one athlete: the severity reached (or None) and the numbers."""

    rule: Rule
    athlete_id: str
    as_of: date
    severity: str | None
    value: float | None
    threshold: float | None
    condition: str | None
    result: MetricResult


@dataclass
class Transition:
    """A state change the evaluation made (or, in a dry run, would make)."""

    kind: str  # fired | escalated | resolved
    finding: Finding
    alert_id: str
    notified: bool
    silenced_reason: str | None = None
    summary: str = ""


@dataclass(frozen=True)
class Retired:
    """An open alert resolved because its rule is no longer in force for the athlete."""

    rule_id: str
    athlete_id: str
    alert_id: str


@dataclass
class EvaluationReport:
    transitions: list[Transition] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    retired: list[Retired] = field(default_factory=list)


def local_today(timezone_name: str, now: datetime) -> date:
    return now.astimezone(ZoneInfo(timezone_name)).date()


def has_min_history(rule: Rule, history: History) -> bool:
    """The athlete's history reaches back the rule's `min_history` (as_of included)."""
    return (history.first_date is not None
            and history.as_of - history.first_date >= rule.min_history - timedelta(days=1))


def judge(rule: Rule, athlete_id: str, history: History, result: MetricResult,
          overrides: dict[str, Any] | None,
          metrics: Mapping[str, MetricResult] | None = None) -> Finding:
    """The highest severity whose condition holds; never fires on a null metric, before
    `min_history`, or when the rule's `when` conditions (on other metrics) do not hold."""
    reached: tuple[str, float, str] | None = None
    enough_history = has_min_history(rule, history)
    when_holds = rule.when is None or rule.when.holds(
        {name: r.value for name, r in (metrics or {}).items()})
    if result.value is not None and enough_history and when_holds:
        for severity, condition in rule.thresholds(overrides).items():
            if condition.holds(result.value):
                reached = (severity, condition.bound(result.value), str(condition))
    return Finding(rule, athlete_id, history.as_of,
                   reached[0] if reached else None, result.value,
                   reached[1] if reached else None, reached[2] if reached else None, result)


def _advice_context(finding: Finding, metrics: dict[str, MetricResult],
                    history: History) -> dict[str, str]:
    """Numbers the advice texts quote: the next long run's ceiling, a cadence target.

    After a spike the ceiling comes from the run before the spike, not from the spike itself.
    """
    reference_km = finding.result.detail.get("longest_prior_30d_km")
    if reference_km is None:
        month_runs = [p for p in history.between(history.days_back(30), history.as_of)
                      if p.is_run]
        reference_km = max((p.distance_km for p in month_runs), default=None)
    cadence = metrics["cadence_spm"].value
    return {
        "ceiling_km": f"about {reference_km * 1.1:.1f} km" if reference_km else
                      "1.1 × your longest recent run",
        "cadence_target": f"from about {cadence:.0f} to {cadence * 1.05:.0f} steps/min"
                          if cadence else "about 5 % more steps per minute",
    }


def build_payload(finding: Finding, alert_id: str, athlete_name: str | None,
                  rule_set: RuleSet, advice_context: dict[str, str]) -> dict[str, Any]:
    """The alert as data (DESIGN §2.3 `data`), plus the texts an email needs."""
    rule = finding.rule
    spec = CATALOGUE[rule.metric]
    context = {
        "athlete": finding.athlete_id, "athlete_name": athlete_name or finding.athlete_id,
        "value": finding.value, "threshold": finding.threshold, "unit": spec.unit_for(rule.load),
        "metric": rule.metric, "severity": SEVERITY_LABEL.get(finding.severity or "", "info"),
        "as_of": finding.as_of.isoformat(), "detail": finding.result.detail, "rule": rule.id,
    }
    blocks = [
        {"key": key, "title": rule_set.advice.advice[key].title,
         "text": TEMPLATE_ENV.from_string(rule_set.advice.advice[key].text)
         .render(**advice_context).strip()}
        for key in rule.advice
    ]
    return {
        "alert_id": alert_id,
        "rule": rule.id,
        "athlete": finding.athlete_id,
        "athlete_name": context["athlete_name"],
        "severity": context["severity"],
        "metric": rule.metric,
        "metric_meaning": spec.meaning,
        "unit": spec.unit_for(rule.load),
        "load": rule.load,
        "value": finding.value,
        "threshold": finding.threshold,
        "condition": finding.condition,
        "as_of": finding.as_of.isoformat(),
        "summary": render_summary(rule, context),
        "description": rule.description,
        "why": rule.why.strip(),
        "source": rule.source,
        "advice": [f"{block['title']}: {block['text']}" for block in blocks],
        "advice_blocks": blocks,
        "see_a_professional": rule_set.advice.see_a_professional.strip(),
        "disclaimer": rule_set.advice.disclaimer.strip(),
        "detail": finding.result.detail,
        "activity_ids": [str(i) for i in finding.result.activity_ids],
        "when": [str(c) for c in rule.when.conditions] if rule.when else [],
        "channels": list(rule.channels) if rule.channels is not None else None,
    }


def _data_time(session: Session, finding: Finding, history: History) -> datetime | None:
    """When the data behind the finding was recorded: its newest activity, else the newest."""
    if finding.result.activity_ids:
        newest = session.scalar(select(func.max(Activity.start_utc)).where(
            Activity.id.in_(finding.result.activity_ids)))
        if newest is not None:
            return newest if newest.tzinfo else newest.replace(tzinfo=UTC)
    return history.newest_start_utc


def _stale_reason(session: Session, finding: Finding, history: History, now: datetime,
                  max_alert_age: timedelta) -> str | None:
    """Data older than max_alert_age (a backfill, a late upload) is recorded, not sent."""
    data_time = _data_time(session, finding, history)
    if data_time is not None and now - data_time > max_alert_age:
        return (f"data from {data_time.date().isoformat()} is older than max_alert_age "
                f"({max_alert_age.days} d)")
    return None


def _cooldown_reason(session: Session, finding: Finding, now: datetime) -> str | None:
    """A new episode within the rule's cooldown of the last notified one is not sent again."""
    last_notified = session.scalar(
        select(func.max(Alert.fired_at)).where(
            Alert.rule_id == finding.rule.id, Alert.athlete_id == finding.athlete_id,
            Alert.silenced_reason.is_(None)))
    if last_notified is not None and now - last_notified < finding.rule.cooldown:
        return f"within the rule's cooldown after the alert of {last_notified.date().isoformat()}"
    return None


def _severity_rank(severity: str | None) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


def _athlete_ids(session: Session, config: ServiceConfig) -> list[str]:
    stored = set(session.scalars(select(Athlete.id)).all())
    return sorted(stored | {a.id for a in config.athletes})


def _continue_episode(session: Session, config: ServiceConfig, rule_set: RuleSet,
                      finding: Finding, alert: Alert, history: History, now: datetime,
                      enqueue: Enqueue | None, report: EvaluationReport,
                      advice_context: dict[str, str], athlete_name: str | None) -> None:
    """The condition still holds: quiet, unless it escalated or a silenced episode may now speak.

    An episode recorded silently (stale backfill data, cooldown) is notified once fresh data
    keeps it firing, e.g. a new run today after a year of old files.
    """
    escalated = _severity_rank(finding.severity) > _severity_rank(alert.severity)
    alert.value = finding.value
    silenced_before = alert.silenced_reason
    if escalated or silenced_before:
        alert.severity, alert.threshold, alert.as_of = (finding.severity, finding.threshold,
                                                        finding.as_of)
        alert.payload = build_payload(finding, alert.id, athlete_name, rule_set, advice_context)
    if silenced_before:
        alert.silenced_reason = (_stale_reason(session, finding, history, now,
                                               config.max_alert_age)
                                 or _cooldown_reason(session, finding, now))
        if alert.silenced_reason:
            return
        alert.fired_at = now  # the episode is notified now; cooldowns count from here
    elif not escalated or _stale_reason(session, finding, history, now, config.max_alert_age):
        return
    if enqueue:
        enqueue(session, alert, "firing")
    report.transitions.append(Transition("escalated" if escalated else "fired", finding,
                                         alert.id, True, None, alert.payload["summary"]))


def evaluate_athlete(session: Session, config: ServiceConfig, rule_set: RuleSet,
                     athlete_id: str, as_of: date | None, now: datetime,
                     enqueue: Enqueue | None, report: EvaluationReport,
                     rule_id: str | None = None) -> None:
    timezone_name = config.timezone_for(athlete_id)
    day = as_of or local_today(timezone_name, now)
    default_history, default_metrics = athlete_metrics(session, athlete_id, timezone_name, day)
    variants: dict[tuple[frozenset[str], str], tuple[History, dict[str, MetricResult]]] = {}
    athlete_cfg = config.athlete(athlete_id)
    for rule in rule_set.rules:
        if not rule.applies_to(athlete_id) or rule_id not in (None, rule.id):
            continue
        history, metrics = default_history, default_metrics
        if rule.sports is not None or rule.load != "distance":  # metrics of their own
            key = (frozenset(rule.sports or ()), rule.load)
            if key not in variants:
                counted = (default_history if rule.sports is None
                           else default_history.counting_as_runs(rule.sports))
                variants[key] = counted, compute_all(counted, rule.load)
            history, metrics = variants[key]
        overrides = config.overrides_for(athlete_id, rule.id)
        finding = judge(rule, athlete_id, history, metrics[rule.metric], overrides, metrics)
        report.findings.append(finding)
        advice_context = _advice_context(finding, metrics, history)
        open_alert = session.scalars(select(Alert).where(
            Alert.rule_id == rule.id, Alert.athlete_id == athlete_id,
            Alert.resolved_at.is_(None))).first()
        if open_alert is not None and open_alert.as_of > day:
            continue  # evaluating the past never rewrites what a later evaluation decided
        name = athlete_cfg.name if athlete_cfg else None

        if finding.severity and open_alert is None:
            episode = (session.scalar(select(func.max(Alert.episode)).where(
                Alert.rule_id == rule.id, Alert.athlete_id == athlete_id)) or 0) + 1
            alert_id = str(uuid.uuid4())
            payload = build_payload(finding, alert_id, name, rule_set, advice_context)
            silenced = (_stale_reason(session, finding, history, now, config.max_alert_age)
                        or _cooldown_reason(session, finding, now))
            alert = Alert(id=alert_id, rule_id=rule.id, athlete_id=athlete_id, episode=episode,
                          severity=finding.severity, metric=rule.metric, value=finding.value,
                          threshold=finding.threshold, as_of=day, fired_at=now,
                          silenced_reason=silenced, payload=payload)
            session.add(alert)
            session.flush()
            if enqueue and not silenced:
                enqueue(session, alert, "firing")
            report.transitions.append(Transition("fired", finding, alert_id, not silenced,
                                                 silenced, payload["summary"]))
        elif finding.severity and open_alert is not None:
            _continue_episode(session, config, rule_set, finding, open_alert, history, now,
                              enqueue, report, advice_context, name)
        elif finding.severity is None and open_alert is not None:
            open_alert.resolved_at = now
            if enqueue and open_alert.silenced_reason is None:
                enqueue(session, open_alert, "resolved")
            report.transitions.append(Transition("resolved", finding, open_alert.id,
                                                 open_alert.silenced_reason is None))
    if rule_id is None:
        _resolve_orphans(session, rule_set, athlete_id, now, enqueue, report)


def _resolve_orphans(session: Session, rule_set: RuleSet, athlete_id: str, now: datetime,
                     enqueue: Enqueue | None, report: EvaluationReport) -> None:
    """Alerts of a rule that was removed, disabled or narrowed to other athletes resolve:
    nothing will ever clear them otherwise (webhooks told of the firing hear of it)."""
    active = [rule.id for rule in rule_set.rules if rule.applies_to(athlete_id)]
    for orphan in session.scalars(select(Alert).where(
            Alert.athlete_id == athlete_id, Alert.resolved_at.is_(None),
            Alert.rule_id.not_in(active))):
        orphan.resolved_at = now
        if enqueue and orphan.silenced_reason is None:
            enqueue(session, orphan, "resolved")
        report.retired.append(Retired(orphan.rule_id, athlete_id, orphan.id))


def evaluate(store: Store, config: ServiceConfig, rule_set: RuleSet, *,
             as_of: date | None = None, now: datetime | None = None,
             enqueue: Enqueue | None = None, dry_run: bool = False,
             athlete_id: str | None = None, rule_id: str | None = None) -> EvaluationReport:
    """One evaluation pass; alerts and their outbox rows are written in one transaction.

    A dry run computes the same transitions and rolls everything back.
    """
    moment = now or datetime.now(UTC)
    report = EvaluationReport()
    with store.session_factory() as session:
        athletes = [athlete_id] if athlete_id else _athlete_ids(session, config)
        for each in athletes:
            if session.get(Athlete, each) is None:
                session.add(Athlete(id=each))
                session.flush()
            evaluate_athlete(session, config, rule_set, each, as_of, moment,
                             None if dry_run else enqueue, report, rule_id)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    if dry_run:
        return report
    for transition in report.transitions:
        log.info("%s %s for %s (%s)%s", transition.kind, transition.finding.rule.id,
                 transition.finding.athlete_id, transition.summary,
                 f" silenced: {transition.silenced_reason}" if transition.silenced_reason else "")
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
    days would have seen it (later activities ignored), with the severity reached."""
    timezone_name = config.timezone_for(athlete_id)
    full = load_history(session, athlete_id, timezone_name, as_of)
    if rule.sports is not None:
        full = full.counting_as_runs(rule.sports)
    overrides = config.overrides_for(athlete_id, rule.id)
    needed = [rule.metric, *(rule.when.metrics if rule.when else [])]
    verdicts = []
    for back in range(days - 1, -1, -1):
        day = as_of - timedelta(days=back)
        history = History(day, tuple(p for p in full.points if p.local_date <= day))
        metrics = {name: CATALOGUE[name].value(history, rule.load)
                   for name in dict.fromkeys(needed)}
        finding = judge(rule, athlete_id, history, metrics[rule.metric], overrides, metrics)
        when_holds = rule.when is None or rule.when.holds(
            {name: r.value for name, r in metrics.items()})
        threshold_holds = has_min_history(rule, history) and finding.value is not None and any(
            c.holds(finding.value) for c in rule.thresholds(overrides).values())
        verdicts.append(DayVerdict(day, finding.value, finding.severity,
                                   threshold_holds and not when_holds))
    return verdicts
