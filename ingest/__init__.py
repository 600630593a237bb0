"""Ingest: FIT files (and runners' journal.csv files) from the inbox, and from source folders
other tools own, into the store (checks, decoding, recording, filing).

The names below load their module on first use: `import ingest` stays free, and the decoding
workers, which import `ingest.parse`, never load the store or the file watcher.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ingest.inbox import items_from_paths
    from ingest.outcome import (
        IngestOutcome,
        IngestStatus,
        batch_needs_evaluation,
        rescan_delay_s,
    )
    from ingest.pipeline import ingest_inbox
    from ingest.reprocess import count_reprocessable, reprocess_archive
    from ingest.settings import IngestSettings, SourceFolder, settings_from_config
    from ingest.sources import CopyRead, SourceFolders, read_copies
    from ingest.watch import InboxWatcher, SourceWatchers, WatchError

_HOMES = {
    "IngestOutcome": "ingest.outcome",
    "IngestStatus": "ingest.outcome",
    "batch_needs_evaluation": "ingest.outcome",
    "rescan_delay_s": "ingest.outcome",
    "IngestSettings": "ingest.settings",
    "settings_from_config": "ingest.settings",
    "SourceFolder": "ingest.settings",
    "CopyRead": "ingest.sources",
    "SourceFolders": "ingest.sources",
    "read_copies": "ingest.sources",
    "SourceWatchers": "ingest.watch",
    "items_from_paths": "ingest.inbox",
    "ingest_inbox": "ingest.pipeline",
    "count_reprocessable": "ingest.reprocess",
    "reprocess_archive": "ingest.reprocess",
    "InboxWatcher": "ingest.watch",
    "WatchError": "ingest.watch",
}
__all__ = [
    "CopyRead",
    "InboxWatcher",
    "IngestOutcome",
    "IngestSettings",
    "IngestStatus",
    "SourceFolder",
    "SourceFolders",
    "SourceWatchers",
    "WatchError",
    "batch_needs_evaluation",
    "count_reprocessable",
    "ingest_inbox",
    "items_from_paths",
    "read_copies",
    "reprocess_archive",
    "rescan_delay_s",
    "settings_from_config",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'ingest' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value  # once loaded, a plain module attribute
    return value
