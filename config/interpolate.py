"""`${VAR}` and `${VAR:-default}` in YAML string values, read from the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.yaml_tree import Loc, Problem, child_position, children, format_key_path

_ENV_RE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class EnvExpansion:
    """What interpolation found: unset variables (each at its value) and values from the
    environment (whose text an error message must not show)."""

    unset: list[tuple[Loc, tuple[int, int], str]] = field(default_factory=list)  # 0-based
    from_env: set[Loc] = field(default_factory=set)  # values holding an environment value

    def problems(self) -> list[Problem]:
        return [
            Problem(
                line + 1, col + 1, format_key_path(loc), f"environment variable {name} is not set"
            )
            for loc, (line, col), name in self.unset
        ]


def _expand(text: str, environ: Mapping[str, str]) -> tuple[str, list[str], bool]:
    """`text` with its `${VAR}`s filled in, the unset variables without default, and whether
    any environment value went in."""
    unset: list[str] = []
    used: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        value = environ.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                unset.append(name)
                return match.group(0)
            return default
        used.append(name)
        return value

    return _ENV_RE.sub(substitute, text), unset, bool(used)


def interpolate_node(
    node: Any, loc: Loc, environ: Mapping[str, str], result: EnvExpansion | None = None
) -> EnvExpansion:
    """Expand the string scalars under `node` in place."""
    result = EnvExpansion() if result is None else result
    for key, value in list(children(node)):
        child_loc = (*loc, key)
        if not isinstance(value, str):
            interpolate_node(value, child_loc, environ, result)
            continue
        expanded, unset_names, used_env = _expand(value, environ)
        if unset_names:
            position = child_position(node, key)
            result.unset.extend((child_loc, position, name) for name in unset_names)
        elif expanded != value:
            node[key] = expanded
        if used_env:
            result.from_env.add(child_loc)
    return result


def interpolate_env(
    tree: Any, path: Path | str, environ: Mapping[str, str] = os.environ
) -> list[str]:
    """Fill in `${VAR}` and `${VAR:-default}` (`$${` is a literal `${`); one line per unset VAR.

    As in a shell, `:-default` also applies when VAR is set but empty. A value with an unset
    variable is left as written.
    """
    return [problem.render(path) for problem in interpolate_node(tree, (), environ).problems()]

