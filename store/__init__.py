"""Persistence: typed models, engine and session setup, migrations."""

from store.athletes import ensure_athlete
from store.db import SCHEMA_HEAD, Store, open_store, serialize_ingest_writes
from store.models import (
    SQUAD_KEY,
    Activity,
    ActivitySeries,
    Alert,
    Athlete,
    Digest,
    DigestAlert,
    EvaluationClaim,
    FileOutcome,
    JournalEntry,
    NotificationTest,
    OutboxMessage,
    Silence,
    SourceFile,
    SourceFolderFile,
    Worker,
    utc_now,
)

__all__ = [
    "SCHEMA_HEAD",
    "Activity",
    "ActivitySeries",
    "Alert",
    "Athlete",
    "Digest",
    "DigestAlert",
    "EvaluationClaim",
    "FileOutcome",
    "JournalEntry",
    "NotificationTest",
    "OutboxMessage",
    "Silence",
    "SQUAD_KEY",
    "SourceFile",
    "SourceFolderFile",
    "Store",
    "Worker",
    "ensure_athlete",
    "open_store",
    "serialize_ingest_writes",
    "utc_now",
]
