"""Pydantic models of the rules file (DESIGN §5): one metric, thresholds per severity."""

from __future__ import annotations

import difflib
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from config.schema import Duration
from metrics import CATALOGUE

SEVERITIES = ("info", "warn", "critical")  # lowest first
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
}
_NUMBER = r"(-?\d+(?:\.\d+)?)"
_COMPARISON_RE = re.compile(rf"^\s*(>=|<=|>|<)\s*{_NUMBER}\s*$")
_OUTSIDE_RE = re.compile(rf"^\s*outside\s+{_NUMBER}\s*\.\.\s*{_NUMBER}\s*$")
_METRIC_CONDITION_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s+(.*)$")
CONDITION_HELP = '">", ">=", "<" or "<=" and a number (e.g. "> 1.10"), or "outside A..B"'


@dataclass(frozen=True)
class Condition:
    """A threshold such as `> 1.10` or `outside 47.8..52.2`: holds when the value meets it."""

    op: str
    threshold: float
    high: float | None = None  # the upper end of `outside A..B`

    def holds(self, value: float) -> bool:
        if self.op == "outside" and self.high is not None:
            return value < self.threshold or value > self.high
        return _OPERATORS[self.op](value, self.threshold)

    def bound(self, value: float) -> float:
        """The threshold the value is compared with (for `outside`, the nearer end)."""
        if self.op == "outside" and self.high is not None and value > self.high:
            return self.high
        return self.threshold

    def __str__(self) -> str:
        if self.op == "outside":
            return f"outside {self.threshold:g}..{self.high:g}"
        return f"{self.op} {self.threshold:g}"


def parse_condition(value: object) -> Condition:
    if isinstance(value, Condition):
        return value
    text = value if isinstance(value, str) else None
    if text is not None and (match := _COMPARISON_RE.match(text)):
        return Condition(match.group(1), float(match.group(2)))
    if text is not None and (match := _OUTSIDE_RE.match(text)):
        low, high = float(match.group(1)), float(match.group(2))
        if low >= high:
            raise ValueError(f"outside A..B needs A below B, got {text!r}")
        return Condition("outside", low, high)
    raise ValueError(f"expected {CONDITION_HELP}, got {value!r}")


def check_metric_name(name: str) -> str:
    if name in CATALOGUE:
        return name
    close = difflib.get_close_matches(name, list(CATALOGUE), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise ValueError(f"unknown metric {name!r}; {hint}valid metrics: {', '.join(CATALOGUE)}")


@dataclass(frozen=True)
class MetricCondition:
    """One condition of a rule's `when`, such as `rest_days_7d <= 3`."""

    metric: str
    condition: Condition

    def holds(self, value: float | None) -> bool:
        return value is not None and self.condition.holds(value)  # never on a null metric

    def __str__(self) -> str:
        return f"{self.metric} {self.condition}"


def parse_metric_condition(value: object) -> MetricCondition:
    if isinstance(value, MetricCondition):
        return value
    match = _METRIC_CONDITION_RE.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"expected \"METRIC OP NUMBER\" such as \"rest_days_7d <= 3\", "
                         f"got {value!r}")
    return MetricCondition(check_metric_name(match.group(1)), parse_condition(match.group(2)))


ConditionField = Annotated[Condition, BeforeValidator(parse_condition)]
MetricConditionField = Annotated[MetricCondition, BeforeValidator(parse_metric_condition)]


class When(BaseModel):
    """Extra conditions on other metrics: every one of `all`, and at least one of `any`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    all: list[MetricConditionField] = Field(default_factory=list)
    any: list[MetricConditionField] = Field(default_factory=list)

    @model_validator(mode="after")
    def _not_empty(self) -> When:
        if not self.all and not self.any:
            raise ValueError("`when` needs an `all` or an `any` list of conditions")
        return self

    def holds(self, values: Mapping[str, float | None]) -> bool:
        return (all(c.holds(values.get(c.metric)) for c in self.all)
                and (not self.any or any(c.holds(values.get(c.metric)) for c in self.any)))

    @property
    def conditions(self) -> list[MetricCondition]:
        return [*self.all, *self.any]

    @property
    def metrics(self) -> list[str]:
        return [c.metric for c in self.conditions]

    def __str__(self) -> str:
        """e.g. `rest_days_7d <= 3 and (monotony_7d > 2 or strength_sessions_7d < 1)`."""
        parts = [str(c) for c in self.all]
        if self.any:
            parts.append("(" + " or ".join(str(c) for c in self.any) + ")")
        return " and ".join(parts)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_]{0,63}$")
    description: str = ""
    metric: str
    info: ConditionField | None = None
    warn: ConditionField | None = None
    critical: ConditionField | None = None
    why: str = ""
    source: str = ""
    advice: list[str] = Field(default_factory=list)
    summary: str | None = None
    cooldown: Duration = timedelta(days=7)
    min_history: Duration = timedelta(0)
    athletes: list[str] | None = None
    when: When | None = None
    # the FIT sports whose activities count as runs for this rule's metrics (default: running)
    sports: list[Annotated[str, Field(min_length=1)]] | None = Field(default=None, min_length=1)
    # the daily load of load metrics (ACWR, monotony, strain, CTL/ATL/TSB): km, moving minutes
    # or session-RPE (RPE × minutes)
    load: Literal["distance", "time", "srpe"] = "distance"
    # channel kinds (email, webhook, file, ...): notify's registry is the list, which the loader
    # checks them against (rules/loader.py) with the channels' names in the message
    channels: list[str] | None = None
    # immediate: sent on its own; digest: recorded and shown in the next weekly digest (no
    # message of its own on any channel). Unset: info goes to the digest, warn and critical
    # are immediate (DESIGN §5), so an info nudge that escalates to warn is sent at once.
    deliver: Literal["immediate", "digest"] | None = None
    enabled: bool = True

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, name: str) -> str:
        return check_metric_name(name)

    @model_validator(mode="after")
    def _has_a_threshold(self) -> Rule:
        if self.info is None and self.warn is None and self.critical is None:
            raise ValueError("a rule needs at least one threshold: info, warn or critical")
        return self

    @field_validator("load")
    @classmethod
    def _load_needs_a_load_metric(cls, load: str, info: ValidationInfo) -> str:
        if "metric" not in info.data:
            return load  # the metric itself is wrong: that error says enough
        when = info.data.get("when")
        named = [info.data["metric"], *(when.metrics if when else [])]
        if load != "distance" and not any(name in CATALOGUE and CATALOGUE[name].uses_load
                                          for name in named):
            load_metrics = ", ".join(n for n, spec in CATALOGUE.items() if spec.uses_load)
            raise ValueError(f"{load!r} changes only the load metrics ({load_metrics}); "
                             f"{named[0]} does not use it")
        return load

    def thresholds(self, overrides: dict[str, object] | None = None) -> dict[str, Condition]:
        """Severity -> condition, lowest severity first, with per-athlete overrides applied."""
        merged: dict[str, Condition] = {}
        for severity in SEVERITIES:
            raw = (overrides or {}).get(severity, getattr(self, severity))
            if raw is not None and raw is not False:
                merged[severity] = parse_condition(raw)
        return merged

    def delivery_for(self, severity: str | None) -> str:
        """How a finding of this severity reaches the runner: `immediate` or `digest`."""
        if self.deliver is not None:
            return self.deliver
        return "digest" if severity == "info" else "immediate"

    def applies_to(self, athlete_id: str) -> bool:
        return self.enabled and (self.athletes is None or athlete_id in self.athletes)


class RulesFile(BaseModel):
    """One rules file: its rules, and other rules files to include (paths relative to it)."""

    model_config = ConfigDict(extra="forbid")

    include: list[str] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)  # ids unique across files: the loader checks


class AdviceBlock(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    text: str


class AdviceLibrary(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    advice: dict[str, AdviceBlock]
    see_a_professional: str
    disclaimer: str
