"""The pure judge: a rule, its metric's result and the athlete's history give a finding."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from metrics.result import MetricResult
from rules.schema import Condition, Rule

if TYPE_CHECKING:
    from metrics import History


@dataclass(frozen=True)
class Finding:
    """One rule's verdict for one athlete: the severity reached (or None) and the numbers."""

    rule: Rule
    athlete_id: str
    as_of: date
    severity: str | None
    value: float | None
    threshold: float | None  # the bound the value crossed (for `outside`, the nearer end)
    condition: str | None  # the crossed condition as written, e.g. "> 1.1"
    result: MetricResult
    held_back_by_when: bool = False  # a threshold holds, but the rule's `when` does not


def has_min_history(rule: Rule, history: History) -> bool:
    """The athlete's history reaches back the rule's `min_history` (as_of included)."""
    return (history.first_date is not None
            and history.as_of - history.first_date >= rule.min_history - timedelta(days=1))


def highest_threshold(rule: Rule, history: History, value: float | None,
                      overrides: dict[str, Any] | None) -> tuple[str, Condition] | None:
    """The highest severity whose threshold the value meets, with that threshold; never on a
    null value or before `min_history`."""
    if value is None or not has_min_history(rule, history):
        return None
    met = [(severity, condition) for severity, condition in rule.thresholds(overrides).items()
           if condition.holds(value)]
    return met[-1] if met else None  # thresholds come lowest severity first


def judge(rule: Rule, athlete_id: str, history: History, result: MetricResult,
          overrides: dict[str, Any] | None,
          metrics: Mapping[str, MetricResult] | None = None) -> Finding:
    """The highest severity whose condition holds; none on a null metric, before
    `min_history`, or when the rule's `when` conditions (on other `metrics`) do not hold."""
    value = result.value
    reached = highest_threshold(rule, history, value, overrides)
    when_holds = rule.when is None or rule.when.holds(
        {name: other.value for name, other in (metrics or {}).items()})
    fired = reached if when_holds else None
    return Finding(
        rule=rule,
        athlete_id=athlete_id,
        as_of=history.as_of,
        severity=fired[0] if fired else None,
        value=value,
        threshold=fired[1].bound(value) if fired and value is not None else None,
        condition=str(fired[1]) if fired else None,
        result=result,
        held_back_by_when=reached is not None and not when_holds,
    )
