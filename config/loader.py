"""The service config (`strideguard.yaml`): loaded, its relative paths resolved, URLs redacted."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap

from config.schema import ServiceConfig
from config.validate import validate_tree
from config.yaml_tree import load_yaml_tree

_SQLITE_URL_RE = re.compile(r"^(sqlite(?:\+\w+)?):///(.*)$", re.DOTALL)
_URL_USERINFO_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*)@")
_SENSITIVE_QUERY_KEY_RE = re.compile(
    r"pass|pwd|secret|token|key|sig|auth|credential|session", re.IGNORECASE
)


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
    update["sources"] = [source.model_copy(update={"path": absolute(source.path)})
                         for source in config.sources]
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
