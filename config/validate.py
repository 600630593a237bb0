"""Validate a YAML node against a pydantic model; errors worded as `file:line:col: path: problem`.

Words a reader knows replace pydantic's (`expected a whole number, got 'ten'`), unknown keys get
a did-you-mean, and values from the environment or under secret-looking keys are never shown.
"""

from __future__ import annotations

import difflib
import os
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.scalarbool import ScalarBoolean

from config.interpolate import EnvExpansion, interpolate_node
from config.yaml_tree import ConfigError, Loc, Problem, deepest_node, format_key_path, node_position

ModelT = TypeVar("ModelT", bound=BaseModel)

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
    env: EnvExpansion | None = None,
) -> list[Problem]:
    """Errors grouped by place; input values from the environment or secrets are hidden."""
    env = env or EnvExpansion()
    reported_unset = [loc for loc, _, _ in env.unset]
    grouped: dict[tuple[int, int, str], list[tuple[str, str | None]]] = {}
    for error in exc.errors(include_url=False):
        loc: Loc = tuple(error["loc"])
        full_loc = (*prefix, *loc)
        _, depth = deepest_node(tree, full_loc)
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
        Problem(line, col, key_path, _merge(problems))
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
    node, depth = deepest_node(tree, prefix)
    if depth < len(prefix):
        node = None
    env = interpolate_node(node, prefix, environ)
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

