"""Every shared FIT sample through the real ingest pipeline: outcome, activities and numbers.

SAMPLES holds one row per file of the shared sample folder (SOURCES.md there says what each file
is): the outcome when the file is ingested alone, its number of activities and their sports.
The numbers of every running session are checked against an oracle computed here, independently
of ingest/, from the file's own messages as read by fitparse (fitdecode where fitparse stops
early): the session message's totals, and the median steady cadence of its records (DESIGN §3).

The per-file tests ingest each file once into its own fresh SQLite store (module-scoped cache,
so a file is decoded once for all of its checks); the whole-folder test runs on the `store`
fixture (SQLite, and PostgreSQL when configured). The samples are copied into tmp dirs at test
time, never into the repository.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from statistics import median
from typing import Any

import fitdecode
import fitparse
import pytest
from conftest import FIT_SAMPLES
from helpers import files_under
from sqlalchemy import select

from ingest import IngestOutcome, IngestSettings, ingest_inbox
from store import Activity, SourceFile, Store, open_store

ATHLETE = "ana"
SKIP_REASON = f"shared FIT samples folder not found at {FIT_SAMPLES}: sample tests skipped"

# --- the table -----------------------------------------------------------------------------

# regexes one warning must match, on the outcome and on every activity of the file
DAMAGED = r"\S"  # any non-empty warning: the data before the damage was kept
REBUILT = r"(?i)rebuilt from .*records"  # no session message: summary rebuilt from the records
ANCHORED = r"(?i)(relative|power-on).*local[ _]time"  # device-relative times put on the calendar


@dataclass(frozen=True)
class Row:
    status: str  # ingested | skipped | quarantined, when the file is ingested alone
    activities: int = 0
    sports: tuple[str, ...] = ()  # one per activity, in session order
    warning: str | None = None  # regex a warning must match; None: a clean file, no warnings
    reason: str | None = None  # regex the outcome's reason must match


def ingested(activities: int, *sports: str, warning: str | None = None) -> Row:
    assert activities == len(sports), "table typo: one sport per activity"
    return Row("ingested", activities, sports, warning)


def skipped(file_type: str) -> Row:
    """Not an activity: the reason names the FIT file type."""
    return Row("skipped", reason=re.escape(file_type))


def quarantined(reason: str) -> Row:
    return Row("quarantined", reason=reason)


FP, SDK, FD = "python-fitparse/", "fit-python-sdk/", "fitdecode/"
SAMPLES: dict[str, Row] = {
    # FIT SDK example activity and its damaged / chained variants (SOURCES.md)
    FP + "Activity.fit": ingested(1, "running"),
    FP + "activity-settings.fit": ingested(1, "running"),  # valid chain: activity + settings
    FP + "activity-filecrc.fit": ingested(1, "running", warning=DAMAGED),
    # two chained copies of the same activity (same file_id): one activity, not two
    FP + "activity-activity-filecrc.fit": ingested(1, "running", warning=DAMAGED),
    FP + "activity-settings-corruptheader.fit": ingested(1, "running", warning=DAMAGED),
    FP + "activity-settings-nodata.fit": ingested(1, "running", warning=DAMAGED),
    FP + "activity-unexpected-eof.fit": ingested(1, "running", warning=DAMAGED),
    # real runs
    FP + "2013-02-06-12-11-14.fit": ingested(1, "running"),
    FP + "activity-small-fenix2-run.fit": ingested(1, "running"),
    FP + "developer-types-sample.fit": ingested(1, "running"),
    FP + "garmin-fenix-5-run.fit": ingested(1, "running"),
    FP + "strava-android-app-201.10-b1218918.fit": ingested(1, "running", warning=DAMAGED),
    # Forerunner 70: compressed timestamp headers, device-relative integer times
    FP + "antfs-dump.63.fit": ingested(1, "running", warning=ANCHORED),
    FP + "compressed-speed-distance.fit": ingested(1, "running", warning=ANCHORED),
    # multisport
    FP + "activity-large-fenxi2-multisport.fit": ingested(
        7, "generic", "transition", "running", "transition", "running", "transition", "cycling"),
    FP + "sample_mulitple_header.fit": ingested(
        5, "swimming", "transition", "cycling", "transition", "running"),
    # rides
    FP + "2015-10-13-08-43-15.fit": ingested(1, "cycling"),
    FP + "2019-02-17-062644-ELEMNT-297E-195-0.fit": ingested(1, "cycling"),
    FP + "Edge810-Vector-2013-08-16-15-35-10.fit": ingested(1, "cycling"),
    FP + "elemnt-bolt-no-application-id-inside-developer-data-id.fit": ingested(1, "cycling"),
    FP + "garmin-edge-500-activity.fit": ingested(1, "cycling"),
    FP + "garmin-edge-820-bike.fit": ingested(1, "cycling"),
    FP + "garmin-fenix-5-bike.fit": ingested(1, "cycling"),
    FP + "null_compressed_speed_dist.fit": ingested(1, "cycling"),
    FP + "sample-activity-indoor-trainer.fit": ingested(1, "cycling"),
    FP + "sample-activity.fit": ingested(1, "cycling"),
    FP + "coros-pace-2-cycling-misaligned-fields.fit": ingested(1, "cycling", warning=DAMAGED),
    # no session message: one activity rebuilt from the records
    FP + "nick.fit": ingested(1, "cycling", warning=REBUILT),  # sport from its `sport` message
    SDK + "WithGearChangeData.fit": ingested(1, "generic", warning=REBUILT),  # no sport message
    # other sports
    FP + "garmin-fenix-5-walk.fit": ingested(1, "walking"),
    FP + "event_timestamp.fit": ingested(1, "swimming"),
    FP + "20170518-191602-1740899583.fit": ingested(1, "fitness_equipment"),
    SDK + "ActivityDevFields.fit": ingested(1, "stand_up_paddleboarding"),
    SDK + "HrmPluginTestActivity.fit": ingested(1, "walking"),
    FD + "garmin-fr935-cr.fit": ingested(1, "swimming"),
    # an activity file with 3 untimed records and no session: nothing to store
    FP + "DeveloperData.fit": quarantined(r"(?i)session"),
    # not activities
    FP + "Settings.fit": skipped("settings"),
    FP + "Settings2.fit": skipped("settings"),
    FP + "nametest.FIT": skipped("settings"),  # the same bytes as Settings.fit
    FP + "MonitoringFile.fit": skipped("monitoring"),
    FP + "WeightScaleMultiUser.fit": skipped("weight"),
    FP + "WeightScaleSingleUser.fit": skipped("weight"),
    FP + "WorkoutCustomTargetValues.fit": skipped("workout"),
    FP + "WorkoutIndividualSteps.fit": skipped("workout"),
    FP + "WorkoutRepeatGreaterThanStep.fit": skipped("workout"),
    FP + "WorkoutRepeatSteps.fit": skipped("workout"),
}
# dropped together, these hold the same activity as Activity.fit (same device serial and
# creation time), and nametest.FIT is Settings.fit byte for byte
SAME_ACTIVITY_AS_ACTIVITY_FIT = [
    FP + n for n in ("activity-settings.fit", "activity-filecrc.fit",
                     "activity-activity-filecrc.fit", "activity-settings-corruptheader.fit",
                     "activity-settings-nodata.fit", "activity-unexpected-eof.fit")]
SAME_BYTES_AS = {FP + "nametest.FIT": FP + "Settings.fit"}

INGESTED = [name for name, row in SAMPLES.items() if row.status == "ingested"]
WITH_RUNS = [name for name, row in SAMPLES.items() if "running" in row.sports]
REBUILT_FILES = [name for name, row in SAMPLES.items() if row.warning == REBUILT]


# --- the oracle: the file's own messages, read without ingest/ ------------------------------

Values = dict[str, Any]
ORACLE_MESSAGES = frozenset({"file_id", "session", "record", "sport", "activity"})
WARMUP_S, WALKING_BELOW_SPM, MOVING_FROM_MPS = 300.0, 140.0, 1.0


def _read_fitparse(path: Path) -> tuple[list[tuple[str, Values]], bool]:
    """The messages fitparse reads, and whether it read to the end."""
    messages: list[tuple[str, Values]] = []
    try:
        for message in fitparse.FitFile(str(path), check_crc=False).get_messages():
            if message.name in ORACLE_MESSAGES:
                messages.append((message.name, message.get_values()))
    except Exception:  # keep what came before the damage
        return messages, False
    return messages, True


def _read_fitdecode(path: Path) -> list[tuple[str, Values]]:
    messages: list[tuple[str, Values]] = []
    try:
        with fitdecode.FitReader(str(path), check_crc=fitdecode.CrcCheck.DISABLED,
                                 error_handling=fitdecode.ErrorHandling.WARN) as reader:
            for frame in reader:
                if frame.frame_type == fitdecode.FIT_FRAME_DATA and frame.name in ORACLE_MESSAGES:
                    messages.append((frame.name, {f.name: f.value for f in frame.fields}))
    except Exception:  # keep what came before the damage
        pass
    return messages


@cache
def fit_messages(name: str) -> tuple[tuple[str, Values], ...]:
    """The file's messages by fitparse; by fitdecode if fitparse stops and fitdecode reads more."""
    path = FIT_SAMPLES / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        messages, whole = _read_fitparse(path)
        if not whole:
            fallback = _read_fitdecode(path)
            if count(fallback, "record") > count(messages, "record"):
                messages = fallback
    return tuple(messages)


def count(messages: Iterable[tuple[str, Values]], kind: str) -> int:
    return sum(1 for name, _ in messages if name == kind)


def records(name: str) -> list[Values]:
    return [values for kind, values in fit_messages(name) if kind == "record"]


def activity_sessions(name: str) -> list[Values]:
    """One session message per activity. A chained part whose file_id repeats an earlier part's
    (manufacturer, serial, time_created) holds the same activity again and adds none."""
    sessions: list[Values] = []
    seen: set[tuple[Any, ...]] = set()
    repeated = False
    for kind, values in fit_messages(name):
        if kind == "file_id":
            key = tuple(values.get(k) for k in ("manufacturer", "serial_number", "time_created"))
            repeated = key in seen and None not in key
            seen.add(key)
        elif kind == "session" and not repeated:
            sessions.append(values)
    return sessions


def text(value: Any) -> str | None:
    """An enum as ingest stores it: its name, an unknown code as its number in text."""
    return None if value is None else str(value)


def seconds(value: Any) -> float | None:
    """A FIT time as seconds: datetimes (UTC) and device-relative integers alike."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def session_window(session: Values) -> tuple[float, float]:
    """[start_time, start_time + total_elapsed_time], or to the session's timestamp if later."""
    start = seconds(session["start_time"])
    assert start is not None
    end = start + (session.get("total_elapsed_time") or 0.0)
    stamp = seconds(session.get("timestamp"))
    return start, max(end, stamp) if stamp is not None else end


def records_in(name: str, session: Values) -> list[tuple[float, Values]]:
    """(seconds since the session start, record) for the records inside the session's window."""
    start, end = session_window(session)
    picked = []
    for record in records(name):
        at = seconds(record.get("timestamp"))
        if at is not None and start <= at <= end:
            picked.append((at - start, record))
    return picked


def steps_per_min(record: Values) -> float | None:
    """Running cadence: FIT stores strides/min, so steps/min = 2 × (cadence + fractional)."""
    strides = record.get("cadence")
    if strides is None:
        return None
    return 2.0 * (strides + (record.get("fractional_cadence") or 0.0))


def speed_mps(record: Values) -> float | None:
    speed = record.get("enhanced_speed")
    return speed if speed is not None else record.get("speed")


def steady_cadence(name: str, session: Values) -> float | None:
    """Median cadence of running records (≥ 140 spm, moving or speed unknown) after the first
    5 minutes of the session (all of them when that leaves none); None without cadence."""
    running = []
    for elapsed_s, record in records_in(name, session):
        spm, speed = steps_per_min(record), speed_mps(record)
        if spm is not None and spm >= WALKING_BELOW_SPM and (
                speed is None or speed >= MOVING_FROM_MPS):
            running.append((elapsed_s, spm))
    steady = [spm for elapsed_s, spm in running if elapsed_s >= WARMUP_S]
    cadences = steady or [spm for _, spm in running]
    return median(cadences) if cadences else None


def record_median(name: str, session: Values, field: str) -> float | None:
    values = [r[field] for _, r in records_in(name, session) if r.get(field)]
    return median(values) if values else None


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- running the pipeline ------------------------------------------------------------------

def settings_under(root: Path) -> IngestSettings:
    return IngestSettings(inbox=root / "inbox", archive=root / "archive",
                          quarantine=root / "quarantine", stability_s=0)


def drop_sample(settings: IngestSettings, name: str) -> Path:
    """Copy one sample into the athlete's inbox folder (into tmp, never into the repo)."""
    target = settings.inbox / ATHLETE / Path(name).name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(FIT_SAMPLES / name, target)
    return target


@dataclass
class Alone:
    """One sample ingested on its own into a fresh store."""

    settings: IngestSettings
    outcome: IngestOutcome
    activities: list[Activity]  # by session_index; loaded, usable outside the session
    source: SourceFile


@pytest.fixture(scope="module")
def samples_dir() -> Path:
    if not FIT_SAMPLES.is_dir():
        pytest.skip(SKIP_REASON)
    return FIT_SAMPLES


@pytest.fixture(scope="module")
def ingest_alone(samples_dir: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Alone]:
    """Ingest a sample alone into a fresh SQLite store, once per module whatever asks for it."""
    done: dict[str, Alone] = {}

    def run(name: str) -> Alone:
        if name not in done:
            root = tmp_path_factory.mktemp(Path(name).stem[:30])
            settings = settings_under(root)
            drop_sample(settings, name)
            store = open_store(f"sqlite:///{root / 'strideguard.db'}")
            try:
                [outcome] = ingest_inbox(store, settings)
                with store.session() as session:
                    activities = list(session.scalars(
                        select(Activity).order_by(Activity.session_index)))
                    [source] = session.scalars(select(SourceFile)).all()
            finally:
                store.dispose()
            done[name] = Alone(settings, outcome, activities, source)
        return done[name]

    return run


def assert_warned(warnings_: list[str], pattern: str, where: str) -> None:
    assert any(re.search(pattern, w) for w in warnings_), (
        f"{where}: no warning matching {pattern!r} in {warnings_!r}")


# --- per file ------------------------------------------------------------------------------

def test_the_table_has_one_row_per_sample_file(samples_dir: Path) -> None:
    on_disk = {p.relative_to(samples_dir).as_posix() for p in samples_dir.rglob("*")
               if p.is_file() and p.suffix != ".md"}
    assert on_disk == set(SAMPLES), "a sample was added or removed: update SAMPLES"


@pytest.mark.parametrize("name", SAMPLES)
def test_outcome_and_where_the_file_went(ingest_alone: Callable[[str], Alone], name: str) -> None:
    row, alone = SAMPLES[name], ingest_alone(name)
    outcome = alone.outcome
    assert outcome.status == row.status, f"{outcome.status}: {outcome.reason} {outcome.warnings}"
    assert outcome.athlete_id == ATHLETE
    assert alone.source.status == row.status
    if row.reason:
        assert re.search(row.reason, outcome.reason), outcome.reason
    if row.status == "ingested":
        assert len(outcome.activity_ids) == row.activities
        if row.warning:
            assert_warned(outcome.warnings, row.warning, "outcome")
            for activity in alone.activities:
                assert_warned(activity.warnings, row.warning, f"activity {activity.session_index}")
        else:  # a clean file raises no alarms
            assert outcome.warnings == []
            assert all(a.warnings == [] for a in alone.activities)
    else:
        assert alone.activities == []

    # the inbox is empty; the original, unchanged, is in archive/ or (with a reason) quarantine/
    settings = alone.settings
    assert files_under(settings.inbox) == []
    folder = settings.quarantine if row.status == "quarantined" else settings.archive
    [kept] = [p for p in files_under(folder) if not p.name.endswith(".reason.txt")]
    assert sha256(kept) == sha256(FIT_SAMPLES / name)
    assert outcome.stored_at == kept
    if row.status == "quarantined":
        reason_file = kept.with_name(kept.name + ".reason.txt")
        assert reason_file.is_file() and outcome.reason in reason_file.read_text()
        assert files_under(settings.archive) == []
    else:
        assert files_under(settings.quarantine) == []


@pytest.mark.parametrize("name", INGESTED)
def test_one_activity_per_session_with_its_sport(ingest_alone: Callable[[str], Alone],
                                                 name: str) -> None:
    row, alone = SAMPLES[name], ingest_alone(name)
    activities = alone.activities
    assert len(activities) == row.activities
    assert tuple(a.sport for a in activities) == row.sports
    assert all(a.athlete_id == ATHLETE for a in activities)
    assert all(a.is_run == (a.sport == "running") for a in activities)
    sessions = activity_sessions(name)
    if row.warning == REBUILT:
        assert sessions == []
        return
    assert len(sessions) == len(activities)
    for activity, session in zip(activities, sessions, strict=True):
        # sport and sub_sport as the session message says (an unknown code kept as text)
        assert (activity.sport, activity.sub_sport) == (
            text(session.get("sport")) or "generic", text(session.get("sub_sport")))


@pytest.mark.parametrize("name", WITH_RUNS)
def test_running_sessions_match_the_file(ingest_alone: Callable[[str], Alone], name: str) -> None:
    alone = ingest_alone(name)
    sessions = activity_sessions(name)
    assert len(alone.activities) == len(sessions)
    checked = 0
    for activity, session in zip(alone.activities, sessions, strict=True):
        if text(session.get("sport")) != "running":
            continue
        checked += 1
        where = f"session {activity.session_index}"
        for stored, expected in ((activity.distance_m, session.get("total_distance")),
                                 (activity.timer_s, session.get("total_timer_time"))):
            want = None if expected is None else pytest.approx(expected, rel=0.01)
            assert stored == want, where
        oracle = steady_cadence(name, session)
        assert activity.steady_cadence_spm == (
            None if oracle is None else pytest.approx(oracle, rel=0.01)), where
    assert checked


# --- named values --------------------------------------------------------------------------

def test_fenix2_run_is_9_km(ingest_alone: Callable[[str], Alone]) -> None:
    [run] = ingest_alone(FP + "activity-small-fenix2-run.fit").activities
    assert run.distance_m == pytest.approx(9000, rel=0.01)


def test_fr920xt_triathlon_run_leg_cadence(ingest_alone: Callable[[str], Alone]) -> None:
    legs = ingest_alone(FP + "sample_mulitple_header.fit").activities
    [run] = [leg for leg in legs if leg.sport == "running"]
    assert run.steady_cadence_spm == pytest.approx(167, rel=0.01)


def test_fenix5_running_dynamics(ingest_alone: Callable[[str], Alone]) -> None:
    name = FP + "garmin-fenix-5-run.fit"
    [run] = ingest_alone(name).activities
    [session] = activity_sessions(name)
    balance = record_median(name, session, "stance_time_balance")
    ratio = record_median(name, session, "vertical_ratio")
    step_mm = record_median(name, session, "step_length")
    assert balance and ratio and step_mm
    assert run.gct_balance_left_pct == pytest.approx(balance, rel=0.01)
    assert run.vertical_ratio_pct == pytest.approx(ratio, rel=0.01)
    assert run.step_length_m == pytest.approx(step_mm / 1000, rel=0.01)


@pytest.mark.parametrize("name", REBUILT_FILES)
def test_no_session_message_rebuilt_from_records(ingest_alone: Callable[[str], Alone],
                                                 name: str) -> None:
    [activity] = ingest_alone(name).activities
    timed = [r for r in records(name) if isinstance(r.get("timestamp"), datetime)]
    distances = [r["distance"] for r in timed if r.get("distance") is not None]
    assert activity.start_utc == timed[0]["timestamp"].replace(tzinfo=UTC)
    assert activity.distance_m == pytest.approx(distances[-1], rel=0.01)


def test_nick_unterminated_ride(ingest_alone: Callable[[str], Alone]) -> None:
    name = FP + "nick.fit"
    assert count(fit_messages(name), "record") == 14_391
    sports = [v.get("sport") for kind, v in fit_messages(name) if kind == "sport"]
    assert sports[:1] == ["cycling"]
    [ride] = ingest_alone(name).activities
    assert ride.sport == "cycling"
    assert ride.distance_m == pytest.approx(113_600, rel=0.001)


@pytest.mark.parametrize("name", [FP + "antfs-dump.63.fit", FP + "compressed-speed-distance.fit"])
def test_forerunner70_relative_times_anchored_on_local_time(
        ingest_alone: Callable[[str], Alone], name: str) -> None:
    [run] = ingest_alone(name).activities
    [session] = activity_sessions(name)
    [activity_message] = [v for kind, v in fit_messages(name) if kind == "activity"]
    assert isinstance(session["start_time"], int)  # device-relative, not a date
    # the activity message's local wall-clock time, moved back to the session start; the
    # athlete's zone is unknown here, so only within a day of it
    local_start = activity_message["local_timestamp"] - timedelta(
        seconds=activity_message["timestamp"] - session["start_time"])
    assert abs(run.start_utc.replace(tzinfo=None) - local_start) <= timedelta(hours=14)
    assert run.sport == "running"


def test_compressed_speed_distance_run_distance(ingest_alone: Callable[[str], Alone]) -> None:
    [run] = ingest_alone(FP + "compressed-speed-distance.fit").activities
    assert run.distance_m == pytest.approx(10_248.67, rel=0.001)


# --- the whole folder at once --------------------------------------------------------------

def test_whole_folder_in_one_inbox(store: Store, tmp_path: Path, samples_dir: Path) -> None:
    settings = dataclasses.replace(settings_under(tmp_path), workers=2)
    names = list(SAMPLES)
    assert len({Path(n).name for n in names}) == len(names), "two samples share a file name"
    # the inbox is read oldest first: the originals go before their copies
    originals = {FP + "Activity.fit", *SAME_BYTES_AS.values()}
    names.sort(key=lambda n: (n not in originals, n))
    base = time.time() - 3600
    for i, name in enumerate(names):
        os.utime(drop_sample(settings, name), (base + i, base + i))

    outcomes = {o.path.name: o for o in ingest_inbox(store, settings)}

    assert sorted(outcomes) == sorted(Path(n).name for n in names)
    expected_total = 0
    for name in names:
        outcome, row = outcomes[Path(name).name], SAMPLES[name]
        if name in SAME_ACTIVITY_AS_ACTIVITY_FIT:
            assert outcome.status == "duplicate", (name, outcome.reason)
            assert "Activity.fit" in outcome.reason
        elif name in SAME_BYTES_AS:
            assert outcome.status == "duplicate", (name, outcome.reason)
            assert Path(SAME_BYTES_AS[name]).name in outcome.reason
        else:
            assert outcome.status == row.status, (name, outcome.reason)
            expected_total += row.activities
        if outcome.status == "quarantined":
            assert outcome.stored_at is not None
            assert outcome.stored_at.with_name(outcome.stored_at.name + ".reason.txt").is_file()

    with store.session() as session:
        activities = session.scalars(select(Activity)).all()
        assert len(activities) == expected_total
        assert {a.athlete_id for a in activities} == {ATHLETE}
        statuses = {s.original_name: s.status for s in session.scalars(select(SourceFile))}
    # one row per distinct content (sha256 is unique): the same bytes again adds no row
    same_bytes = {Path(n).name for n in SAME_BYTES_AS}
    assert statuses == {n: o.status for n, o in outcomes.items() if n not in same_bytes}
    # nothing left in the inbox, nothing lost: every original is archived or quarantined
    assert files_under(settings.inbox) == []
    kept = [p for p in files_under(settings.archive) + files_under(settings.quarantine)
            if not p.name.endswith(".reason.txt")]
    assert sorted(sha256(p) for p in kept) == sorted(sha256(FIT_SAMPLES / n) for n in names)
