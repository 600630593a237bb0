"""StrideGuard configuration: the pydantic schema and the YAML loader with file:line:col errors."""

from config.interpolate import interpolate_env
from config.loader import (
    default_service_config,
    load_service_config,
    redact_url,
    resolve_sqlite_url,
)
from config.schema import (
    AthleteConfig,
    EmailConfig,
    ServiceConfig,
    WebhookConfig,
    parse_duration,
)
from config.validate import format_validation_errors, validate_tree
from config.yaml_tree import ConfigError, format_key_path, load_yaml_tree, node_position

__all__ = [
    "AthleteConfig",
    "ConfigError",
    "EmailConfig",
    "ServiceConfig",
    "WebhookConfig",
    "default_service_config",
    "format_key_path",
    "format_validation_errors",
    "interpolate_env",
    "load_service_config",
    "load_yaml_tree",
    "node_position",
    "parse_duration",
    "redact_url",
    "resolve_sqlite_url",
    "validate_tree",
]
