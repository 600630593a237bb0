"""YAML read with each node's line and column, and `ConfigError`, whose lines point at them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

Loc = tuple[str | int, ...]


class ConfigError(Exception):
    """A config file is unusable; `errors` holds one `file:line:col: key.path: problem` each."""

    def __init__(self, errors: list[str] | str) -> None:
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("\n".join(self.errors))


@dataclass(frozen=True)
class Problem:
    """One error at a place in a file, written as `file:line:col: key.path: message`."""

    line: int  # 1-based
    col: int  # 1-based
    key_path: str
    message: str

    def render(self, path: Path | str) -> str:
        return f"{path}:{self.line}:{self.col}: {self.key_path}: {self.message}"


def load_yaml_tree(path: Path) -> Any:
    """Round-trip load one YAML 1.2 document (duplicate keys are errors); None if it is empty."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"{path}: cannot read: {reason}") from exc
    try:
        return YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        raise ConfigError(_yaml_problem(exc, text).render(path)) from exc
    except YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc


def _yaml_problem(exc: MarkedYAMLError, text: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    if isinstance(exc, DuplicateKeyError) and exc.problem_mark is not None:
        found = _find_duplicate_key(text, exc.problem_mark.line, exc.problem_mark.column)
        if found:  # the ruamel message would print both values, which may be secrets
            loc, first_line = found
            where = f" (first defined on line {first_line + 1})" if first_line is not None else ""
            return Problem(line, col, format_key_path(loc), f"duplicate key{where}")
        return Problem(line, col, "invalid YAML", "duplicate key")
    problem = (exc.problem or exc.context or "unreadable YAML").strip()
    if problem.startswith("mapping values are not allowed"):
        problem += " (bad indentation, or a value containing ': ' that needs quotes)"
    elif problem.startswith("expected <block end>"):
        problem = f"bad indentation ({problem})"
    elif "'\\t'" in problem:
        problem = "tab character: indent with spaces, not tabs"
    elif exc.context and exc.context_mark and exc.problem_mark:
        started = f"{exc.context_mark.line + 1}:{exc.context_mark.column + 1}"
        problem = f"{problem} ({exc.context} started at {started})"
    return Problem(line, col, "invalid YAML", problem)


def _find_duplicate_key(text: str, line: int, col: int) -> tuple[Loc, int | None] | None:
    """Key path of the duplicate key at (line, col) and the 0-based line of its first use."""

    def walk(node: Any, loc: Loc) -> tuple[Loc, int | None] | None:
        if isinstance(node, MappingNode):
            first_lines: dict[str, int] = {}
            for key_node, value_node in node.value:
                key = str(key_node.value) if isinstance(key_node, ScalarNode) else "?"
                mark = key_node.start_mark
                if (mark.line, mark.column) == (line, col):
                    return (*loc, key), first_lines.get(key)
                first_lines.setdefault(key, mark.line)
                found = walk(value_node, (*loc, key))
                if found:
                    return found
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                found = walk(item, (*loc, index))
                if found:
                    return found
        return None

    try:
        return walk(YAML(typ="rt").compose(text), ())
    except YAMLError:
        return None


def format_key_path(loc: Sequence[str | int]) -> str:
    """`('notify', 'webhooks', 0, 'url')` → `notify.webhooks[0].url`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def children(node: Any) -> Iterator[tuple[str | int, Any]]:
    if isinstance(node, CommentedMap):
        yield from node.items()
    elif isinstance(node, CommentedSeq):
        yield from enumerate(node)


def child_position(parent: Any, key: str | int, *, at_key: bool = False) -> tuple[int, int]:
    """0-based position of a child's key or value (an empty value points at its key)."""
    if isinstance(parent, CommentedSeq):
        line, col = parent.lc.item(key)
    elif at_key or parent[key] is None:  # ruamel places an empty value on the next token
        line, col = parent.lc.key(key)
    else:
        line, col = parent.lc.value(key)
    return line, col


def _has_child(node: Any, part: str | int) -> bool:
    if isinstance(node, CommentedSeq):
        return isinstance(part, int) and 0 <= part < len(node)
    return isinstance(node, CommentedMap) and part in node


def deepest_node(tree: Any, loc: Sequence[str | int]) -> tuple[Any, int]:
    """The deepest existing node along `loc` and how many parts of `loc` it consumed."""
    node, depth = tree, 0
    for part in loc:
        if not _has_child(node, part):
            break
        node, depth = node[part], depth + 1
    return node, depth


def node_position(
    tree: Any, loc: Sequence[str | int], *, at_key: bool = False, missing: bool = False
) -> tuple[int, int]:
    """1-based (line, col) of the node at `loc`, or of the deepest existing node on the way.

    `at_key` points at the last key itself (an unknown key); `missing` points at the key that
    holds the parent mapping (a missing required field); otherwise at the value.
    """
    position = (0, 0)
    if isinstance(tree, CommentedMap | CommentedSeq):
        position = (tree.lc.line, tree.lc.col)
    node = tree
    steps = list(loc)
    for index, part in enumerate(steps):
        if not _has_child(node, part):
            break
        is_last = index == len(steps) - 1
        holds_missing = missing and index == len(steps) - 2
        position = child_position(node, part, at_key=(at_key and is_last) or holds_missing)
        node = node[part]
    return position[0] + 1, position[1] + 1

