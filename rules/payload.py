"""The alert payload: a finding as data (DESIGN §2.3), its summary, and the advice with numbers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from metrics import CATALOGUE
from metrics.result import MetricResult
from rules.chart import Chart
from rules.judge import Finding
from rules.loader import TEMPLATE_ENV, RuleSet
from rules.schema import Rule

if TYPE_CHECKING:
    from metrics import History

LONG_RUN_STEP = 1.1  # the next long run stays within 10 % of the longest recent one
CADENCE_STEP = 1.05  # raise cadence by about 5 % at a time


def advice_context(finding: Finding, metrics: Mapping[str, MetricResult],
                   history: History) -> dict[str, str]:
    """Numbers the advice texts quote: the next long run's ceiling, a cadence target.

    After a spike the ceiling comes from the run before the spike, not from the spike itself.
    """
    reference_km = finding.result.detail.get("longest_prior_30d_km")
    if reference_km is None:
        month_runs = [p for p in history.between(history.days_back(30), history.as_of)
                      if p.is_run]
        reference_km = max((p.distance_km for p in month_runs), default=None)
    cadence_spm = metrics["cadence_spm"].value
    return {
        "ceiling_km": f"about {reference_km * LONG_RUN_STEP:.1f} km" if reference_km else
                      "1.1 × your longest recent run",
        "cadence_target": f"from about {cadence_spm:.0f} to {cadence_spm * CADENCE_STEP:.0f} "
                          "steps/min" if cadence_spm else "about 5 % more steps per minute",
    }


def render_summary(rule: Rule, context: Mapping[str, object]) -> str:
    """The rule's `summary` template, or `metric is value unit` when it has none."""
    if rule.summary is None:
        value, unit = context.get("value"), context.get("unit", "")
        return f"{rule.metric} is {value:g} {unit}".strip() if isinstance(
            value, int | float) else f"{rule.metric}: {value}"
    return TEMPLATE_ENV.from_string(rule.summary).render(**context).strip()


def build_payload(finding: Finding, alert_id: str, athlete_name: str | None,
                  rule_set: RuleSet, advice: Mapping[str, str],
                  chart: Callable[[], Chart | None] | None = None) -> dict[str, Any]:
    """The alert as data (DESIGN §2.3 `data`), plus the texts an email needs; `advice` holds
    the numbers the advice texts quote (`advice_context`); `chart` computes the series of its
    chart (rules.chart.alert_chart), only when a payload is built."""
    rule = finding.rule
    spec = CATALOGUE[rule.metric]
    context = {
        "athlete": finding.athlete_id, "athlete_name": athlete_name or finding.athlete_id,
        "value": finding.value, "threshold": finding.threshold, "unit": spec.unit_for(rule.load),
        "metric": rule.metric, "severity": finding.severity, "as_of": finding.as_of.isoformat(),
        "detail": finding.result.detail, "rule": rule.id,
    }
    blocks = [
        {"key": key, "title": rule_set.advice.advice[key].title,
         "text": TEMPLATE_ENV.from_string(rule_set.advice.advice[key].text)
         .render(**advice).strip()}
        for key in rule.advice
    ]
    return {
        "alert_id": alert_id,
        "rule": rule.id,
        "athlete": finding.athlete_id,
        "athlete_name": context["athlete_name"],
        "severity": finding.severity,
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
        "deliver": rule.delivery_for(finding.severity),
        "chart": chart() if chart is not None else None,
    }
