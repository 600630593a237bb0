"""Load rules files and the advice library with file:line:col errors; test-render every template."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from config.loader import ConfigError, format_key_path, load_yaml_tree, node_position, validate_tree
from rules.schema import AdviceLibrary, Rule, RulesFile

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "config"
SHIPPED_RULES = SHIPPED_DIR / "rules.yaml"
SHIPPED_ADVICE = SHIPPED_DIR / "advice.yaml"

TEMPLATE_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
SAMPLE_CONTEXT = {
    "athlete": "ana", "athlete_name": "Ana", "value": 1.5, "threshold": 1.1, "unit": "×",
    "metric": "longest_run_ratio_30d", "severity": "warning", "as_of": "2026-11-21",
    "detail": {}, "rule": "sample",
}


@dataclass(frozen=True)
class RuleSet:
    """Validated rules with the files they came from, and the advice they may quote."""

    rules: tuple[Rule, ...]
    advice: AdviceLibrary
    files: tuple[Path, ...]


def render_summary(rule: Rule, context: dict[str, object]) -> str:
    if rule.summary is None:
        value, unit = context.get("value"), context.get("unit", "")
        return f"{rule.metric} is {value:g} {unit}".strip() if isinstance(
            value, int | float) else f"{rule.metric}: {value}"
    return TEMPLATE_ENV.from_string(rule.summary).render(**context).strip()


def load_advice(path: Path) -> AdviceLibrary:
    return validate_tree(AdviceLibrary, load_yaml_tree(path), path)


def _check_rules_against(tree: object, path: Path, rules_file: RulesFile,
                         advice: AdviceLibrary) -> list[str]:
    """Cross-file checks pydantic cannot do: advice keys exist, templates render."""
    errors: list[str] = []
    for index, rule in enumerate(rules_file.rules):
        for advice_index, key in enumerate(rule.advice):
            if key not in advice.advice:
                line, col = node_position(tree, ("rules", index, "advice", advice_index))
                known = ", ".join(advice.advice)
                errors.append(f"{path}:{line}:{col}: "
                              f"{format_key_path(('rules', index, 'advice', advice_index))}: "
                              f"unknown advice {key!r}; known advice: {known}")
        if rule.summary is not None:
            try:
                TEMPLATE_ENV.from_string(rule.summary).render(
                    **{**SAMPLE_CONTEXT, "detail": _AnyDetail()})
            except TemplateError as exc:
                line, col = node_position(tree, ("rules", index, "summary"))
                errors.append(f"{path}:{line}:{col}: "
                              f"{format_key_path(('rules', index, 'summary'))}: "
                              f"template error: {exc}")
    return errors


class _AnyDetail(dict):
    """Sample `detail` for test renders: any key exists (details differ per metric)."""

    def __getattr__(self, name: str) -> float:
        return 1.0

    def __getitem__(self, name: str) -> float:
        return 1.0


def load_rules(paths: list[Path] | None = None, advice_path: Path | None = None) -> RuleSet:
    """Validate every rules file (the shipped one when none is given); all errors at once."""
    rule_paths = list(paths) if paths else [SHIPPED_RULES]
    if advice_path is None:
        beside = rule_paths[0].parent / "advice.yaml"
        advice_path = beside if beside.is_file() else SHIPPED_ADVICE
    advice = load_advice(advice_path)
    errors: list[str] = []
    rules: list[Rule] = []
    seen: dict[str, Path] = {}
    for path in rule_paths:
        try:
            tree = load_yaml_tree(path)
            rules_file = validate_tree(RulesFile, tree, path)
        except ConfigError as exc:
            errors.extend(exc.errors)
            continue
        errors.extend(_check_rules_against(tree, path, rules_file, advice))
        for index, rule in enumerate(rules_file.rules):
            if rule.id in seen:
                line, col = node_position(tree, ("rules", index, "id"))
                errors.append(f"{path}:{line}:{col}: rules[{index}].id: rule id {rule.id!r} "
                              f"is already defined in {seen[rule.id]}")
            seen[rule.id] = path
            rules.append(rule)
    if errors:
        raise ConfigError(errors)
    return RuleSet(tuple(rules), advice, tuple(rule_paths))
