"""Silences (Alertmanager's model): the editable presets file, what a new silence covers and until
when, and how a stored silence holds a finding back while it is in force.

A silence is data (athlete, rule ids, start, end, reason, author), never a config edit: rules keep
being evaluated, and a finding a silence covers is recorded with the silence's id, not sent
(rules.alerts). Presets are named lists of rule ids in `silences.yaml`, found beside the first
rules file like `advice.yaml` (else the shipped one); a preset may never name the load, pain or
see-a-professional rules (PROTECTED_RULES), though `silence add --rule ID` may name any rule.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from config.schema import parse_duration
from config.validate import validate_tree
from config.yaml_tree import ConfigError, format_key_path, load_yaml_tree, node_position

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from store.silences import SilenceRow

log = logging.getLogger("strideguard.rules")

SHIPPED_SILENCES = Path(__file__).resolve().parent.parent / "config" / "silences.yaml"
SILENCES_NAME = "silences.yaml"
# the load, pain and see-a-professional rules: no preset may hold them back (DESIGN §8)
PROTECTED_RULES = ("single_run_spike", "weekly_progression", "return_after_break",
                   "pain_reported", "back_pain_after_long_run")

Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
RuleName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_]{0,63}$")]


class PresetSpec(BaseModel):
    """One preset: rule ids (or group names) a `silence add --preset NAME` mutes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    rules: list[RuleName] = Field(min_length=1)


class SilencesFile(BaseModel):
    """`silences.yaml`: groups (names for sets of rules) and presets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    groups: dict[Name, list[RuleName]] = Field(default_factory=dict)
    presets: dict[Name, PresetSpec]


@dataclass(frozen=True)
class SilencePresets:
    """The presets with their groups expanded to rule ids, and the groups (for labels)."""

    presets: Mapping[str, tuple[str, ...]]
    descriptions: Mapping[str, str]
    groups: Mapping[str, tuple[str, ...]]
    path: Path

    def rules_of(self, preset: str) -> tuple[str, ...]:
        """The preset's rule ids; a ValueError naming the presets when there is no such one."""
        if preset not in self.presets:
            raise ValueError(f"no silence preset {preset!r}{_did_you_mean(preset, self.presets)}"
                             f"; the presets ({self.path}) are: {', '.join(self.presets)}")
        return self.presets[preset]


def presets_path(rule_paths: Sequence[Path] = ()) -> Path:
    """`silences.yaml` beside the first rules file, else the shipped one (as advice.yaml)."""
    if rule_paths:
        beside = Path(rule_paths[0]).resolve().parent / SILENCES_NAME
        if beside.is_file():
            return beside
    return SHIPPED_SILENCES


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _error_at(tree: object, path: Path, loc: tuple[str | int, ...], problem: str) -> str:
    line, col = node_position(tree, loc)
    return f"{path}:{line}:{col}: {format_key_path(loc)}: {problem}"


def _protected_problem(rule_id: str) -> str:
    return (f"{rule_id!r} is a load, pain or see-a-professional rule: no preset may hold it "
            f"back (silence it by name with `silence add --rule {rule_id}` if you must)")


def load_presets(path: Path, rule_ids: Collection[str] | None = None) -> SilencePresets:
    """Read and check a presets file; every problem as `file:line:col: key.path: problem`.

    A group or preset naming a PROTECTED_RULES rule is an error; with `rule_ids` (the rules in
    force), so is a name that is neither one of them nor a group.
    """
    tree = load_yaml_tree(path)
    parsed = validate_tree(SilencesFile, tree, path)
    errors: list[str] = []
    for name, members in parsed.groups.items():
        if rule_ids is not None and name in rule_ids:
            errors.append(_error_at(tree, path, ("groups", name), f"group {name!r} has the "
                                                                  f"name of a rule"))
        for index, rule_id in enumerate(members):
            loc = ("groups", name, index)
            if rule_id in PROTECTED_RULES:
                errors.append(_error_at(tree, path, loc, _protected_problem(rule_id)))
            elif rule_ids is not None and rule_id not in rule_ids:
                errors.append(_error_at(tree, path, loc, f"unknown rule {rule_id!r}"
                                        f"{_did_you_mean(rule_id, rule_ids)}"))
    presets: dict[str, tuple[str, ...]] = {}
    for name, spec in parsed.presets.items():
        expanded: list[str] = []
        for index, entry in enumerate(spec.rules):
            loc = ("presets", name, "rules", index)
            if entry in parsed.groups:
                expanded.extend(parsed.groups[entry])
            elif entry in PROTECTED_RULES:
                errors.append(_error_at(tree, path, loc, _protected_problem(entry)))
            elif rule_ids is not None and entry not in rule_ids:
                errors.append(_error_at(tree, path, loc, f"unknown rule or group {entry!r}"
                                        f"{_did_you_mean(entry, [*rule_ids, *parsed.groups])}"))
            else:
                expanded.append(entry)
        presets[name] = tuple(dict.fromkeys(expanded))
    if errors:
        raise ConfigError(errors)
    return SilencePresets(presets=presets,
                          descriptions={n: s.description for n, s in parsed.presets.items()},
                          groups={n: tuple(m) for n, m in parsed.groups.items()}, path=path)


def presets_for(rule_paths: Sequence[Path], rule_ids: Collection[str]) -> SilencePresets:
    """The presets a setup uses: its own `silences.yaml` beside the rules, checked against the
    rules in force; or the shipped one, checked too when the rules are the shipped ones, and
    otherwise cut to the rules in force (shipped presets name shipped rules a user's own
    rules files may not have)."""
    path = presets_path(rule_paths)
    if path != SHIPPED_SILENCES or not rule_paths:
        return load_presets(path, rule_ids)
    shipped = load_presets(path)
    return replace(shipped, presets={
        name: tuple(r for r in members if r in rule_ids)
        for name, members in shipped.presets.items()})


@lru_cache(maxsize=8)
def _presets_at(path: str, _mtime_ns: int, _size: int) -> SilencePresets:
    return load_presets(Path(path))


def rule_groups(rule_paths: Sequence[Path] = ()) -> Mapping[str, tuple[str, ...]]:
    """The presets file's groups, for labels (read again only when the file changes); none,
    with a warning, when the file cannot be read: a label is not worth failing a digest."""
    path = presets_path(rule_paths)
    try:
        stat = path.stat()
        return _presets_at(str(path), stat.st_mtime_ns, stat.st_size).groups
    except (OSError, ConfigError) as exc:
        log.warning("silence presets %s unreadable, rules shown by id: %s", path, exc)
        return {}


def rule_labels(rule_ids: Iterable[str], groups: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Rule ids as a reader names them: a group all of whose rules are muted by its name
    ("strength nudges"), then the other rules by id, in the silence's order."""
    remaining = list(dict.fromkeys(rule_ids))
    labels = []
    for name, members in groups.items():
        if members and set(members) <= set(remaining):
            labels.append(name.replace("_", " "))
            remaining = [r for r in remaining if r not in members]
    return (*labels, *remaining)


# --- a new silence -----------------------------------------------------------------------------


def check_rule_ids(requested: Iterable[str], known: Sequence[str]) -> tuple[str, ...]:
    """The requested rule ids, each checked against the rules in force (any rule, protected
    ones included: asked for by name, it is the user's call)."""
    wanted = tuple(dict.fromkeys(requested))
    unknown = [rule_id for rule_id in wanted if rule_id not in known]
    if unknown:
        hints = "".join(_did_you_mean(rule_id, known) for rule_id in unknown[:1])
        raise ValueError(f"unknown rule {', '.join(repr(u) for u in unknown)}{hints}; the rules "
                         f"are: {', '.join(known)}")
    return wanted


def end_of_local_day(day: date, timezone_name: str) -> datetime:
    """The UTC moment the local `day` ends: midnight at the start of the next local day."""
    next_day = datetime.combine(day + timedelta(days=1), time(0), tzinfo=ZoneInfo(timezone_name))
    return next_day.astimezone(UTC)


def silence_end(now: datetime, timezone_name: str, *, duration: str | None = None,
                until: date | None = None) -> datetime:
    """When a silence starting `now` ends: now + DURATION (`--for 2w`), or at the end of the
    local DATE (`--until 2026-12-06` mutes through that whole day in the athlete's time zone).
    A ValueError for a duration that is not positive or a DATE whose end has passed."""
    if (duration is None) == (until is None):
        raise ValueError("give either --for DURATION or --until DATE")
    if duration is not None:
        try:
            length = parse_duration(duration)
        except ValueError as exc:
            raise ValueError(f"--for: {exc}") from exc
        if length <= timedelta(0):
            raise ValueError(f"--for: the duration must be positive, got {duration!r}")
        return now + length
    assert until is not None
    end = end_of_local_day(until, timezone_name)
    if end <= now:
        raise ValueError(f"--until {until.isoformat()} has passed in {timezone_name}: give today "
                         "or a later date (the silence lasts to the end of that day)")
    return end


def _local(moment: datetime, timezone_name: str) -> datetime:
    return moment.astimezone(ZoneInfo(timezone_name))


def ends_at_midnight(ends_at: datetime, timezone_name: str) -> bool:
    """The silence ends as a local day ends (`--until`): it is shown by its last day."""
    return _local(ends_at, timezone_name).time() == time(0)


def last_local_day(ends_at: datetime, timezone_name: str) -> date:
    """The last local day the silence mutes (for a midnight end, the day before it)."""
    local = _local(ends_at, timezone_name)
    return local.date() - timedelta(days=1) if local.time() == time(0) else local.date()


def until_text(ends_at: datetime, timezone_name: str) -> str:
    """`2026-12-06` for a silence muting through that local day, else `2026-12-06 15:30`."""
    if ends_at_midnight(ends_at, timezone_name):
        return last_local_day(ends_at, timezone_name).isoformat()
    return _local(ends_at, timezone_name).strftime("%Y-%m-%d %H:%M")


def held_back_text(silence: SilenceRow, timezone_name: str) -> str:
    """Why a finding was recorded and not sent: "silenced until 2026-12-06 (holiday: on
    holiday) by coach"."""
    why = f"{silence.preset}: {silence.reason}" if silence.preset else silence.reason
    by = f" by {silence.created_by}" if silence.created_by else ""
    return f"silenced until {until_text(silence.ends_at, timezone_name)} ({why}){by}"


@dataclass(frozen=True)
class ActiveSilence:
    """A stored silence as an evaluation applies it: the rules it covers over [starts_at,
    ends_at), and the text an alert it holds back records."""

    id: str
    rule_ids: frozenset[str]
    starts_at: datetime
    ends_at: datetime
    reason: str

    @classmethod
    def of(cls, silence: SilenceRow, timezone_name: str) -> ActiveSilence:
        return cls(silence.id, frozenset(silence.rule_ids), silence.starts_at, silence.ends_at,
                   held_back_text(silence, timezone_name))

    def covers(self, rule_id: str, moment: datetime) -> bool:
        return rule_id in self.rule_ids and self.starts_at <= moment < self.ends_at


ENDING_NOTICE_AHEAD = timedelta(days=1)  # the athlete is told the day before a silence ends

# notify's notice queue, handed in by the caller: (session, notice, once-only key) -> None
Announce = Callable[["Session", Mapping[str, object], str], None]


def ending_notices(session: Session, athlete_id: str, athlete_name: str, timezone_name: str,
                   now: datetime, groups: Mapping[str, tuple[str, ...]],
                   disclaimer: str) -> list[tuple[str, dict[str, object]]]:
    """The athlete's silences that end within a day and were not announced yet, marked as
    announced (in the caller's transaction), each as (key, notice) for notify's queue."""
    from sqlalchemy import select  # check-config reads presets without loading the store

    from store import Silence

    found = session.scalars(select(Silence).where(
        Silence.athlete_id == athlete_id, Silence.starts_at <= now, Silence.ends_at > now,
        Silence.ends_at <= now + ENDING_NOTICE_AHEAD, Silence.ending_notice_at.is_(None)))
    notices = []
    for silence in found:
        silence.ending_notice_at = now
        labels = ", ".join(rule_labels(silence.rule_ids or (), groups))
        if ends_at_midnight(silence.ends_at, timezone_name):
            last = last_local_day(silence.ends_at, timezone_name)
            when = f"at the end of {last:%A} {last.day} {last:%B}"
        else:
            local = _local(silence.ends_at, timezone_name)
            when = f"on {local:%A} {local.day} {local:%B} at {local:%H:%M}"
        why = f"{silence.preset}: {silence.reason}" if silence.preset else silence.reason
        notices.append((f"silence-ending/{silence.id}", {
            "kind": "silence-ending", "athlete": athlete_id, "athlete_name": athlete_name,
            "silence_id": silence.id, "ends_at": silence.ends_at.isoformat(),
            "subject": f"[StrideGuard] Your silence ends {when}",
            "lines": [f"The silence you set ({why}) ends {when}. From then on StrideGuard "
                      f"tells you again about: {labels}.",
                      "If anything it held back still holds then, you will hear about it "
                      "once. To keep it quiet for longer, add a new silence "
                      "(strideguard silence add)."],
            "disclaimer": disclaimer}))
    session.flush()
    return notices
