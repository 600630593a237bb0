"""Pydantic models of the service config (`strideguard.yaml`, DESIGN §2.2): the only schema."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_DURATION_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object) -> timedelta:
    """Read `30s`, `5m`, `36h`, `3d`, `1w` (or a number of seconds) as a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 30s, 5m, 3d, got {value!r}")
    if isinstance(value, int | float):
        return timedelta(seconds=float(value))
    if isinstance(value, str):
        match = _DURATION_RE.match(value)
        if match:
            return timedelta(seconds=float(match.group(1)) * _DURATION_UNIT_S[match.group(2)])
    raise ValueError(f"expected a duration like 30s, 5m, 36h, 3d, got {value!r}")


def parse_clock(value: object) -> time:
    """Read a local wall-clock time `HH:MM`."""
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        match = re.match(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*$", value)
        if match:
            return time(int(match.group(1)), int(match.group(2)))
    raise ValueError(f"expected a time of day HH:MM, got {value!r}")


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class WeeklyTime:
    """A local wall-clock moment once a week, such as `mon 07:30` (weekday 0 = Monday)."""

    weekday: int
    at: time

    def __str__(self) -> str:
        return f"{WEEKDAYS[self.weekday]} {self.at.strftime('%H:%M')}"


def parse_weekly_time(value: object) -> WeeklyTime | None:
    """Read `mon 07:30` (a weekday's first three letters, then HH:MM), or `off` / null: none."""
    if value is None or isinstance(value, WeeklyTime):
        return value
    if value is False or (isinstance(value, str) and value.strip().lower() == "off"):
        return None
    if isinstance(value, str):
        match = re.match(r"^\s*([A-Za-z]{3})[a-z]*\s+(\S+)\s*$", value)
        if match and match.group(1).lower() in WEEKDAYS:
            try:
                return WeeklyTime(WEEKDAYS.index(match.group(1).lower()),
                                  parse_clock(match.group(2)))
            except ValueError:
                pass  # the message below says what a good value looks like
    raise ValueError(f'expected a weekday and a time such as "mon 07:30", or off, got {value!r}')


def check_timezone(value: object) -> str:
    """Accept an IANA zone name only (ZoneInfoNotFoundError is a KeyError, so re-raise)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected an IANA time zone name such as Europe/Berlin, got {value!r}")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {value!r} (e.g. Europe/Berlin, UTC)") from exc
    return value


def positive_duration(value: object) -> timedelta:
    duration = parse_duration(value)
    if duration <= timedelta(0):
        raise ValueError(f"expected a duration above zero, got {value!r}")
    return duration


def first_repeated(ids: Iterable[str]) -> str | None:
    """The first id that appears a second time, if any."""
    seen: set[str] = set()
    for each in ids:
        if each in seen:
            return each
        seen.add(each)
    return None


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[timedelta, BeforeValidator(positive_duration)]
ClockTime = Annotated[time, BeforeValidator(parse_clock)]
WeeklyTimeField = Annotated[WeeklyTime | None, BeforeValidator(parse_weekly_time)]
TimeZoneName = Annotated[str, BeforeValidator(check_timezone)]

ATHLETE_ID_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_PUSH_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")


def check_push_url(value: SecretStr) -> SecretStr:
    """An Apprise URL (`ntfy://...`, `tgram://...`): a scheme, `://`, then no spaces. The message
    never repeats the URL: it may carry a token."""
    if not _PUSH_URL_RE.match(value.get_secret_value()):
        raise ValueError("expected an Apprise URL such as ntfy://ntfy.sh/TOPIC or "
                         "tgram://BOT_TOKEN/CHAT_ID (scheme://..., no spaces)")
    return value


PushUrl = Annotated[SecretStr, AfterValidator(check_push_url)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True, frozen=True)


class AthleteConfig(_Strict):
    id: str = Field(pattern=ATHLETE_ID_RE)
    name: str | None = None
    email: str | None = None
    timezone: TimeZoneName | None = None
    # rule id -> {severity: "op value"}, e.g. {single_run_spike: {warn: "> 1.05"}}
    overrides: dict[str, dict[str, str | float | bool]] = Field(default_factory=dict)
    # Apprise URLs for this runner's phone (ntfy, Telegram, Signal, ...): secrets, never printed
    apprise: list[PushUrl] = Field(default_factory=list)


class EmailConfig(_Strict):
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["ssl", "starttls", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str
    to: list[str] = Field(default_factory=list)
    timeout: PositiveDuration = timedelta(seconds=30)
    ca_file: Path | None = None


class WebhookConfig(_Strict):
    url: str = Field(pattern=r"^https?://")
    secret: SecretStr
    connect_timeout: PositiveDuration = timedelta(seconds=5)
    read_timeout: PositiveDuration = timedelta(seconds=15)


class NotifyConfig(_Strict):
    # Apprise URLs for the coach: every athlete's alerts are pushed there too
    apprise: list[PushUrl] = Field(default_factory=list)
    email: EmailConfig | None = None
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    max_attempts: int = Field(default=12, ge=1)
    give_up_after: Duration = timedelta(hours=48)


class ScheduleConfig(_Strict):
    scan_interval: PositiveDuration = timedelta(seconds=30)
    evaluate_at: ClockTime = time(7, 0)
    dispatch_interval: PositiveDuration = timedelta(seconds=5)
    # the weekly digest, in each athlete's time zone (the squad's in `timezone`); None: off
    digest: WeeklyTimeField = WeeklyTime(0, time(7, 30))


class IngestConfig(_Strict):
    decoder: Literal["fitparse", "fitdecode"] = "fitparse"
    stability: Duration = timedelta(seconds=5)
    # auto: native file events, falling back to polling when the watcher cannot start;
    # polling: scan every schedule.scan_interval only (network shares, container bind mounts)
    watch: Literal["auto", "events", "polling"] = "auto"
    # decoding processes; 0 means one per CPU core this process may use
    workers: int = Field(default=0, ge=0, le=64)


class SourceConfig(_Strict):
    """A folder another tool owns (GarminDB, Garmin Express, a mounted watch, a Syncthing or
    Dropbox folder): read and copied into the archive, never moved, renamed or deleted."""

    path: Path
    athlete: str | None = Field(default=None, pattern=ATHLETE_ID_RE)
    # true: the first-level subfolders are athlete ids (like the inbox)
    per_subfolder: bool = False
    mode: Literal["copy"] = "copy"
    # polling: read every schedule.scan_interval (shares, USB mounts and synced folders often
    # give no file events); auto/events as for ingest.watch
    watch: Literal["auto", "events", "polling"] = "polling"

    @model_validator(mode="after")
    def _one_owner(self) -> SourceConfig:
        if (self.athlete is None) == (not self.per_subfolder):
            raise ValueError("give either `athlete: ID` (every file is that athlete's) or "
                             "`per_subfolder: true` (first-level subfolders are athlete ids)")
        return self


@dataclass(frozen=True)
class ListenAddress:
    """Where `strideguard run` serves /healthz, /readyz and /metrics: a host and a TCP port
    (0: any free port, for tests and several processes on one host)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


_LISTEN_RE = re.compile(
    r"^(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9.-]+)):(?P<port>\d{1,5})$")


def parse_listen(value: object) -> ListenAddress | None:
    """Read `http.listen`: `HOST:PORT` (`[::1]:9464` for IPv6), or `off` (also YAML's false)."""
    if value is None or value is False or (isinstance(value, str) and value.strip() == "off"):
        return None
    if isinstance(value, ListenAddress):
        return value
    if isinstance(value, str):
        match = _LISTEN_RE.match(value.strip())
        if match and int(match.group("port")) <= 65535:
            return ListenAddress(match.group("ipv6") or match.group("host"),
                                 int(match.group("port")))
    raise ValueError(f"expected HOST:PORT (e.g. 127.0.0.1:9464, 0.0.0.0:9464, [::1]:9464) or "
                     f"`off`, got {value!r}")


ListenField = Annotated[ListenAddress | None, BeforeValidator(parse_listen)]


class HttpConfig(_Strict):
    """The health and metrics endpoint of `strideguard run` (DESIGN §7, §8)."""

    listen: ListenField = ListenAddress("127.0.0.1", 9464)


class ServiceConfig(_Strict):
    database: str = "sqlite:///data/strideguard.db"
    inbox: Path = Path("data/inbox")
    archive: Path = Path("data/archive")
    quarantine: Path = Path("data/quarantine")
    mail_dir: Path = Path("data/mail")
    timezone: TimeZoneName = "UTC"
    rules: list[Path] = Field(default_factory=list)
    max_alert_age: Duration = timedelta(days=3)
    athletes: list[AthleteConfig] = Field(default_factory=list)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    sources: list[SourceConfig] = Field(default_factory=list)
    http: HttpConfig = Field(default_factory=HttpConfig)
    # text: one readable line per record; json: one object per line (time, level, logger,
    # message, and athlete, file, rule where a record has them) for a log collector
    log_format: Literal["text", "json"] = "text"

    @field_validator("rules", mode="before")
    @classmethod
    def _one_or_many_rules(cls, value: object) -> object:
        return [value] if isinstance(value, str | Path) else value

    @field_validator("sources")
    @classmethod
    def _sources_apart_from_own_folders(cls, sources: list[SourceConfig],
                                        info: ValidationInfo) -> list[SourceConfig]:
        """A source folder may neither lie in StrideGuard's inbox, archive or quarantine nor
        hold one: StrideGuard files things into and out of those, and never changes a folder
        another tool owns. Paths are compared as written (both relative to the config file,
        or both absolute); the service checks the resolved paths again at start."""
        for index, source in enumerate(sources):
            path = Path(os.path.normpath(source.path.expanduser()))
            for what in ("inbox", "archive", "quarantine"):
                own = info.data.get(what)
                if own is None:
                    continue
                own = Path(os.path.normpath(Path(own).expanduser()))
                if own.is_absolute() != path.is_absolute():
                    continue
                if path == own or path.is_relative_to(own) or own.is_relative_to(path):
                    relation = "holds" if own.is_relative_to(path) and path != own else "is in"
                    raise ValueError(
                        f"source {index} ({source.path}) {relation} StrideGuard's {what} "
                        f"({own}): StrideGuard files things into and out of its own folders "
                        "and never changes a folder another tool owns; give them paths apart")
        return sources

    @field_validator("athletes")
    @classmethod
    def _unique_athletes(cls, athletes: list[AthleteConfig]) -> list[AthleteConfig]:
        repeated = first_repeated(athlete.id for athlete in athletes)
        if repeated is not None:
            raise ValueError(f"athlete id {repeated!r} appears twice")
        return athletes

    def athlete(self, athlete_id: str) -> AthleteConfig | None:
        return next((a for a in self.athletes if a.id == athlete_id), None)

    def overrides_for(self, athlete_id: str, rule_id: str) -> dict[str, str | float | bool] | None:
        """The athlete's threshold overrides of one rule, if any."""
        athlete = self.athlete(athlete_id)
        return athlete.overrides.get(rule_id) if athlete else None

    def timezone_for(self, athlete_id: str) -> str:
        athlete = self.athlete(athlete_id)
        return athlete.timezone if athlete and athlete.timezone else self.timezone
