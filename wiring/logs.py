"""The service's log lines for a log collector (`log_format: json`): one JSON object per line."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

# what a record may carry besides its message (`log.info(..., extra={"athlete": ...})`), and
# the key each gets in the JSON object
CONTEXT_FIELDS = ("athlete", "file", "rule", "channel", "event_id")


class JsonLogFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message"}` plus the record's context fields that are set,
    and `exception` with the traceback where there is one. Records are scrubbed of secrets
    when they are made (notify.redact), before any formatter sees them."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = str(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


def use_log_format(log_format: str) -> None:
    """Switch the root logger's handlers to the config's `log_format` (text is how `cli` set
    them up; json replaces their formatter)."""
    if log_format != "json":
        return
    formatter = JsonLogFormatter()
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)
