"""Where ingest reads and files things, and how: one frozen value built from the service config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # annotations only: pydantic and the decoders load where they are used
    from config.schema import ServiceConfig
    from ingest.decode import DecoderName


@dataclass(frozen=True)
class SourceFolder:
    """A folder another tool owns (`sources:`): read and copied, never changed. Its files are
    `athlete_id`'s, or (`athlete_id` None) its first-level subfolders name the athlete."""

    path: Path
    athlete_id: str | None = None
    watch: Literal["auto", "events", "polling"] = "polling"


@dataclass(frozen=True)
class IngestSettings:
    """The folders ingest reads and files into, its decoder and workers, and the time zones
    that place device-relative FIT times on the calendar."""

    inbox: Path
    archive: Path
    quarantine: Path
    decoder: DecoderName = "fitparse"
    stability_s: float = 5.0
    workers: int = 1  # decoding processes; 0 = one per usable CPU core
    default_timezone: str = "UTC"
    athlete_timezones: Mapping[str, str] = field(default_factory=dict)
    sources: tuple[SourceFolder, ...] = ()

    def timezone_for(self, athlete_id: str) -> str:
        return self.athlete_timezones.get(athlete_id, self.default_timezone)


def settings_from_config(config: ServiceConfig) -> IngestSettings:
    """The ingest settings a service config describes (its folders, decoder and time zones)."""
    return IngestSettings(
        inbox=config.inbox, archive=config.archive, quarantine=config.quarantine,
        decoder=config.ingest.decoder, stability_s=config.ingest.stability.total_seconds(),
        workers=config.ingest.workers, default_timezone=config.timezone,
        athlete_timezones={a.id: a.timezone for a in config.athletes if a.timezone},
        sources=tuple(SourceFolder(s.path, None if s.per_subfolder else s.athlete, s.watch)
                      for s in config.sources),
    )
