"""Tests for the YAML config loader: env interpolation, path resolution and located errors."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from config import (
    ConfigError,
    ServiceConfig,
    default_service_config,
    format_validation_errors,
    interpolate_env,
    load_service_config,
    load_yaml_tree,
    node_position,
    redact_url,
    validate_tree,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "strideguard.example.yaml"
LOCATED_LINE = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): (?P<key>[^:]+): (?P<msg>.+)$")


def write(tmp_path: Path, text: str, name: str = "strideguard.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def config_errors(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_service_config(path, environ=environ or {})
    return caught.value.errors


def located(line: str) -> dict[str, str]:
    match = LOCATED_LINE.match(line)
    assert match, f"not a file:line:col: key: problem line: {line!r}"
    return match.groupdict()


def test_example_file_loads_with_empty_environment() -> None:
    config = load_service_config(EXAMPLE, environ={})
    base = EXAMPLE.parent
    assert config.inbox == base / "data" / "inbox"
    assert config.rules == [base / "rules.yaml"]
    assert config.database == f"sqlite:///{base}/data/strideguard.db"
    assert config.notify.email is None
    assert config.notify.webhooks == []


def test_example_file_shows_every_schema_key() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    for name in ServiceConfig.model_fields:
        assert re.search(rf"^#? *{name}:", text, re.MULTILINE), name
    for key in ("password: ${SMTP_PASSWORD}", "secret: ${WEBHOOK_SECRET}", "ca_file:", "digest:"):
        assert key in text


def test_empty_file_means_defaults_resolved_beside_it(tmp_path: Path) -> None:
    path = write(tmp_path, "# nothing yet\n")
    config = load_service_config(path, environ={})
    assert config == default_service_config(tmp_path)
    assert config.database == f"sqlite:///{tmp_path}/data/strideguard.db"
    assert config.mail_dir == tmp_path / "data" / "mail"
    assert config.timezone == "UTC"


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        database: sqlite:///state/sg.db
        inbox: in
        archive: /srv/archive
        quarantine: ../q
        mail_dir: mail
        rules: [rules.yaml, /etc/strideguard/extra.yaml]
        notify:
          email: {host: smtp.example.com, sender: a@example.com, ca_file: certs/ca.pem}
        """,
    )
    config = load_service_config(path, environ={})
    assert config.database == f"sqlite:////{str(tmp_path).lstrip('/')}/state/sg.db"
    assert config.inbox == tmp_path / "in"
    assert config.archive == Path("/srv/archive")
    assert config.quarantine == tmp_path / ".." / "q"
    assert config.rules == [tmp_path / "rules.yaml", Path("/etc/strideguard/extra.yaml")]
    assert config.notify.email is not None
    assert config.notify.email.ca_file == tmp_path / "certs" / "ca.pem"


def test_single_rules_file_becomes_a_list(tmp_path: Path) -> None:
    config = load_service_config(write(tmp_path, "rules: my-rules.yaml\n"), environ={})
    assert config.rules == [tmp_path / "my-rules.yaml"]


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////var/lib/sg.db",
        "sqlite://",
        "sqlite:///:memory:",
        "postgresql+psycopg://sg@db/strideguard",
    ],
)
def test_database_urls_left_alone(tmp_path: Path, url: str) -> None:
    config = load_service_config(write(tmp_path, f"database: '{url}'\n"), environ={})
    assert config.database == url


def test_env_variables_and_defaults_are_interpolated(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        timezone: ${TZ_NAME}
        database: ${DB_URL:-sqlite:///x.db}
        notify:
          email:
            host: ${SMTP_HOST}:${SMTP_HOST_SUFFIX:-}
            port: ${SMTP_PORT:-2525}
            sender: "$${NOT_A_VAR} <a@example.com>"
        """,
    )
    environ = {"TZ_NAME": "Europe/Berlin", "SMTP_HOST": "mail"}
    config = load_service_config(path, environ=environ)
    assert config.timezone == "Europe/Berlin"
    assert config.database == f"sqlite:///{tmp_path}/x.db"
    assert config.notify.email is not None
    assert config.notify.email.host == "mail:"
    assert config.notify.email.port == 2525
    assert config.notify.email.sender == "${NOT_A_VAR} <a@example.com>"


def test_interpolate_env_keeps_positions_and_reports_unset(tmp_path: Path) -> None:
    path = write(tmp_path, "a:\n  - x\n  - ${GONE}\nb: ${SET}\n")
    tree = load_yaml_tree(path)
    errors = interpolate_env(tree, path, environ={"SET": "yes"})
    assert errors == [f"{path}:3:5: a[1]: environment variable GONE is not set"]
    assert tree["b"] == "yes"
    assert node_position(tree, ("b",)) == (4, 4)


def test_missing_env_variable_points_at_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        timezone: UTC
        notify:
          webhooks:
            - url: https://example.com/hook
              secret: ${WEBHOOK_SECRET}
        """,
    )
    assert config_errors(path) == [
        f"{path}:5:15: notify.webhooks[0].secret: environment variable WEBHOOK_SECRET is not set"
    ]


def test_typo_key_suggests_the_right_one(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        notify:
          email:
            host: smtp.example.com
            sendr: alerts@example.com
        """,
    )
    errors = config_errors(path)
    assert f"{path}:4:5: notify.email.sendr: unknown key 'sendr'; did you mean 'sender'?" in errors
    assert f"{path}:2:3: notify.email.sender: required, but missing" in errors
    assert len(errors) == 2


def test_unknown_key_without_a_close_match_lists_allowed_keys(tmp_path: Path) -> None:
    errors = config_errors(write(tmp_path, "schedule:\n  zzz: 1\n"))
    assert len(errors) == 1
    assert "unknown key 'zzz' (allowed here: scan_interval, evaluate_at" in errors[0]


def test_string_where_a_port_belongs(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        notify:
          email:
            host: smtp.example.com
            port: twenty-five
            sender: alerts@example.com
        """,
    )
    assert config_errors(path) == [
        f"{path}:4:11: notify.email.port: expected a whole number, got 'twenty-five'"
    ]


def test_typo_missing_var_and_bad_port_give_one_line_each(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        timezone: Europe/Berlin
        notify:
          email:
            host: smtp.example.com
            port: twenty-five
            security: ssl
            username: alerts
            password: ${SMTP_PASSWORD}
            sender: alerts@example.com
            startls: true
        """,
    )
    errors = config_errors(path)
    assert len(errors) == 3
    parsed = [located(line) for line in errors]
    assert all(item["file"] == str(path) for item in parsed)
    by_line = {int(item["line"]): item for item in parsed}
    assert set(by_line) == {5, 8, 10}
    assert by_line[5]["key"] == "notify.email.port"
    assert "whole number" in by_line[5]["msg"]
    assert by_line[8]["key"] == "notify.email.password"
    assert by_line[8]["msg"] == "environment variable SMTP_PASSWORD is not set"
    assert by_line[10]["key"] == "notify.email.startls"
    assert by_line[10]["msg"].startswith("unknown key 'startls'")
    assert [int(item["line"]) for item in parsed] == [5, 8, 10]  # in file order


def test_unset_var_in_a_typed_field_is_reported_once(tmp_path: Path) -> None:
    path = write(tmp_path, "max_alert_age: ${ALERT_AGE}\n")
    assert config_errors(path) == [
        f"{path}:1:16: max_alert_age: environment variable ALERT_AGE is not set"
    ]


def test_bad_timezone(tmp_path: Path) -> None:
    path = write(tmp_path, "athletes:\n  - id: ana\n    timezone: Mars/Olympus\n")
    (error,) = config_errors(path)
    assert error.startswith(f"{path}:3:15: athletes[0].timezone: unknown IANA time zone")
    assert "Value error" not in error
    assert "errors.pydantic.dev" not in error


def test_literal_typo_suggests_a_value(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "notify:\n  email: {host: h, sender: s, security: startls}\n",
    )
    (error,) = config_errors(path)
    assert "notify.email.security: expected 'ssl', 'starttls' or 'none'" in error
    assert "did you mean 'starttls'?" in error


def test_bad_yaml_indentation_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, "notify:\n  email:\n    host: h\n   sender: s\n")
    (error,) = config_errors(path)
    item = located(error)
    assert (item["file"], item["line"]) == (str(path), "4")
    assert "indentation" in item["msg"]


def test_duplicate_key_is_an_error_without_values(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        notify:
          email:
            password: first-secret
            host: h
            password: second-secret
        """,
    )
    assert config_errors(path) == [
        f"{path}:5:5: notify.email.password: duplicate key (first defined on line 3)"
    ]


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    (error,) = config_errors(path)
    assert error.startswith(f"{path}: cannot read: ")


def test_secret_values_never_printed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        notify:
          email:
            host: smtp.example.com
            port: 465
            password: ${SMTP_PASSWORD}
            sender: alerts@example.com
          webhooks:
            - url: https://example.com/hook
              secret: ${WEBHOOK_SECRET}
        """,
    )
    environ = {"SMTP_PASSWORD": "hunter2", "WEBHOOK_SECRET": "s3cr3t-hook"}
    config = load_service_config(path, environ=environ)
    assert config.notify.email is not None
    assert config.notify.email.password is not None
    assert config.notify.email.password.get_secret_value() == "hunter2"
    assert config.notify.webhooks[0].secret.get_secret_value() == "s3cr3t-hook"
    for shown in (repr(config), str(config), config.model_dump_json()):
        assert "hunter2" not in shown
        assert "s3cr3t-hook" not in shown

    # secrets used in the wrong place must not leak into the messages either
    misused = "port: ${SMTP_PASSWORD}\n    timeout: ${WEBHOOK_SECRET}\n    bogus: ${SMTP_PASSWORD}"
    path.write_text(path.read_text(encoding="utf-8").replace("port: 465", misused))
    errors = config_errors(path, environ)
    assert [located(line)["key"] for line in errors] == [
        "notify.email.port",
        "notify.email.timeout",
        "notify.email.bogus",
    ]
    assert errors[0].endswith("expected a whole number, got (value hidden)")
    assert all("hunter2" not in line and "s3cr3t-hook" not in line for line in errors)


def test_bad_typed_secret_is_hidden(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        notify:
          webhooks:
            - url: https://example.com/hook
              secret: [hunter2, more]
        """,
    )
    (error,) = config_errors(path)
    assert error == f"{path}:4:15: notify.webhooks[0].secret: expected text, got (value hidden)"


class _Token(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    api_token: str = ""


class _Rules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: list[_Token]


def test_validate_tree_is_generic_and_supports_prefix(tmp_path: Path) -> None:
    path = write(tmp_path, "rules:\n  - name: a\n  - nme: b\n    api_token: 12\n", "rules.yaml")
    tree = load_yaml_tree(path)
    with pytest.raises(ConfigError) as caught:
        validate_tree(_Rules, tree, path, environ={})
    assert caught.value.errors == [
        f"{path}:3:5: rules[1].name: required, but missing",
        f"{path}:3:5: rules[1].nme: unknown key 'nme'; did you mean 'name'?",
        f"{path}:4:16: rules[1].api_token: expected text, got (value hidden)",
    ]
    assert validate_tree(_Token, tree, path, ("rules", 0), environ={}).name == "a"
    with pytest.raises(ValidationError) as invalid:
        _Token.model_validate(dict(tree["rules"][1]))
    lines = format_validation_errors(invalid.value, tree, path, ("rules", 1), model=_Token)
    assert f"{path}:3:5: rules[1].nme: unknown key 'nme'; did you mean 'name'?" in lines


def test_node_position_rules(tmp_path: Path) -> None:
    path = write(tmp_path, "a:\n  b: 1\n  c:\n    - {d: 2}\n")
    tree = load_yaml_tree(path)
    assert node_position(tree, ("a", "b")) == (2, 6)
    assert node_position(tree, ("a", "b"), at_key=True) == (2, 3)
    assert node_position(tree, ("a", "c", 0, "d")) == (4, 11)
    assert node_position(tree, ("a", "missing"), missing=True) == (1, 1)
    assert node_position(tree, ("a", "c", 0, "zz"), missing=True) == (4, 7)
    assert node_position(tree, ()) == (1, 1)


def test_config_error_str_joins_lines() -> None:
    error = ConfigError(["f:1:1: a: x", "f:2:1: b: y"])
    assert str(error) == "f:1:1: a: x\nf:2:1: b: y"
    assert ConfigError("f: cannot read: gone").errors == ["f: cannot read: gone"]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+psycopg://user:pa@ss@db:5432/sg?sslmode=require",
            "postgresql+psycopg://user:***@db:5432/sg?sslmode=require",
        ),
        ("postgresql://user@db/sg", "postgresql://user@db/sg"),
        ("sqlite:///data/x.db", "sqlite:///data/x.db"),
        ("https://h/hook?token=abc&x=1#top", "https://h/hook?token=***&x=1#top"),
        ("postgresql://db/sg?password=pw&user=u", "postgresql://db/sg?password=***&user=u"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(("source", "relation"), [
    ("data/inbox/garmin", "is in StrideGuard's inbox"),
    ("data", "holds StrideGuard's inbox"),
    ("data/archive", "is in StrideGuard's archive"),
])
def test_a_source_folder_overlapping_strideguards_own_is_a_config_error(
        tmp_path: Path, source: str, relation: str) -> None:
    config = tmp_path / "strideguard.yaml"
    config.write_text(f"sources:\n  - path: {source}\n    athlete: ana\n", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_service_config(config, environ={})
    assert f"{config}:2:3: sources: source 0 ({source}) {relation}" in str(error.value)
