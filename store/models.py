"""SQLAlchemy 2 typed models: athletes, source files, activities, alerts, digests and the outbox."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite has no zone-aware type)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given where UTC is required")
        utc_value = value.astimezone(UTC)
        return utc_value.replace(tzinfo=None) if dialect.name == "sqlite" else utc_value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Athlete(Base):
    __tablename__ = "athletes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class SourceFile(Base):
    """One input file, whatever became of it: ingested, skipped, duplicate or quarantined."""

    __tablename__ = "source_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    athlete_id: Mapped[str] = mapped_column(ForeignKey("athletes.id"))
    original_name: Mapped[str] = mapped_column(String(500))
    # the FIT file's path inside a .zip export; None for a plain or gzipped file
    container_member: Mapped[str | None] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # ingested | skipped | duplicate | quarantined
    reason: Mapped[str | None] = mapped_column(Text)
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    fit_file_type: Mapped[str | None] = mapped_column(String(40))
    fit_manufacturer: Mapped[str | None] = mapped_column(String(60))
    fit_serial_number: Mapped[int | None] = mapped_column(BigInteger)
    fit_time_created: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decoder: Mapped[str | None] = mapped_column(String(40))
    # what the bytes are: fit | tcx | gpx (an activity file), or csv (a runner's journal)
    format: Mapped[str] = mapped_column(String(8), default="fit", server_default="fit")
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("source_files.id"))
    stored_path: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)

    activities: Mapped[list[Activity]] = relationship(back_populates="source_file")

    __table_args__ = (
        Index("ix_source_files_natural_key", "fit_manufacturer", "fit_serial_number",
              "fit_time_created"),
    )


class SourceFolderFile(Base):
    """A file seen in a source folder another tool owns (`sources:`): read once, remembered by
    path, size, mtime and SHA-256 so it is read again only when its bytes change."""

    __tablename__ = "source_folder_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text, unique=True)  # absolute, as the folder was reached
    athlete_id: Mapped[str] = mapped_column(ForeignKey("athletes.id"))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    # what reading it did (ingested | duplicate | skipped | quarantined): its worst payload's
    status: Mapped[str] = mapped_column(String(16))
    stored_path: Mapped[str | None] = mapped_column(Text)  # its copy in the archive
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class Activity(Base):
    """One FIT session in SI units; running cadence in steps/min (DESIGN §3)."""

    __tablename__ = "activities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    athlete_id: Mapped[str] = mapped_column(ForeignKey("athletes.id"), index=True)
    source_file_id: Mapped[int] = mapped_column(ForeignKey("source_files.id"))
    session_index: Mapped[int] = mapped_column(Integer, default=0)
    sport: Mapped[str] = mapped_column(String(40))
    sub_sport: Mapped[str | None] = mapped_column(String(40))
    is_run: Mapped[bool] = mapped_column(Boolean, default=False)
    is_strength: Mapped[bool] = mapped_column(Boolean, default=False)
    start_utc: Mapped[datetime] = mapped_column(UTCDateTime)
    distance_m: Mapped[float | None] = mapped_column(Float)
    timer_s: Mapped[float | None] = mapped_column(Float)
    elapsed_s: Mapped[float | None] = mapped_column(Float)
    avg_speed_mps: Mapped[float | None] = mapped_column(Float)
    avg_heart_rate_bpm: Mapped[float | None] = mapped_column(Float)
    avg_cadence_spm: Mapped[float | None] = mapped_column(Float)
    steady_cadence_spm: Mapped[float | None] = mapped_column(Float)
    steady_speed_mps: Mapped[float | None] = mapped_column(Float)
    cadence_first_fifth_spm: Mapped[float | None] = mapped_column(Float)
    cadence_last_fifth_spm: Mapped[float | None] = mapped_column(Float)
    speed_first_fifth_mps: Mapped[float | None] = mapped_column(Float)
    speed_last_fifth_mps: Mapped[float | None] = mapped_column(Float)
    gct_balance_left_pct: Mapped[float | None] = mapped_column(Float)
    vertical_ratio_pct: Mapped[float | None] = mapped_column(Float)
    step_length_m: Mapped[float | None] = mapped_column(Float)
    ground_contact_ms: Mapped[float | None] = mapped_column(Float)
    rpe: Mapped[float | None] = mapped_column(Float)  # perceived effort, Borg CR10 (0-10)
    # how the runner felt (FIT session workout_feel, field 192): 0 (very weak) .. 100 (very
    # strong); None when the watch did not ask
    feel: Mapped[float | None] = mapped_column(Float)
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    decoder: Mapped[str | None] = mapped_column(String(40))  # e.g. "fitparse 1.2.0"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    source_file: Mapped[SourceFile] = relationship(back_populates="activities")
    series: Mapped[ActivitySeries | None] = relationship(
        back_populates="activity", cascade="all, delete-orphan", passive_deletes=True)

    __table_args__ = (
        UniqueConstraint("source_file_id", "session_index"),
        Index("ix_activities_athlete_start", "athlete_id", "start_utc"),
    )


class ActivitySeries(Base):
    """A run's compact record series (one row per `interval_s` bucket), so form metrics can be
    recomputed without re-reading the FIT file. `columns` maps a name to a list of values."""

    __tablename__ = "activity_series"

    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), primary_key=True)
    interval_s: Mapped[float] = mapped_column(Float)
    columns: Mapped[dict[str, list[float | None]]] = mapped_column(JSON)

    activity: Mapped[Activity] = relationship(back_populates="series")


class Alert(Base):
    """One episode of one rule for one athlete: firing until the condition clears."""

    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(100))
    athlete_id: Mapped[str] = mapped_column(ForeignKey("athletes.id"))
    episode: Mapped[int] = mapped_column(Integer)
    severity: Mapped[str] = mapped_column(String(16))
    metric: Mapped[str] = mapped_column(String(100))
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    as_of: Mapped[date] = mapped_column(Date)
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the last severity rise
    # why a firing was recorded but not sent (stale data, cooldown, a silence); None when it
    # was notified
    silenced_reason: Mapped[str | None] = mapped_column(Text)
    # the silence that held it back, while one did (`strideguard silence`)
    silence_id: Mapped[str | None] = mapped_column(ForeignKey("silences.id"))
    # immediate: notified on its own; digest: recorded and shown in the next weekly digest
    deliver: Mapped[str] = mapped_column(String(16), default="immediate",
                                         server_default="immediate")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)

    outbox: Mapped[list[OutboxMessage]] = relationship(back_populates="alert")

    __table_args__ = (
        UniqueConstraint("rule_id", "athlete_id", "episode"),
        # the digest's listing of an athlete's week
        Index("ix_alerts_athlete_fired", "athlete_id", "fired_at"),
        # at most one open episode per (rule, athlete)
        Index("uq_alerts_open_episode", "rule_id", "athlete_id", unique=True,
              sqlite_where=text("resolved_at IS NULL"),
              postgresql_where=text("resolved_at IS NULL")),
    )


JOURNAL_AREAS = ("lower_back", "si_joint", "hip", "knee", "shin", "foot", "other")


class JournalEntry(Base):
    """What the watch cannot see, per local day: pain 0-10 where it hurts, and a note
    (`strideguard journal add`, or a journal.csv dropped in the athlete's inbox folder)."""

    __tablename__ = "journal_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    athlete_id: Mapped[str] = mapped_column(ForeignKey("athletes.id"))
    day: Mapped[date] = mapped_column(Date)  # the athlete's local date
    area: Mapped[str | None] = mapped_column(String(20))  # one of JOURNAL_AREAS
    pain: Mapped[int | None] = mapped_column(Integer)  # 0 (none) .. 10 (worst imaginable)
    note: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))  # cli | csv
    # the journal.csv it came from (archived like a FIT file) and its line there
    source_file_id: Mapped[int | None] = mapped_column(ForeignKey("source_files.id"))
    line: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)

    __table_args__ = (Index("ix_journal_entries_athlete_day", "athlete_id", "day"),)


class Silence(Base):
    """Rules muted for one athlete for a while (Alertmanager's model): the rules are still
    evaluated; what a silence covers is recorded with its id, not sent, until it ends."""

    __tablename__ = "silences"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    athlete_id: Mapped[str] = mapped_column(ForeignKey("athletes.id"), index=True)
    rule_ids: Mapped[list[str]] = mapped_column(JSON)
    preset: Mapped[str | None] = mapped_column(String(40))  # the preset it was made from
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)  # `silence expire` sets it to now
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    # when the athlete was told it ends within a day (once per silence)
    ending_notice_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Digest(Base):
    """The ledger of weekly digests: one row per (kind, athlete, ISO week), written in the
    transaction that queues the digest, so it goes out once across restarts and processes."""

    __tablename__ = "digests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # athlete | squad
    # the athlete's id, or SQUAD_KEY for the coach's squad digest (never NULL: NULLs would
    # not collide in the unique constraint)
    athlete_key: Mapped[str] = mapped_column(String(64))
    week: Mapped[str] = mapped_column(String(8))  # ISO week, "2026-W48"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)  # the numbers the webhook carries

    alerts: Mapped[list[DigestAlert]] = relationship(cascade="all, delete-orphan")

    __table_args__ = (UniqueConstraint("kind", "athlete_key", "week"),)


SQUAD_KEY = "*"


class DigestAlert(Base):
    """An alert a digest listed: a digest-routed finding appears in one digest, not every week."""

    __tablename__ = "digest_alerts"

    digest_id: Mapped[str] = mapped_column(ForeignKey("digests.id", ondelete="CASCADE"),
                                           primary_key=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id"), primary_key=True, index=True)


class OutboxMessage(Base):
    """A rendered notification waiting for, or done with, delivery on one channel: about an
    alert, or a weekly digest."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    dedupe_key: Mapped[str] = mapped_column(String(300), unique=True)
    alert_id: Mapped[str | None] = mapped_column(ForeignKey("alerts.id"), index=True)
    digest_id: Mapped[str | None] = mapped_column(ForeignKey("digests.id"), index=True)
    channel: Mapped[str] = mapped_column(String(80))  # email | webhook:<hash> | push:<hash> | file
    kind: Mapped[str] = mapped_column(String(16))  # firing | resolved | digest | squad-digest
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    give_up_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    alert: Mapped[Alert | None] = relationship(back_populates="outbox")

    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)


class EvaluationClaim(Base):
    """One athlete's evaluation for one trigger (`daily:2026-12-01`, `rules:<hash>`, ...): the
    row is written for every athlete when the trigger comes, then claimed by whichever process
    locks it first (`FOR UPDATE SKIP LOCKED` on PostgreSQL) and marked done in the transaction
    that writes the evaluation's alerts, so each athlete is evaluated once per trigger."""

    __tablename__ = "evaluation_claims"

    trigger: Mapped[str] = mapped_column(String(120), primary_key=True)
    athlete_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_by: Mapped[str | None] = mapped_column(String(120))  # the worker id (workers.id)

    __table_args__ = (Index("ix_evaluation_claims_open", "trigger", "done_at"),)


class Worker(Base):
    """A `strideguard run` process, as it last said: when it started and when it last scanned,
    evaluated and dispatched (what `strideguard status` shows across processes)."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)  # host:pid:random
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    last_scan_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_evaluation_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_dispatch_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NotificationTest(Base):
    """One `strideguard test-notify` send on one channel: recorded, never retried."""

    __tablename__ = "notification_tests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(80))  # email | webhook:<hash> | push:<hash> | file
    athlete_id: Mapped[str | None] = mapped_column(String(64))
    ok: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str | None] = mapped_column(String(200))  # e.g. "HTTP 200", "SMTP 250"
    latency_ms: Mapped[float] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class FileOutcome(Base):
    """What became of one input file in one attempt (ingested, duplicate, quarantined, a link
    refused, an error ...): `strideguard status` counts today's by status. Unlike
    `source_files`, it also holds files that left no row there (byte-identical copies, broken
    containers, links, errors). Pruned after FILE_OUTCOME_DAYS."""

    __tablename__ = "file_outcomes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, index=True)
    athlete_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    problem: Mapped[str | None] = mapped_column(String(40))  # ingest.outcome.problem_class
    file_name: Mapped[str] = mapped_column(String(500))
