"""Which config file a command reads: `--config`, else $STRIDEGUARD_CONFIG, else ./strideguard.yaml,
else the embedded defaults (SQLite and local folders beside the working directory)."""

from __future__ import annotations

import os
from pathlib import Path

from config.loader import default_service_config, load_service_config
from config.schema import ServiceConfig
from config.yaml_tree import ConfigError

CONFIG_ENV = "STRIDEGUARD_CONFIG"
EXIT_CONFIG = 2  # the exit status of every command whose config or rules are unusable
DEFAULT_CONFIG_NAME = "strideguard.yaml"
SHIPPED_DIR = Path(__file__).resolve().parent
EXAMPLE_CONFIG = SHIPPED_DIR / "strideguard.example.yaml"
DEMO_CONFIG = SHIPPED_DIR / "strideguard.demo.yaml"


def config_path_from(arg: str | None) -> tuple[Path, bool]:
    """The config file to read and whether the user named it (a named file must exist)."""
    if arg:
        return Path(arg), True
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]), True
    return Path(DEFAULT_CONFIG_NAME), False


def load_config(arg: str | None) -> tuple[ServiceConfig, Path | None]:
    """The service config and the file it came from (None: the embedded defaults)."""
    path, named = config_path_from(arg)
    if path.is_file():
        return load_service_config(path), path
    if named:
        raise ConfigError([f"{path}: config file not found"])
    return default_service_config(Path.cwd()), None
