"""Load YAML config with `${VAR}` interpolation and `file:line:col: key.path: problem` errors."""

from __future__ import annotations

import difflib
import os
import re
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode
from ruamel.yaml.scalarbool import ScalarBoolean

from config.schema import ServiceConfig

Loc = tuple[str | int, ...]
ModelT = TypeVar("ModelT", bound=BaseModel)

_ENV_RE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SECRET_KEY_WORDS = ("password", "secret", "token")
_HIDDEN = "(value hidden)"
_EXPECTED_BY_ERROR_TYPE = {
    "int_parsing": "expected a whole number",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected text",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "set_type": "expected a list",
    "dict_type": "expected a mapping (key: value lines)",
    "model_type": "expected a mapping (key: value lines)",
    "model_attributes_type": "expected a mapping (key: value lines)",
    "path_type": "expected a file or folder path",
    "none_required": "expected an empty value",
}
_BOUND_WORDS = {
    "greater_than": ("gt", "must be more than"),
    "greater_than_equal": ("ge", "must be at least"),
    "less_than": ("lt", "must be less than"),
    "less_than_equal": ("le", "must be at most"),
}
_SQLITE_URL_RE = re.compile(r"^(sqlite(?:\+\w+)?):///(.*)$", re.DOTALL)
_URL_USERINFO_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*)@")
_SENSITIVE_QUERY_KEY_RE = re.compile(
    r"pass|pwd|secret|token|key|sig|auth|credential|session", re.IGNORECASE
)


class ConfigError(Exception):
    """A config file is unusable; `errors` holds one `file:line:col: key.path: problem` each."""

    def __init__(self, errors: list[str] | str) -> None:
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("\n".join(self.errors))


@dataclass(frozen=True)
class _Problem:
    line: int  # 1-based
    col: int  # 1-based
    key_path: str
    message: str

    def render(self, path: Path | str) -> str:
        return f"{path}:{self.line}:{self.col}: {self.key_path}: {self.message}"


# --- YAML ------------------------------------------------------------------------------------


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


def _yaml_problem(exc: MarkedYAMLError, text: str) -> _Problem:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    if isinstance(exc, DuplicateKeyError) and exc.problem_mark is not None:
        found = _find_duplicate_key(text, exc.problem_mark.line, exc.problem_mark.column)
        if found:  # the ruamel message would print both values, which may be secrets
            loc, first_line = found
            where = f" (first defined on line {first_line + 1})" if first_line is not None else ""
            return _Problem(line, col, format_key_path(loc), f"duplicate key{where}")
        return _Problem(line, col, "invalid YAML", "duplicate key")
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
    return _Problem(line, col, "invalid YAML", problem)


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


def _children(node: Any) -> Iterator[tuple[str | int, Any]]:
    if isinstance(node, CommentedMap):
        yield from node.items()
    elif isinstance(node, CommentedSeq):
        yield from enumerate(node)


def _child_position(parent: Any, key: str | int, *, at_key: bool = False) -> tuple[int, int]:
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


def _walk(tree: Any, loc: Sequence[str | int]) -> tuple[Any, int]:
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
        position = _child_position(node, part, at_key=(at_key and is_last) or holds_missing)
        node = node[part]
    return position[0] + 1, position[1] + 1


# --- ${VAR} interpolation ---------------------------------------------------------------------


@dataclass
class _EnvExpansion:
    unset: list[tuple[Loc, tuple[int, int], str]] = field(default_factory=list)  # 0-based
    from_env: set[Loc] = field(default_factory=set)  # values holding an environment value

    def problems(self) -> list[_Problem]:
        return [
            _Problem(
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


def _interpolate(
    node: Any, loc: Loc, environ: Mapping[str, str], result: _EnvExpansion | None = None
) -> _EnvExpansion:
    """Expand the string scalars under `node` in place."""
    result = _EnvExpansion() if result is None else result
    for key, value in list(_children(node)):
        child_loc = (*loc, key)
        if not isinstance(value, str):
            _interpolate(value, child_loc, environ, result)
            continue
        expanded, unset_names, used_env = _expand(value, environ)
        if unset_names:
            position = _child_position(node, key)
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
    return [problem.render(path) for problem in _interpolate(tree, (), environ).problems()]


# --- validation errors ------------------------------------------------------------------------


def _unwrap(annotation: Any) -> list[Any]:
    """The alternatives of an annotation, without Annotated, Optional and None."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [alt for arg in get_args(annotation) for alt in _unwrap(arg)]
    return [] if annotation is type(None) else [annotation]


def _step_type(annotation: Any, part: str | int) -> Any:
    for alternative in _unwrap(annotation):
        origin, args = get_origin(alternative), get_args(alternative)
        if isinstance(alternative, type) and issubclass(alternative, BaseModel):
            field_info = alternative.model_fields.get(part) if isinstance(part, str) else None
            if field_info is not None:
                return field_info.annotation
        elif origin in (list, tuple, set, frozenset) and isinstance(part, int) and args:
            return args[0]
        elif origin is dict and len(args) == 2:
            return args[1]
    return None


def _types_along(model: type[BaseModel], loc: Loc) -> list[Any]:
    """The annotation at each step of `loc` that the model describes (stops at the first gap)."""
    found: list[Any] = [model]
    for part in loc:
        annotation = _step_type(found[-1], part)
        if annotation is None:
            break
        found.append(annotation)
    return found


def _mentions_secret(annotation: Any) -> bool:
    if annotation in (SecretStr, SecretBytes):
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return False  # a model holding a secret is not itself one
    return any(_mentions_secret(arg) for arg in get_args(annotation))


def _is_secret(model: type[BaseModel] | None, loc: Loc) -> bool:
    words = (str(part).lower() for part in loc if isinstance(part, str))
    if any(secret_word in word for word in words for secret_word in _SECRET_KEY_WORDS):
        return True
    return model is not None and any(_mentions_secret(t) for t in _types_along(model, loc)[1:])


def _allowed_keys(model: type[BaseModel] | None, loc: Loc) -> list[str]:
    types_along = _types_along(model, loc) if model is not None else []
    if len(types_along) != len(loc) + 1:
        return []
    keys: list[str] = []
    for alternative in _unwrap(types_along[-1]):
        if isinstance(alternative, type) and issubclass(alternative, BaseModel):
            for name, field_info in alternative.model_fields.items():
                keys.append(field_info.alias or name)
    return keys


def _literal_choices(model: type[BaseModel] | None, loc: Loc) -> list[str]:
    types_along = _types_along(model, loc) if model is not None else []
    if len(types_along) != len(loc) + 1:
        return []
    return [
        str(choice)
        for alternative in _unwrap(types_along[-1])
        if get_origin(alternative) is Literal
        for choice in get_args(alternative)
    ]


def _describe_input(value: Any) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    text = repr(str(value)) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _suggest(word: Any, choices: list[str]) -> str:
    close = difflib.get_close_matches(str(word), choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _problem_text(
    error: Mapping[str, Any], model: type[BaseModel] | None, loc: Loc, hide_input: bool
) -> tuple[str, str | None]:
    """A plain-language (problem, got) pair for one pydantic error; `got` may be None."""
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    got = _HIDDEN if hide_input else _describe_input(value)
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        hint = _suggest(loc[-1], allowed)
        if not hint and allowed:
            hint = f" (allowed here: {', '.join(allowed)})"
        return f"unknown key '{loc[-1]}'{hint}", None
    if kind == "missing":
        return "required, but missing", None
    if kind in _EXPECTED_BY_ERROR_TYPE:
        return _EXPECTED_BY_ERROR_TYPE[kind], got
    if kind == "literal_error":
        hint = _suggest(value, _literal_choices(model, loc)) if got != _HIDDEN else ""
        return f"expected {ctx.get('expected', 'one of the allowed values')}", got + hint
    if kind in _BOUND_WORDS and _BOUND_WORDS[kind][0] in ctx:
        name, words = _BOUND_WORDS[kind]
        return f"{words} {ctx[name]}", got
    if kind == "string_pattern_mismatch":
        return f"does not have the expected form (pattern {ctx.get('pattern')})", got
    message = str(error["msg"])
    for noise in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(noise)
    if kind in ("value_error", "assertion_error"):
        if hide_input and isinstance(value, str) and value:
            message = message.replace(repr(value), _HIDDEN)
            if value in message:  # the value appears unquoted: keep nothing of the message
                message = f"invalid value {_HIDDEN}"
        return message, None
    return message.replace("Input should be", "expected", 1), got


def _validation_problems(
    exc: ValidationError,
    tree: Any,
    prefix: Loc,
    model: type[BaseModel] | None,
    env: _EnvExpansion | None = None,
) -> list[_Problem]:
    """Errors grouped by place; input values from the environment or secrets are hidden."""
    env = env or _EnvExpansion()
    reported_unset = [loc for loc, _, _ in env.unset]
    grouped: dict[tuple[int, int, str], list[tuple[str, str | None]]] = {}
    for error in exc.errors(include_url=False):
        loc: Loc = tuple(error["loc"])
        full_loc = (*prefix, *loc)
        _, depth = _walk(tree, full_loc)
        shown_loc = full_loc[: depth + 1] if error["type"] == "missing" else full_loc[:depth]
        if any(shown_loc[: len(unset)] == unset for unset in reported_unset):
            continue  # already reported as an unset ${VAR}
        line, col = node_position(
            tree,
            shown_loc,
            at_key=error["type"] == "extra_forbidden",
            missing=error["type"] == "missing",
        )
        hide_input = full_loc[:depth] in env.from_env or _is_secret(model, loc)
        problem = _problem_text(error, model, loc, hide_input)
        key = (line, col, format_key_path(shown_loc))
        if problem not in grouped.setdefault(key, []):
            grouped[key].append(problem)
    return [
        _Problem(line, col, key_path, _merge(problems))
        for (line, col, key_path), problems in grouped.items()
    ]


def _merge(problems: list[tuple[str, str | None]]) -> str:
    """Join the alternatives of one value (a union type) into one readable message."""
    gots = {got for _, got in problems}
    if len(gots) == 1 and None not in gots and all(p.startswith("expected ") for p, _ in problems):
        wanted = [problem.removeprefix("expected ") for problem, _ in problems]
        if len(wanted) == 1:
            return f"expected {wanted[0]}, got {gots.pop()}"
        return f"expected {', '.join(wanted[:-1])} or {wanted[-1]}, got {gots.pop()}"
    return "; ".join(problem + (f", got {got}" if got else "") for problem, got in problems)


def format_validation_errors(
    exc: ValidationError,
    tree: Any,
    path: Path | str,
    prefix: Loc = (),
    *,
    model: type[BaseModel] | None = None,
) -> list[str]:
    """One `file:line:col: key.path: message` line per error of a model validated at `prefix`.

    `model` (the validated class) enables did-you-mean hints and type-based secret hiding.
    """
    return [problem.render(path) for problem in _validation_problems(exc, tree, prefix, model)]


def _plain(node: Any) -> Any:
    """ruamel round-trip types → plain dicts, lists and scalars for pydantic."""
    if isinstance(node, CommentedMap):
        return {key: _plain(value) for key, value in node.items()}
    if isinstance(node, CommentedSeq):
        return [_plain(item) for item in node]
    if isinstance(node, TaggedScalar):
        return _plain(node.value)
    if isinstance(node, ScalarBoolean):
        return bool(node)
    for plain_type in (int, float, str):
        if isinstance(node, plain_type) and type(node) is not plain_type:
            return plain_type(node)
    return node


def validate_tree(
    model: type[ModelT],
    tree: Any,
    path: Path | str,
    prefix: Loc = (),
    *,
    environ: Mapping[str, str] = os.environ,
) -> ModelT:
    """Expand `${VAR}`s in the node at `prefix` and validate it; ConfigError lists ALL errors."""
    node, depth = _walk(tree, prefix)
    if depth < len(prefix):
        node = None
    env = _interpolate(node, prefix, environ)
    problems = env.problems()
    try:
        result = model.model_validate(_plain(node))
    except ValidationError as exc:
        problems += _validation_problems(exc, tree, prefix, model, env)
    else:
        if not problems:
            return result
    problems.sort(key=lambda problem: (problem.line, problem.col))
    raise ConfigError([problem.render(path) for problem in problems])


# --- service config ---------------------------------------------------------------------------


def load_service_config(path: Path | str, environ: Mapping[str, str] = os.environ) -> ServiceConfig:
    """Read `strideguard.yaml`; relative paths become relative to the file's folder."""
    path = Path(path)
    tree = load_yaml_tree(path)
    if tree is None:  # an empty file (or only comments) means all defaults
        tree = CommentedMap()
    config = validate_tree(ServiceConfig, tree, path, environ=environ)
    return _resolve_paths(config, path.expanduser().resolve().parent)


def default_service_config(base_dir: Path | str) -> ServiceConfig:
    """The embedded defaults, with their relative paths resolved against `base_dir`."""
    return _resolve_paths(ServiceConfig(), Path(base_dir).expanduser().resolve())


def _resolve_paths(config: ServiceConfig, base_dir: Path) -> ServiceConfig:
    def absolute(path: Path) -> Path:
        path = path.expanduser()
        return path if path.is_absolute() else base_dir / path

    update: dict[str, Any] = {
        name: absolute(getattr(config, name))
        for name in ("inbox", "archive", "quarantine", "mail_dir")
    }
    update["rules"] = [absolute(rules_path) for rules_path in config.rules]
    update["database"] = resolve_sqlite_url(config.database, base_dir)
    email = config.notify.email
    if email is not None and email.ca_file is not None:
        email = email.model_copy(update={"ca_file": absolute(email.ca_file)})
        update["notify"] = config.notify.model_copy(update={"email": email})
    return config.model_copy(update=update)


def resolve_sqlite_url(url: str, base_dir: Path) -> str:
    """`sqlite:///rel/x.db` → `sqlite:////base/rel/x.db`; absolute, memory and others unchanged."""
    match = _SQLITE_URL_RE.match(url)
    if not match:
        return url
    scheme, rest = match.groups()
    if not rest or rest.startswith(("/", ":memory:", "file:", "?")):
        return url
    return f"{scheme}:///{base_dir / rest}"


def redact_url(url: str) -> str:
    """Hide the password and secret-looking query values of a URL, for logs."""
    base, query_mark, rest = url.partition("?")
    userinfo = _URL_USERINFO_RE.match(base)
    if userinfo and ":" in userinfo.group(2):
        user = userinfo.group(2).partition(":")[0]
        base = f"{userinfo.group(1)}{user}:***@{base[userinfo.end() :]}"
    query, fragment_mark, fragment = rest.partition("#")
    query = "&".join(_redact_query_item(item) for item in query.split("&"))
    return base + query_mark + query + fragment_mark + fragment


def _redact_query_item(item: str) -> str:
    name, has_value, _ = item.partition("=")
    return f"{name}=***" if has_value and _SENSITIVE_QUERY_KEY_RE.search(name) else item
