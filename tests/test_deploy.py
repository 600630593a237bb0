"""The shipped deployment files: compose services as documented, and a config that validates."""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML

from config.loader import load_service_config
from rules.loader import load_rules

ROOT = Path(__file__).resolve().parents[1]


def test_compose_has_app_postgres_with_healthcheck_and_mailpit() -> None:
    compose = YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"app", "db", "mailpit"}
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert services["app"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert {"127.0.0.1:8025:8025", "127.0.0.1:1025:1025"} <= set(services["mailpit"]["ports"])
    assert any(v.endswith(":/data/inbox") for v in services["app"]["volumes"])
    assert "pgdata" in compose["volumes"]


def test_compose_config_and_example_config_validate() -> None:
    docker_config = load_service_config(ROOT / "docker" / "strideguard.yaml", environ={})
    assert docker_config.database.startswith("postgresql+psycopg://")
    assert docker_config.notify.email is not None and docker_config.notify.email.port == 1025
    example = load_service_config(ROOT / "config" / "strideguard.example.yaml", environ={})
    assert example.database.startswith("sqlite:////")
    assert load_rules().rules
