"""StrideGuard configuration: the pydantic schema and the YAML loader with file:line:col errors."""

from config.loader import (
    ConfigError,
    default_service_config,
    format_key_path,
    format_validation_errors,
    interpolate_env,
    load_service_config,
    load_yaml_tree,
    node_position,
    redact_url,
    resolve_sqlite_url,
    validate_tree,
)
from config.schema import (
    AthleteConfig,
    EmailConfig,
    ServiceConfig,
    WebhookConfig,
    parse_duration,
)

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
