"""Load rules files and the advice library with file:line:col errors; test-render every template."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from config.validate import validate_tree
from config.yaml_tree import ConfigError, format_key_path, load_yaml_tree, node_position
from rules.schema import AdviceLibrary, Rule, RulesFile

log = logging.getLogger("strideguard.rules")

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "config"
SHIPPED_RULES = SHIPPED_DIR / "rules.yaml"
SHIPPED_ADVICE = SHIPPED_DIR / "advice.yaml"

TEMPLATE_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
SAMPLE_CONTEXT = {
    "athlete": "ana", "athlete_name": "Ana", "value": 1.5, "threshold": 1.1, "unit": "×",
    "metric": "longest_run_ratio_30d", "severity": "warn", "as_of": "2026-11-21",
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


ADVICE_SAMPLE_CONTEXT = {"ceiling_km": "about 8.8 km",
                         "cadence_target": "from about 165 to 173 steps/min"}


def load_advice(path: Path) -> AdviceLibrary:
    """The advice library, every text test-rendered with the numbers alerts give it."""
    tree = load_yaml_tree(path)
    library = validate_tree(AdviceLibrary, tree, path)
    errors = []
    for key, block in library.advice.items():
        try:
            TEMPLATE_ENV.from_string(block.text).render(**ADVICE_SAMPLE_CONTEXT)
        except Exception as exc:  # any template error would otherwise fail every evaluation
            known = ", ".join(ADVICE_SAMPLE_CONTEXT)
            errors.append(_error_at(tree, path, ("advice", key, "text"),
                                    f"template error: {exc} (advice texts may use {known})"))
    if errors:
        raise ConfigError(errors)
    return library


def _check_rules_against(tree: object, path: Path, rules_file: RulesFile, advice: AdviceLibrary,
                         channel_kinds: Collection[str] | None) -> list[str]:
    """Cross-file checks pydantic cannot do: advice keys exist, templates render, and the
    channels a rule names are channels the service has (when the caller says which)."""
    errors: list[str] = []
    for index, rule in enumerate(rules_file.rules):
        for channel_index, kind in enumerate(rule.channels or ()):
            if channel_kinds is not None and kind not in channel_kinds:
                loc = ("rules", index, "channels", channel_index)
                errors.append(_error_at(tree, path, loc, f"unknown channel {kind!r}; the "
                                                         f"channels are: "
                                                         f"{', '.join(channel_kinds)}"))
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
            except Exception as exc:  # a sandbox error, or e.g. a TypeError from `value + 'x'`
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


@dataclass
class _Reading:
    """One load of the rules: what was read, its stamps (taken before reading), its errors."""

    advice: AdviceLibrary
    channel_kinds: Collection[str] | None
    errors: list[str]
    found: list[tuple[Path, object, RulesFile]]
    stamps: list[tuple[str, int, int]]

    def read(self, path: Path, chain: tuple[Path, ...] = ()) -> None:
        """Validate one file, then the files it includes (depth first, in order).

        `chain` holds the files that include this one, to name an include cycle; a file
        included twice by different files (a diamond) is read once.
        """
        if any(path == done for done, _, _ in self.found):
            return
        self.stamps.extend(file_stamps([path]))  # before reading: a later edit is a change
        try:
            tree = load_yaml_tree(path)
            rules_file = validate_tree(RulesFile, tree, path)
        except ConfigError as exc:
            self.errors.extend(exc.errors)
            return
        self.errors.extend(_check_rules_against(tree, path, rules_file, self.advice,
                                                self.channel_kinds))
        self.found.append((path, tree, rules_file))
        for index, name in enumerate(rules_file.include):
            included = (path.parent / name).resolve()
            loc: tuple[str | int, ...] = ("include", index)
            if included in (*chain, path):
                loop = (*chain, path)
                cycle = " -> ".join(str(p) for p in (*loop[loop.index(included):], included))
                self.errors.append(_error_at(tree, path, loc, f"include cycle: {cycle}"))
            elif not included.is_file():
                self.stamps.extend(file_stamps([included]))  # its creation is a change
                self.errors.append(_error_at(tree, path, loc,
                                             f"included file not found: {included}"))
            else:
                self.read(included, (*chain, path))


class RulesLoadError(ConfigError):
    """Invalid rules; `stamps` covers every file the load looked at, to notice their fix."""

    def __init__(self, errors: list[str], stamps: Stamps) -> None:
        super().__init__(errors)
        self.stamps = stamps


def load_rules(paths: list[Path] | None = None, advice_path: Path | None = None, *,
               channel_kinds: Collection[str] | None = None) -> RuleSet:
    """Validate every rules file (the shipped one when none is given) and the files they
    include; all errors at once, each as `file:line:col: key.path: problem`.

    `channel_kinds` are the notification channels the service has (notify's registry, passed
    in by the wiring: rules never imports notify); None leaves a rule's channels unchecked.
    """
    rule_paths = [Path(p).resolve() for p in paths] if paths else [SHIPPED_RULES]
    beside = rule_paths[0].parent / "advice.yaml"
    if advice_path is None:
        advice_path = beside if beside.is_file() else SHIPPED_ADVICE
    # an advice.yaml created beside the rules later is a change too
    stamps = list(file_stamps(dict.fromkeys([advice_path, beside])))
    try:
        advice = load_advice(advice_path)
    except ConfigError as exc:
        raise RulesLoadError(exc.errors, tuple(stamps)) from exc
    reading = _Reading(advice, channel_kinds, [], [], stamps)
    for path in rule_paths:
        reading.read(path)
    rules: list[Rule] = []
    seen: dict[str, str] = {}  # rule id -> file:line where it was first defined
    for path, tree, rules_file in reading.found:
        for index, rule in enumerate(rules_file.rules):
            loc = ("rules", index, "id")
            if rule.id in seen:
                reading.errors.append(_error_at(tree, path, loc, f"rule id {rule.id!r} is "
                                                                 f"already defined at "
                                                                 f"{seen[rule.id]}"))
                continue
            seen[rule.id] = f"{path}:{node_position(tree, loc)[0]}"
            rules.append(rule)
    if reading.errors:
        raise RulesLoadError(reading.errors, tuple(stamps))
    files = tuple(dict.fromkeys([*(path for path, _, _ in reading.found), advice_path]))
    return RuleSet(tuple(rules), advice, files, tuple(stamps))


class RulesReloader:
    """Picks up edits to the rules files (and the files they include) without a restart.

    A file that fails validation is logged, line by line, and the last good rules stay in
    force; the same broken state is reported once, not on every check. After a failed load,
    every file that load looked at is watched too, so fixing a newly included file counts.
    """

    def __init__(self, rule_set: RuleSet, paths: list[Path] | None,
                 advice_path: Path | None = None, *,
                 channel_kinds: Collection[str] | None = None) -> None:
        self.rule_set = rule_set
        self._paths, self._advice_path = paths, advice_path
        self._channel_kinds = channel_kinds
        self._watched: Stamps = rule_set.stamps

    def refresh(self) -> bool:
        """Reload if any watched file changed; True when new rules are now in force."""
        current = file_stamps(Path(path) for path, _, _ in self._watched)
        if current == self._watched:
            return False
        try:
            fresh = load_rules(self._paths, self._advice_path,
                               channel_kinds=self._channel_kinds)
        except RulesLoadError as exc:
            # what the failed load read, and the rest as it is now: one report per state
            known = {path for path, _, _ in exc.stamps}
            self._watched = exc.stamps + tuple(s for s in current if s[0] not in known)
            log.error("the edited rules are invalid; keeping the %d rules loaded before:",
                      len(self.rule_set.rules))
            for line in exc.errors:
                log.error("%s", line)
            return False
        self.rule_set, self._watched = fresh, fresh.stamps
        log.info("rules reloaded: %d rules from %s", len(fresh.rules),
                 ", ".join(str(p) for p in fresh.files))
        return True
