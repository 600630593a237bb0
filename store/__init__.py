"""Persistence: typed models, engine and session setup, migrations."""

from store.db import Store, open_store, serialize_ingest_writes
from store.models import (
    Activity,
    ActivitySeries,
    Alert,
    Athlete,
    OutboxMessage,
    SourceFile,
    utc_now,
)

__all__ = [
    "Activity",
    "ActivitySeries",
    "Alert",
    "Athlete",
    "OutboxMessage",
    "SourceFile",
    "Store",
    "open_store",
    "serialize_ingest_writes",
    "utc_now",
]
