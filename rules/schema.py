"""Pydantic models of the rules file (DESIGN §5): one metric, thresholds per severity."""

from __future__ import annotations

import difflib
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from config.schema import Duration, first_repeated
from metrics import CATALOGUE

SEVERITIES = ("info", "warn", "critical")  # lowest first
SEVERITY_LABEL = {"info": "info", "warn": "warning", "critical": "critical"}
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
}
_CONDITION_RE = re.compile(r"^\s*(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class Condition:
    """A threshold such as `> 1.10`: holds when `value OP threshold`."""

    op: str
    threshold: float

    def holds(self, value: float) -> bool:
        return _OPERATORS[self.op](value, self.threshold)

    def __str__(self) -> str:
        return f"{self.op} {self.threshold:g}"


def parse_condition(value: object) -> Condition:
    if isinstance(value, Condition):
        return value
    match = _CONDITION_RE.match(str(value)) if isinstance(value, str) else None
    if match is None:
        raise ValueError(
            f"expected a comparison such as \"> 1.10\" (one of >, >=, <, <= and a number), "
            f"got {value!r}"
        )
    return Condition(match.group(1), float(match.group(2)))


ConditionField = Annotated[Condition, BeforeValidator(parse_condition)]


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
    enabled: bool = True

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, name: str) -> str:
        if name in CATALOGUE:
            return name
        close = difflib.get_close_matches(name, list(CATALOGUE), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(f"unknown metric {name!r}; {hint}valid metrics: {', '.join(CATALOGUE)}")

    @model_validator(mode="after")
    def _has_a_threshold(self) -> Rule:
        if self.info is None and self.warn is None and self.critical is None:
            raise ValueError("a rule needs at least one threshold: info, warn or critical")
        return self

    def thresholds(self, overrides: dict[str, object] | None = None) -> dict[str, Condition]:
        """Severity -> condition, lowest severity first, with per-athlete overrides applied."""
        merged: dict[str, Condition] = {}
        for severity in SEVERITIES:
            raw = (overrides or {}).get(severity, getattr(self, severity))
            if raw is not None and raw is not False:
                merged[severity] = parse_condition(raw)
        return merged

    def applies_to(self, athlete_id: str) -> bool:
        return self.enabled and (self.athletes is None or athlete_id in self.athletes)


class RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Rule]

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, rules: list[Rule]) -> list[Rule]:
        repeated = first_repeated(rule.id for rule in rules)
        if repeated is not None:
            raise ValueError(f"rule id {repeated!r} is used twice")
        return rules


class AdviceBlock(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    text: str


class AdviceLibrary(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    advice: dict[str, AdviceBlock]
    see_a_professional: str
    disclaimer: str
