"""The shipped deployment files: compose services as documented, and a config that validates."""

from __future__ import annotations

import ast
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from config.loader import load_service_config
from config.schema import ListenAddress
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


def dockerfile_healthcheck() -> list[str]:
    """The Dockerfile's HEALTHCHECK command, in exec form (JSON, as Docker parses it)."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    line = next(line for line in text.splitlines() if line.startswith("HEALTHCHECK "))
    return json.loads(line.split(" CMD ", 1)[1])


HEALTHCHECK_COMMAND = ["python", "-m", "cli.healthcheck"]


def compose_healthcheck() -> list[str]:
    app = YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text())["services"]["app"]
    return list(app["healthcheck"]["test"])


def test_the_image_and_the_compose_app_check_readyz_with_one_python_module() -> None:
    """One copy of the check (cli/healthcheck.py, in the image with the `cli` room), no curl."""
    assert dockerfile_healthcheck() == HEALTHCHECK_COMMAND
    assert compose_healthcheck() == ["CMD", *HEALTHCHECK_COMMAND]
    assert "/readyz" in (ROOT / "cli" / "healthcheck.py").read_text(encoding="utf-8")
    assert "EXPOSE 9464" in (ROOT / "Dockerfile").read_text(encoding="utf-8")


def test_compose_scales_the_app_polls_the_inbox_and_listens_inside_the_network() -> None:
    """`docker compose up --scale app=3` needs an app without a fixed host port or container
    name; a bind-mounted inbox gives no file events, so the config polls it."""
    app = YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text())["services"]["app"]
    assert "container_name" not in app
    assert all(":" not in str(port) for port in app.get("ports", [])), app.get("ports")
    assert "9464" in [str(port) for port in app["expose"]]
    config = load_service_config(ROOT / "docker" / "strideguard.yaml", environ={})
    assert config.ingest.watch == "polling"
    assert config.http.listen == ListenAddress("0.0.0.0", 9464)
    assert "--scale app=3" in (ROOT / "docker-compose.yml").read_text(encoding="utf-8")


def dead_proxy_url() -> str:
    """A proxy that is not there: a request sent through it fails."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{closed.getsockname()[1]}"


def test_the_healthcheck_passes_on_200_and_fails_with_the_reasons_on_503(
        httpserver: Any) -> None:
    """The healthcheck as Docker runs it, against an endpoint that is ready, then not, then
    not there at all; with the proxy variables Docker gives containers of a client that has
    proxies (pointing nowhere here): the check never goes through them."""
    command = [sys.executable, *HEALTHCHECK_COMMAND[1:]]
    url = httpserver.url_for("/readyz")
    proxy = dead_proxy_url()
    env = {**os.environ, "STRIDEGUARD_HEALTH_URL": url, "http_proxy": proxy,
           "HTTP_PROXY": proxy, "no_proxy": "", "NO_PROXY": ""}
    httpserver.expect_oneshot_request("/readyz").respond_with_data("ready\n")
    ready = subprocess.run(command, env=env, cwd=ROOT, timeout=30, capture_output=True,
                           text=True)
    assert ready.returncode == 0, ready.stderr
    httpserver.expect_oneshot_request("/readyz").respond_with_data(
        "not ready\ndatabase: connection refused\n", status=503)
    failed = subprocess.run(command, env=env, cwd=ROOT, timeout=30, capture_output=True,
                            text=True)
    assert failed.returncode == 1 and "database: connection refused" in failed.stderr
    nobody = f"{dead_proxy_url()}/readyz"  # a port nothing listens on: the service is not up
    gone = subprocess.run(command, env={**env, "STRIDEGUARD_HEALTH_URL": nobody}, cwd=ROOT,
                          timeout=30, capture_output=True, text=True)
    assert gone.returncode == 1 and nobody in gone.stderr


def test_the_healthcheck_loads_no_strideguard_room() -> None:
    """Run every few seconds: the standard library only (no config, store or SQLAlchemy)."""
    code = ("import sys, cli.healthcheck; print(sorted({m.split('.')[0] for m in sys.modules} "
            "& {'config', 'store', 'wiring', 'sqlalchemy', 'pydantic'}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=30)
    assert done.stdout.strip() == "[]", done.stderr
