"""The shipped deployment files: compose services as documented, and a config that validates."""

from __future__ import annotations

import ast
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


def test_the_image_copies_every_room_the_package_installs() -> None:
    """A room added to the code but not to the Dockerfile would install a broken image."""
    rooms = {p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name != "tests"}
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    copied = {line.split()[1] for line in dockerfile.splitlines() if line.startswith("COPY ")}
    assert rooms <= copied, f"not copied into the image: {sorted(rooms - copied)}"
    assert "service.py" in dockerfile


def test_service_py_never_imports_the_cli() -> None:
    """import-linter sees packages only; service.py is a module, so its one never is checked here:
    the worker must not depend on the commands that start it (DESIGN §1)."""
    tree = ast.parse((ROOT / "service.py").read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom)}
    assert "cli" not in imported
    assert {"apscheduler", "ingest", "wiring"} <= imported  # the parse saw the real imports
