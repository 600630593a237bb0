"""The digest benchmark's squad: a year of training and alerts per runner, written straight into
the tables (activities, their source files, alerts) and a config naming every runner.

Each runner has up to a year of training ending on Sunday 29 November 2026 (ISO week 2026-W48):
3-6 runs a week of 5-25 km at a personal pace with a tempo run and a Sunday long run, steady
cadence that follows speed (a few runners' cadence falls week by week, a few have no footpod),
ground-contact balance for some, strength sessions for some, late starters, breaks, a few quiet
last weeks and long-run spikes; and a year of alerts shaped like the shipped rules'. The same
seed gives the same data every run.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    import numpy as np

    from rules.loader import RuleSet
    from store import Store

WEEK = "2026-W48"
WEEKS_OF_HISTORY = 52
LAST_SUNDAY = date(2026, 11, 29)
FIRST_MONDAY = LAST_SUNDAY - timedelta(days=7 * WEEKS_OF_HISTORY - 1)
# after every runner's Monday 07:30 (New York's is 12:30 UTC): each digest is due
NOW = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)
SERVICE_TZ = "Europe/Berlin"
OTHER_TZ = ("Europe/Lisbon", "America/New_York")
INSERT_BATCH = 20_000


# --- the squad's year, as rows ----------------------------------------------------------------


@dataclass(frozen=True)
class Runner:
    """One runner's habits: what the generator draws each week from."""

    number: int
    timezone: str
    first_week: int  # index of the first week with training (0 = a full year)
    runs_per_week: int  # 3-6, give or take one a week
    easy_speed_mps: float
    long_km: float
    cadence_spm: float | None  # None: no footpod or running dynamics
    cadence_slope: float  # spm per m/s
    cadence_drift_spm_per_week: float  # negative: cadence falling
    balance_left_pct: float | None  # None: no ground-contact balance
    strength_per_week: int
    break_weeks: range  # weeks without anything (an injury, a holiday)
    quiet_last_week: bool  # the watch recorded nothing in the digest's week
    spike: float | None  # the last long run against the longest of the month before

    @property
    def id(self) -> str:
        return f"runner-{self.number:04d}"


def draw_runner(number: int, rng: np.random.Generator) -> Runner:
    spike = float(rng.uniform(1.3, 2.1)) if rng.random() < 0.10 else None
    breaks = range(0)
    if rng.random() < 0.10:
        start = int(rng.integers(8, 44))
        breaks = range(start, start + int(rng.integers(2, 5)))
    cadence = float(rng.uniform(156, 184)) if rng.random() < 0.92 else None
    return Runner(
        number=number,
        timezone=str(rng.choice(OTHER_TZ)) if rng.random() < 0.2 else SERVICE_TZ,
        first_week=int(rng.integers(4, 40)) if rng.random() < 0.15 else 0,
        runs_per_week=int(rng.integers(3, 7)),
        easy_speed_mps=float(rng.uniform(2.6, 3.6)),
        long_km=float(rng.uniform(10, 13.5) if spike else rng.uniform(12, 23)),
        cadence_spm=cadence,
        cadence_slope=float(rng.uniform(4, 9)),
        cadence_drift_spm_per_week=float(-rng.uniform(0.4, 0.9)) if rng.random() < 0.10 else 0.0,
        balance_left_pct=(float(rng.normal(50, 1.3)) if cadence and rng.random() < 0.5
                          else None),
        strength_per_week=int(rng.choice([0, 0, 0, 1, 1, 2, 2, 3])),
        break_weeks=breaks,
        quiet_last_week=rng.random() < 0.03,
        spike=spike,
    )


def _at(day: date, hour: float, timezone: str) -> datetime:
    """A local time of day as an aware UTC datetime."""
    local = datetime.combine(day, clock(int(hour), int(hour % 1 * 60)), tzinfo=ZoneInfo(timezone))
    return local.astimezone(UTC)


def training(runner: Runner, rng: np.random.Generator) -> list[dict[str, Any]]:
    """The runner's activities as `activities` rows (without ids), oldest first."""
    rows: list[dict[str, Any]] = []
    long_runs: list[float] = []
    for week in range(runner.first_week, WEEKS_OF_HISTORY):
        last = week == WEEKS_OF_HISTORY - 1
        if week in runner.break_weeks or (last and runner.quiet_last_week):
            continue
        monday = FIRST_MONDAY + timedelta(weeks=week)
        runs = min(6, max(3, runner.runs_per_week + int(rng.integers(-1, 2))))
        long_day = 6 if rng.random() < 0.8 else 5
        others = sorted(rng.choice([d for d in range(6) if d != long_day], runs - 1,
                                   replace=False).tolist())
        tempo_day = others[len(others) // 2]
        long_km = min(25.0, runner.long_km * rng.uniform(0.85, 1.1))
        if last and runner.spike:
            long_km = min(25.0, runner.spike * max(long_runs[-4:], default=long_km))
        long_runs.append(long_km)
        for weekday in (*others, long_day):
            day = monday + timedelta(days=weekday)
            km = long_km if weekday == long_day else rng.uniform(5, max(6, 0.7 * runner.long_km))
            factor = 0.94 if weekday == long_day else 1.1 if weekday == tempo_day else 1.0
            rows.append(_run(runner, rng, day, km, factor, week))
        free = [d for d in range(7) if d not in (*others, long_day)] or [2]
        sessions = max(0, runner.strength_per_week + int(rng.choice([-1, 0, 0, 0, 1])))
        for weekday in sorted(rng.choice(free, min(sessions, len(free)), replace=False).tolist()):
            day = monday + timedelta(days=weekday)
            rows.append({"sport": "training", "sub_sport": "strength_training",
                         "is_run": False, "is_strength": True,
                         "start_utc": _at(day, 18 + rng.uniform(0, 2), runner.timezone),
                         "timer_s": float(rng.uniform(1500, 3000)),
                         "elapsed_s": float(rng.uniform(3000, 3600)), "distance_m": None})
    return rows


def _run(runner: Runner, rng: np.random.Generator, day: date, km: float, factor: float,
         week: int) -> dict[str, Any]:
    speed = runner.easy_speed_mps * factor * (1 + rng.normal(0, 0.03))
    hour = rng.uniform(8, 10) if day.weekday() >= 5 else rng.uniform(6, 7.5)
    timer_s = km * 1000 / speed
    row: dict[str, Any] = {
        "sport": "running", "sub_sport": "generic", "is_run": True, "is_strength": False,
        "start_utc": _at(day, hour, runner.timezone), "distance_m": km * 1000,
        "timer_s": timer_s, "elapsed_s": timer_s * rng.uniform(1.0, 1.08),
        "avg_speed_mps": speed, "avg_heart_rate_bpm": float(rng.uniform(128, 165)),
        "rpe": float(rng.integers(2, 9)),
    }
    if runner.cadence_spm is not None:
        cadence = (runner.cadence_spm + runner.cadence_slope * (speed - runner.easy_speed_mps)
                   + runner.cadence_drift_spm_per_week * (week - WEEKS_OF_HISTORY + 1)
                   + rng.normal(0, 1.2))
        row |= {
            "avg_cadence_spm": cadence - rng.uniform(1, 3), "steady_cadence_spm": cadence,
            "steady_speed_mps": speed, "cadence_first_fifth_spm": cadence + rng.normal(1, 0.5),
            "cadence_last_fifth_spm": cadence - rng.uniform(0, 3),
            "speed_first_fifth_mps": speed * rng.uniform(0.99, 1.02),
            "speed_last_fifth_mps": speed * rng.uniform(0.96, 1.0),
            "step_length_m": speed * 120 / cadence,
        }
    if runner.balance_left_pct is not None:
        row |= {"gct_balance_left_pct": runner.balance_left_pct + rng.normal(0, 0.3),
                "vertical_ratio_pct": float(rng.uniform(6.5, 9.5)),
                "ground_contact_ms": float(rng.uniform(220, 290))}
    return row


# alerts: rule -> (severity, metric, summary template over {value}); shaped like the shipped rules
ALERT_SHAPES: dict[str, tuple[str, str, str]] = {
    "single_run_spike": ("warn", "longest_run_ratio_30d",
                         "A run {value:.2f}x the longest of the 30 days before it"),
    "weekly_progression": ("warn", "distance_change_7d_pct",
                           "{value:.0f} % more running than the week before"),
    "no_strength_7d": ("info", "strength_sessions_7d", "No strength session in 7 days"),
    "strength_under_twice_a_week": ("info", "strength_sessions_14d",
                                    "{value:.0f} strength sessions in 14 days, under 4"),
    "monotony": ("warn", "monotony_7d", "Monotony {value:.1f}: every day the same load"),
    "run_streak": ("warn", "consecutive_run_days", "{value:.0f} run days in a row"),
    "cadence_falling": ("info", "cadence_change_spm_8w",
                        "Cadence {value:+.1f} spm over 8 weeks at the same speed"),
    "gct_imbalance": ("info", "gct_balance_left_pct", "Ground contact {value:.1f} % left"),
    "acwr_high": ("warn", "acwr_uncoupled", "Acute:chronic load {value:.2f}"),
    "tsb_very_low": ("info", "tsb", "Form (TSB) {value:.0f} km/day"),
}
PAST_RULES = ("monotony", "run_streak", "weekly_progression", "single_run_spike",
              "no_strength_7d", "strength_under_twice_a_week", "tsb_very_low", "acwr_high")


class AlertMaker:
    """Alert rows with payloads as the rules room writes them (summary, description, advice)."""

    def __init__(self, rule_set: RuleSet, runner: Runner, rng: np.random.Generator) -> None:
        self.rule_set, self.runner, self.rng = rule_set, runner, rng
        self.episodes: dict[str, int] = {}
        self.rows: list[dict[str, Any]] = []
        self.advice_context = {"ceiling_km": f"about {runner.long_km * 1.1:.1f} km",
                               "cadence_target": "about 5 % more steps per minute"}

    def add(self, rule_id: str, fired_at: datetime, *, value: float,
            resolved_at: datetime | None = None, severity: str | None = None,
            silenced_reason: str | None = None) -> None:
        from rules.loader import TEMPLATE_ENV

        rule = self.rule_set.rule(rule_id)
        assert rule is not None, rule_id
        default_severity, metric, summary = ALERT_SHAPES[rule_id]
        severity = severity or default_severity
        episode = self.episodes[rule_id] = self.episodes.get(rule_id, 0) + 1
        alert_id = str(uuid.UUID(bytes=self.rng.bytes(16), version=4))
        blocks = [{"key": key, "title": self.rule_set.advice.advice[key].title,
                   "text": TEMPLATE_ENV.from_string(self.rule_set.advice.advice[key].text)
                   .render(**self.advice_context).strip()} for key in rule.advice]
        deliver = rule.delivery_for(severity)
        as_of = fired_at.astimezone(ZoneInfo(self.runner.timezone)).date() - timedelta(days=1)
        self.rows.append({
            "id": alert_id, "rule_id": rule_id, "athlete_id": self.runner.id,
            "episode": episode, "severity": severity, "metric": metric, "value": value,
            "threshold": None, "as_of": as_of, "fired_at": fired_at,
            "resolved_at": resolved_at, "silenced_reason": silenced_reason, "deliver": deliver,
            "payload": {
                "alert_id": alert_id, "rule": rule_id, "athlete": self.runner.id,
                "severity": severity, "metric": metric, "value": value,
                "as_of": as_of.isoformat(), "summary": summary.format(value=value),
                "description": rule.description,
                "advice": [f"{b['title']}: {b['text']}" for b in blocks],
                "advice_blocks": blocks, "deliver": deliver,
            },
        })


def alerts(rule_set: RuleSet, runner: Runner, rng: np.random.Generator) -> list[dict[str, Any]]:
    """A year of resolved episodes, then what is open or happened in the digest's week."""
    maker = AlertMaker(rule_set, runner, rng)
    tz = runner.timezone
    start = FIRST_MONDAY + timedelta(weeks=runner.first_week)
    week_monday = LAST_SUNDAY - timedelta(days=6)
    before_window = _at(week_monday, 6, tz)
    span_s = (before_window - _at(start, 7, tz)).total_seconds()
    past = sorted((_at(start, 7, tz) + timedelta(seconds=rng.uniform(0, span_s)), rule_id)
                  for rule_id in map(str, rng.choice(PAST_RULES, int(rng.integers(4, 15)))))
    for fired, rule_id in past:
        resolved = min(fired + timedelta(days=float(rng.uniform(1, 20))),
                       before_window - timedelta(days=1))
        if resolved > fired:
            maker.add(rule_id, fired, value=float(rng.uniform(1, 40)), resolved_at=resolved)
    this_monday = _at(LAST_SUNDAY + timedelta(days=1), 7, tz)  # the evaluation before the digest
    in_week = _at(week_monday + timedelta(days=int(rng.integers(1, 6))), 7, tz)
    weeks_ago = _at(week_monday - timedelta(days=int(rng.integers(7, 40))), 7, tz)
    if runner.strength_per_week == 0:
        maker.add("no_strength_7d", weeks_ago, value=0.0)
    if runner.strength_per_week <= 1:
        maker.add("strength_under_twice_a_week", this_monday, value=float(
            runner.strength_per_week * 2))
    if runner.cadence_drift_spm_per_week < 0:
        maker.add("cadence_falling", in_week, value=8 * runner.cadence_drift_spm_per_week)
    balance = runner.balance_left_pct
    if balance is not None and not 47.8 <= balance <= 52.2:
        maker.add("gct_imbalance", weeks_ago, value=balance)
    if runner.spike:
        maker.add("single_run_spike", this_monday, value=runner.spike,
                  severity="critical" if runner.spike > 2.0 else "warn")
        if rng.random() < 0.5:
            maker.add("weekly_progression", this_monday, value=float(rng.uniform(31, 60)))
    if rng.random() < 0.08:
        maker.add("acwr_high", weeks_ago, value=float(rng.uniform(1.8, 2.3)))  # still open
    if rng.random() < 0.10:
        maker.add("run_streak", in_week, value=7.0,
                  resolved_at=in_week + timedelta(days=2))  # fired and resolved in the week
    if rng.random() < 0.05:
        maker.add("monotony", in_week, value=float(rng.uniform(2.0, 3.0)),
                  silenced_reason="silenced by silence 7 (holiday)")  # held back
    if rng.random() < 0.10:
        maker.add("tsb_very_low", weeks_ago, value=float(rng.uniform(-45, -31)),
                  resolved_at=in_week)  # a nudge that cleared during the week
    return maker.rows


def fill(store: Store, rule_set: RuleSet, runners: list[Runner],
         rng: np.random.Generator) -> dict[str, int]:
    """Athletes, then per activity a source file and the activity, then alerts, in batched
    executemany inserts (explicit ids, so no row needs a round trip)."""
    from sqlalchemy import insert

    from store import Activity, Alert, Athlete, SourceFile

    counts = {"activities": 0, "alerts": 0}
    sources: list[dict[str, Any]] = []
    activities: list[dict[str, Any]] = []
    alert_rows: list[dict[str, Any]] = []

    def flush(session: Any, final: bool = False) -> None:
        nonlocal sources, activities, alert_rows
        if len(activities) >= INSERT_BATCH or final:
            session.execute(insert(SourceFile), sources)
            session.execute(insert(Activity), activities)
            counts["activities"] += len(activities)
            sources, activities = [], []
        if len(alert_rows) >= INSERT_BATCH or (final and alert_rows):
            session.execute(insert(Alert), alert_rows)
            counts["alerts"] += len(alert_rows)
            alert_rows = []

    with store.session() as session:
        session.execute(insert(Athlete), [{"id": r.id, "created_at": _at(
            FIRST_MONDAY + timedelta(weeks=r.first_week), 5, SERVICE_TZ)} for r in runners])
        next_id = 1
        for runner in runners:
            serial = 3_900_000_000 + runner.number
            for row in training(runner, rng):
                start = row["start_utc"]
                sources.append({
                    "id": next_id, "sha256": f"{next_id:064x}", "athlete_id": runner.id,
                    "original_name": f"{start:%Y-%m-%d-%H-%M-%S}.fit",
                    "size_bytes": int(rng.integers(40_000, 400_000)), "status": "ingested",
                    "warnings": [], "fit_file_type": "activity", "fit_manufacturer": "garmin",
                    "fit_serial_number": serial, "fit_time_created": start,
                    "decoder": "fitparse 1.2.0", "received_at": start + timedelta(hours=2),
                    "stored_path": f"archive/{runner.id}/{start:%Y-%m-%d-%H-%M-%S}.fit"})
                activities.append(row | {
                    "id": next_id, "athlete_id": runner.id, "source_file_id": next_id,
                    "session_index": 0, "warnings": [], "decoder": "fitparse 1.2.0",
                    "created_at": start + timedelta(hours=2)})
                next_id += 1
            alert_rows += alerts(rule_set, runner, rng)
            flush(session)
        flush(session, final=True)
    return counts


CONFIG = """\
database: {database}
timezone: {timezone}
mail_dir: mail
inbox: inbox
archive: archive
quarantine: quarantine
athletes:
{athletes}
notify:
  email:
    host: smtp.bench.invalid   # never contacted: the bench queues, it does not dispatch
    port: 587
    security: starttls
    sender: "StrideGuard <alerts@example.com>"
    to: [coach@example.com]
  webhooks:
    - url: https://hooks.bench.invalid/strideguard
      secret: bench-secret
schedule:
  digest: "mon 07:30"
"""


def write_config(folder: Path, database: str, runners: list[Runner]) -> Path:
    lines = []
    for r in runners:
        zone = f", timezone: {r.timezone}" if r.timezone != SERVICE_TZ else ""
        lines.append(f"  - {{id: {r.id}, name: Runner {r.number:04d}, "
                     f"email: {r.id}@example.com{zone}}}")
    path = folder / "strideguard.yaml"
    path.write_text(CONFIG.format(database=database, timezone=SERVICE_TZ,
                                  athletes="\n".join(lines)))
    return path


def generate(folder: Path, database: str, athletes: int, seed: int) -> dict[str, Any]:
    """Write the config and fill the store; the counts and the seconds it took."""
    import numpy as np

    from wiring import open_app

    rng = np.random.default_rng(seed)
    runners = [draw_runner(number, rng) for number in range(athletes)]
    config = write_config(folder, database, runners)
    started = time.perf_counter()
    with open_app(str(config)) as app:
        counts = fill(app.store, app.rules, runners, rng)
    return counts | {"athletes": athletes, "seconds": time.perf_counter() - started,
                     "config": str(config)}
