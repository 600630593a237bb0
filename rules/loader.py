"""Load rules files and the advice library with file:line:col errors; test-render every template."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from config.loader import ConfigError, format_key_path, load_yaml_tree, node_position, validate_tree
from rules.schema import AdviceLibrary, Rule, RulesFile

log = logging.getLogger("strideguard.rules")

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
    files: tuple[Path, ...]  # every rules file read (includes too) and the advice file
    stamps: tuple[tuple[str, int, int], ...] = ()  # (path, mtime_ns, size) before reading

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


Stamps = tuple[tuple[str, int, int], ...]


def file_stamps(paths: Iterable[Path]) -> Stamps:
    """(path, mtime_ns, size) per file; a missing file stamps as (path, -1, -1)."""
    stamps = []
    for path in paths:
        try:
            stat = path.stat()
            stamps.append((str(path), stat.st_mtime_ns, stat.st_size))
        except OSError:
            stamps.append((str(path), -1, -1))
    return tuple(stamps)


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


def _error_at(tree: object, path: Path, loc: tuple[str | int, ...], problem: str) -> str:
    line, col = node_position(tree, loc)
    return f"{path}:{line}:{col}: {format_key_path(loc)}: {problem}"


def _read_rules_file(path: Path, advice: AdviceLibrary, chain: tuple[Path, ...],
                     errors: list[str], found: list[tuple[Path, object, RulesFile]]) -> None:
    """Validate one file, then the files it includes (depth first, in order); collect errors.

    `chain` holds the files that include this one, to name an include cycle.
    """
    try:
        tree = load_yaml_tree(path)
        rules_file = validate_tree(RulesFile, tree, path)
    except ConfigError as exc:
        errors.extend(exc.errors)
        return
    errors.extend(_check_rules_against(tree, path, rules_file, advice))
    found.append((path, tree, rules_file))
    for index, name in enumerate(rules_file.include):
        included = (path.parent / name).resolve()
        loc: tuple[str | int, ...] = ("include", index)
        if included in (*chain, path):
            loop = (*chain, path)
            cycle = " -> ".join(str(p) for p in (*loop[loop.index(included):], included))
            errors.append(_error_at(tree, path, loc, f"include cycle: {cycle}"))
        elif not included.is_file():
            errors.append(_error_at(tree, path, loc, f"included file not found: {included}"))
        else:
            _read_rules_file(included, advice, (*chain, path), errors, found)


def load_rules(paths: list[Path] | None = None, advice_path: Path | None = None) -> RuleSet:
    """Validate every rules file (the shipped one when none is given) and the files they
    include; all errors at once, each as `file:line:col: key.path: problem`."""
    rule_paths = [Path(p).resolve() for p in paths] if paths else [SHIPPED_RULES]
    if advice_path is None:
        beside = rule_paths[0].parent / "advice.yaml"
        advice_path = beside if beside.is_file() else SHIPPED_ADVICE
    # stamped before reading: an edit made while we read is seen as a change next time
    stamps_before = file_stamps([*rule_paths, advice_path])
    advice = load_advice(advice_path)
    errors: list[str] = []
    found: list[tuple[Path, object, RulesFile]] = []
    for path in rule_paths:
        _read_rules_file(path, advice, (), errors, found)
    rules: list[Rule] = []
    seen: dict[str, str] = {}  # rule id -> file:line where it was first defined
    for path, tree, rules_file in found:
        for index, rule in enumerate(rules_file.rules):
            loc = ("rules", index, "id")
            if rule.id in seen:
                errors.append(_error_at(tree, path, loc, f"rule id {rule.id!r} is already "
                                                         f"defined at {seen[rule.id]}"))
                continue
            seen[rule.id] = f"{path}:{node_position(tree, loc)[0]}"
            rules.append(rule)
    if errors:
        raise ConfigError(errors)
    files = tuple(dict.fromkeys([*(path for path, _, _ in found), advice_path]))
    stamped = {path for path, _, _ in stamps_before}
    included = file_stamps(p for p in files if str(p) not in stamped)
    return RuleSet(tuple(rules), advice, files, stamps_before + included)


class RulesReloader:
    """Picks up edits to the rules files (and the files they include) without a restart.

    A file that fails validation is logged, line by line, and the last good rules stay in
    force; the same broken state is reported once, not on every check.
    """

    def __init__(self, rule_set: RuleSet, paths: list[Path] | None,
                 advice_path: Path | None = None) -> None:
        self.rule_set = rule_set
        self._paths, self._advice_path = paths, advice_path
        self._failed: Stamps | None = None

    def refresh(self) -> bool:
        """Reload if any file changed; True when new rules are now in force."""
        stamps = file_stamps(Path(path) for path, _, _ in self.rule_set.stamps)
        if stamps == self.rule_set.stamps or stamps == self._failed:
            return False
        try:
            fresh = load_rules(self._paths, self._advice_path)
        except ConfigError as exc:
            self._failed = stamps
            log.error("the edited rules are invalid; keeping the %d rules loaded before:",
                      len(self.rule_set.rules))
            for line in exc.errors:
                log.error("%s", line)
            return False
        self._failed = None
        self.rule_set = fresh
        log.info("rules reloaded: %d rules from %s", len(fresh.rules),
                 ", ".join(str(p) for p in fresh.files))
        return True
