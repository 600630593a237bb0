"""Silences (issue #12, DESIGN §8): the presets file, `strideguard silence add | list | expire`,
findings recorded with the silence's id and not sent, sent once when the silence ends, and the
digest's lines (on SQLite and PostgreSQL through the `store` fixture)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from test_rules import NOW, TODAY, run_evaluation, store_plan

from cli import main
from config import ConfigError
from config.locate import EXIT_CONFIG
from config.schema import ServiceConfig
from digest.athlete import athlete_week
from digest.data import athlete_week_data
from digest.render import render_athlete_digest
from fitwriter.synthetic import PlannedSession, weekly_plan
from rules.loader import load_rules
from rules.silences import (
    PROTECTED_RULES,
    SHIPPED_SILENCES,
    end_of_local_day,
    load_presets,
    silence_end,
    until_text,
)
from store import Alert, OutboxMessage, Store
from store.silences import add_silence

SPIKE_PLAN_KM = [5.0, 6.0, 5.0, 6.0, 8.0]  # a steady month, then a 17 km long run (2.1x)


# --- helpers -----------------------------------------------------------------------------------


def write_config(tmp_path: Path, database_url: str, extra: str = "") -> Path:
    config = tmp_path / "strideguard.yaml"
    config.write_text(f"database: {json.dumps(database_url)}\nmail_dir: mail\n{extra}",
                      encoding="utf-8")
    return config


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def alerts_json(capsys: pytest.CaptureFixture[str], config: Path) -> dict[str, dict]:
    code, out, _ = run_cli(capsys, "--config", str(config), "alerts", "--json")
    assert code == 0
    return {alert["rule"]: alert for alert in json.loads(out)}


def sent_for(store: Store, alert_id: str) -> int:
    """Outbox rows (notifications queued) of one alert."""
    with store.session() as session:
        return len(session.scalars(select(OutboxMessage).where(
            OutboxMessage.alert_id == alert_id)).all())


def alerts_by_rule(store: Store) -> dict[str, list[Alert]]:
    found: dict[str, list[Alert]] = {}
    with store.session() as session:
        for alert in session.scalars(select(Alert).order_by(Alert.episode)):
            found.setdefault(alert.rule_id, []).append(alert)
    return found


def silence(store: Store, rules: tuple[str, ...], starts_at: datetime, ends_at: datetime, *,
            athlete: str = "ana", preset: str | None = None, reason: str = "on holiday",
            by: str | None = "coach") -> str:
    with store.session() as session:
        row = add_silence(session, silence_id=str(uuid.uuid4()), athlete_id=athlete,
                          rule_ids=rules, preset=preset, starts_at=starts_at, ends_at=ends_at,
                          reason=reason, created_by=by)
        session.commit()
    return row.id


@pytest.fixture
def config(tmp_path: Path) -> ServiceConfig:
    return ServiceConfig(mail_dir=tmp_path / "mail")


# --- acceptance 1 of issue #12, through the command line ---------------------------------------


def test_a_silenced_spike_is_recorded_not_sent_and_sent_once_after_expire(
        store: Store, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # the alerts table on one line per alert
    today = datetime.now(UTC).date()
    store_plan(store, weekly_plan(today, 6, SPIKE_PLAN_KM, final_run_km=17.0))
    config = write_config(tmp_path, database_url)
    cfg = ["--config", str(config)]

    code, out, err = run_cli(capsys, *cfg, "silence", "add", "--athlete", "ana", "--rule",
                             "single_run_spike", "--for", "3d", "--reason", "race recovery",
                             "--by", "coach")
    assert code == 0, err
    lines = out.strip().splitlines()
    silence_id = lines[-1]
    assert str(uuid.UUID(silence_id)) == silence_id  # the id, alone on the last line
    assert "single_run_spike" in lines[0] and "race recovery" in lines[0]

    assert run_cli(capsys, *cfg, "evaluate")[0] == 0
    spike = alerts_json(capsys, config)["single_run_spike"]
    assert spike["state"] == "firing" and spike["severity"] == "critical"
    assert spike["silence_id"] == silence_id
    assert spike["not_sent_because"].startswith("silenced until ")
    assert "race recovery" in spike["not_sent_because"] and "by coach" in spike["not_sent_because"]
    assert spike["deliveries"] == [] and sent_for(store, spike["alert_id"]) == 0
    code, table, _ = run_cli(capsys, *cfg, "alerts")
    assert f"silenced ({silence_id[:8]}" in table

    code, out, _ = run_cli(capsys, *cfg, "silence", "expire", silence_id)
    assert code == 0 and f"silence {silence_id} ended" in out
    code, out, _ = run_cli(capsys, *cfg, "silence", "expire", silence_id)
    assert code == 0 and "already ended" in out

    assert run_cli(capsys, *cfg, "evaluate")[0] == 0
    spike = alerts_json(capsys, config)["single_run_spike"]
    assert sent_for(store, spike["alert_id"]) == 1  # sent now, once
    assert spike["silence_id"] is None and spike["not_sent_because"] is None
    assert [d["kind"] for d in spike["deliveries"]] == ["firing"]
    assert run_cli(capsys, *cfg, "evaluate")[0] == 0
    assert sent_for(store, spike["alert_id"]) == 1  # and nothing more


def test_the_holiday_preset_mutes_nudges_and_streaks_but_a_spike_still_alerts(
        store: Store, config: ServiceConfig) -> None:
    # a run every day (a streak), no strength (the strength nudges) and a 17 km long run
    store_plan(store, weekly_plan(TODAY, 6, [5.0] * 7, strength_per_week=0,
                                  final_run_km=17.0))
    holiday = load_presets(SHIPPED_SILENCES).rules_of("holiday")
    silence_id = silence(store, holiday, NOW - timedelta(hours=1), NOW + timedelta(days=10),
                         preset="holiday")
    run_evaluation(store, config)
    alerts = alerts_by_rule(store)
    for muted in ("run_streak", "no_strength_7d"):
        [alert] = alerts[muted]
        assert alert.silence_id == silence_id, muted
        assert alert.silenced_reason == ("silenced until 2026-12-01 20:00 (holiday: on "
                                         "holiday) by coach")
        assert sent_for(store, alert.id) == 0
    [spike] = alerts["single_run_spike"]
    assert spike.silence_id is None and spike.silenced_reason is None
    assert sent_for(store, spike.id) == 1


def test_a_silence_that_ends_by_time_lets_the_alert_through_once(
        store: Store, config: ServiceConfig) -> None:
    store_plan(store, weekly_plan(TODAY, 6, SPIKE_PLAN_KM, final_run_km=17.0))
    silence(store, ("single_run_spike",), NOW - timedelta(hours=2), NOW + timedelta(hours=12))
    run_evaluation(store, config)
    [spike] = alerts_by_rule(store)["single_run_spike"]
    assert spike.silence_id is not None and sent_for(store, spike.id) == 0
    run_evaluation(store, config, now=NOW + timedelta(hours=11))  # still silenced
    assert sent_for(store, spike.id) == 0
    run_evaluation(store, config, now=NOW + timedelta(hours=13))  # ended: the spike still holds
    [spike] = alerts_by_rule(store)["single_run_spike"]
    assert spike.silence_id is None and sent_for(store, spike.id) == 1
    assert spike.fired_at == NOW + timedelta(hours=13)  # notified now: cooldowns count from here
    run_evaluation(store, config, now=NOW + timedelta(hours=14))
    assert sent_for(store, spike.id) == 1


def test_a_silenced_episode_does_not_count_as_notified_for_the_cooldown(
        store: Store, config: ServiceConfig, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - id: single_run_spike\n    metric: longest_run_ratio_30d\n"
                     "    warn: \"> 1.10\"\n    cooldown: 30d\n", encoding="utf-8")
    store_plan(store, weekly_plan(TODAY, 6, SPIKE_PLAN_KM, final_run_km=10.0))
    silence(store, ("single_run_spike",), NOW - timedelta(hours=1), NOW + timedelta(days=3))
    run_evaluation(store, config, rules=[rules])
    later = TODAY + timedelta(days=7)  # the 10 km run has left the window: it resolves unsent
    run_evaluation(store, config, as_of=later, now=NOW + timedelta(days=7), rules=[rules])
    store_plan(store, [PlannedSession(later + timedelta(days=1), "run", 12.0)])
    run_evaluation(store, config, as_of=later + timedelta(days=1), now=NOW + timedelta(days=8),
                   rules=[rules])
    first, second = alerts_by_rule(store)["single_run_spike"]
    assert first.resolved_at is not None and sent_for(store, first.id) == 0
    assert second.silenced_reason is None and sent_for(store, second.id) == 1


def test_an_escalation_a_silence_covers_waits_for_its_end(
        store: Store, config: ServiceConfig) -> None:
    store_plan(store, weekly_plan(TODAY, 6, SPIKE_PLAN_KM, final_run_km=10.0))  # warn, sent
    run_evaluation(store, config)
    [spike] = alerts_by_rule(store)["single_run_spike"]
    assert spike.severity == "warn" and sent_for(store, spike.id) == 1
    silence_id = silence(store, ("single_run_spike",), NOW, NOW + timedelta(days=1))
    store_plan(store, [PlannedSession(TODAY, "run", 17.0)])  # critical now
    run_evaluation(store, config, now=NOW + timedelta(hours=1))
    [spike] = alerts_by_rule(store)["single_run_spike"]
    assert spike.severity == "critical" and spike.silence_id == silence_id
    assert sent_for(store, spike.id) == 1
    run_evaluation(store, config, now=NOW + timedelta(days=1, hours=1))
    [spike] = alerts_by_rule(store)["single_run_spike"]
    assert spike.silence_id is None and sent_for(store, spike.id) == 2


def test_a_silence_longer_than_max_alert_age_still_lets_the_alert_through(
        store: Store, config: ServiceConfig) -> None:
    """A spike under a 4-day silence: when the silence ends the run is 4 days old, more than
    max_alert_age (3 d), but it was news when the silence held it: it is sent then, once."""
    store_plan(store, weekly_plan(TODAY, 6, SPIKE_PLAN_KM, final_run_km=17.0))
    silence(store, ("single_run_spike",), NOW - timedelta(hours=1), NOW + timedelta(days=4))
    run_evaluation(store, config)
    later = NOW + timedelta(days=4, hours=1)
    run_evaluation(store, config, now=later, as_of=TODAY + timedelta(days=4))
    [spike] = alerts_by_rule(store)["single_run_spike"]
    assert spike.silenced_reason is None and sent_for(store, spike.id) == 1


def test_a_resolution_reaches_those_told_of_the_firing_after_a_held_back_rise(
        store: Store, config: ServiceConfig) -> None:
    """warn sent; a rise to critical held back by a silence; then it clears: whoever heard the
    warning hears that it resolved."""
    store_plan(store, weekly_plan(TODAY, 6, SPIKE_PLAN_KM, final_run_km=10.0))
    run_evaluation(store, config)
    silence(store, ("single_run_spike",), NOW, NOW + timedelta(days=30))
    store_plan(store, [PlannedSession(TODAY, "run", 17.0)])
    run_evaluation(store, config, now=NOW + timedelta(hours=1))
    cleared = TODAY + timedelta(days=8)  # both runs have left the 7-day window
    report = run_evaluation(store, config, as_of=cleared, now=NOW + timedelta(days=8))
    [spike] = alerts_by_rule(store)["single_run_spike"]
    assert spike.resolved_at is not None
    assert [(t.kind, t.notified) for t in report.transitions
            if t.finding.rule.id == "single_run_spike"] == [("resolved", True)]


# --- the presets file --------------------------------------------------------------------------


def test_shipped_presets_name_shipped_rules_and_never_a_protected_one() -> None:
    rule_ids = [rule.id for rule in load_rules().rules]
    presets = load_presets(SHIPPED_SILENCES, rule_ids)
    assert set(presets.presets) == {"holiday", "ill", "taper", "injured"}
    for name, members in presets.presets.items():
        assert not set(members) & set(PROTECTED_RULES), name
        assert {"no_strength_7d", "strength_under_twice_a_week", "cadence_falling",
                "gct_imbalance", "monotony"} <= set(members), name
    assert "run_streak" in presets.presets["holiday"] and "run_streak" in presets.presets["ill"]
    assert "run_streak" in presets.presets["injured"]
    assert "run_streak" not in presets.presets["taper"]


@pytest.mark.parametrize("protected", PROTECTED_RULES)
def test_a_presets_file_naming_a_protected_rule_is_an_error_at_its_line(
        tmp_path: Path, protected: str) -> None:
    path = tmp_path / "silences.yaml"
    path.write_text("groups:\n  load: [monotony]\npresets:\n  holiday:\n"
                    f"    rules: [run_streak, {protected}]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_presets(path)
    [error] = caught.value.errors
    assert error.startswith(f"{path}:5:25: presets.holiday.rules[1]: '{protected}' is a load, "
                            "pain or see-a-professional rule")


def test_a_group_naming_a_protected_rule_and_an_unknown_rule_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "silences.yaml"
    path.write_text("groups:\n  nudges: [no_strength_7d, weekly_progression]\npresets:\n"
                    "  holiday:\n    rules: [nudges, run_streek]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_presets(path, ["no_strength_7d", "run_streak", "weekly_progression"])
    assert caught.value.errors[0].startswith(f"{path}:2:28: groups.nudges[1]: "
                                             "'weekly_progression' is a load")
    assert caught.value.errors[1] == (f"{path}:5:21: presets.holiday.rules[1]: unknown rule or "
                                      "group 'run_streek' (did you mean 'run_streak'?)")


def test_check_config_reads_the_presets_beside_the_rules_and_init_writes_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", str(tmp_path)]) == 0
    capsys.readouterr()
    presets = tmp_path / "silences.yaml"
    assert presets.read_text(encoding="utf-8") == SHIPPED_SILENCES.read_text(encoding="utf-8")
    config = tmp_path / "strideguard.yaml"
    assert main(["--config", str(config), "check-config"]) == 0
    presets.write_text("presets:\n  taper:\n    rules: [monotony, single_run_spike]\n",
                       encoding="utf-8")
    assert main(["--config", str(config), "check-config"]) == EXIT_CONFIG
    assert (f"{presets.resolve()}:3:23: presets.taper.rules[1]: 'single_run_spike'"
            in capsys.readouterr().err)


# --- `silence add`, `list`, `expire` -----------------------------------------------------------


def test_silence_commands_check_what_they_are_given_and_list_as_json(
        store: Store, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    store_plan(store, [PlannedSession(TODAY, "run", 5.0)])
    config = write_config(tmp_path, database_url,
                          "athletes:\n  - id: bo\n    timezone: Pacific/Auckland\n")
    cfg = ["--config", str(config), "silence"]
    add = [*cfg, "add", "--athlete", "ana", "--reason", "two weeks in Crete"]

    code, _, err = run_cli(capsys, *add, "--rule", "single_run_spik", "--for", "1d")
    assert code == EXIT_CONFIG and "unknown rule 'single_run_spik'" in err
    assert "did you mean 'single_run_spike'?" in err and "the rules are: " in err
    code, _, err = run_cli(capsys, *add, "--preset", "holliday", "--for", "1d")
    assert code == EXIT_CONFIG and "holiday, ill, taper, injured" in err
    code, _, err = run_cli(capsys, *[a if a != "ana" else "zoe" for a in add], "--preset",
                           "holiday", "--for", "1d")
    assert code == EXIT_CONFIG and "unknown athlete 'zoe'; the athletes are: ana, bo" in err
    for bad in ("0s", "-3d", "soon"):
        code, _, err = run_cli(capsys, *add, "--preset", "holiday", f"--for={bad}")
        assert code == EXIT_CONFIG, bad
    code, _, err = run_cli(capsys, *add, "--preset", "holiday", "--until", "2020-01-01")
    assert code == EXIT_CONFIG and "--until 2020-01-01 has passed" in err

    before = datetime.now(UTC)
    code, out, err = run_cli(capsys, *add, "--preset", "holiday", "--for", "2w", "--by", "ana")
    assert code == 0, err
    holiday_id = out.strip().splitlines()[-1]
    assert "strength nudges, cadence nudges, balance nudges, run_streak, monotony" in out
    bo_day = (datetime.now(UTC) + timedelta(days=3)).date()
    code, out, err = run_cli(capsys, *cfg, "add", "--athlete", "bo", "--rule",
                             "single_run_spike", "run_streak", "--until", bo_day.isoformat(),
                             "--reason", "taper")
    assert code == 0, err
    bo_id = out.strip().splitlines()[-1]
    assert f"until {bo_day.isoformat()} (Pacific/Auckland)" in out

    code, out, _ = run_cli(capsys, *cfg, "list", "--json")
    listed = {row["id"]: row for row in json.loads(out)}
    assert set(listed) == {holiday_id, bo_id}
    required = {"id", "athlete", "rules", "starts_at", "ends_at", "reason", "created_by"}
    assert all(required <= set(row) <= required | {"preset", "active"}
               for row in listed.values())
    holiday = listed[holiday_id]
    assert (holiday["athlete"], holiday["reason"], holiday["created_by"], holiday["preset"]) == \
        ("ana", "two weeks in Crete", "ana", "holiday")
    assert "run_streak" in holiday["rules"] and "single_run_spike" not in holiday["rules"]
    starts = datetime.fromisoformat(holiday["starts_at"])
    ends = datetime.fromisoformat(holiday["ends_at"])
    assert holiday["starts_at"].endswith("Z") and starts >= before.replace(microsecond=0)
    assert ends - starts == timedelta(weeks=2)
    assert listed[bo_id]["rules"] == ["single_run_spike", "run_streak"]  # by name: allowed
    assert datetime.fromisoformat(listed[bo_id]["ends_at"]) == \
        end_of_local_day(bo_day, "Pacific/Auckland")

    code, _, err = run_cli(capsys, *cfg, "expire", "no-such-silence")
    assert code == EXIT_CONFIG and "no silence 'no-such-silence'" in err
    assert run_cli(capsys, *cfg, "expire", bo_id[:8])[0] == 0  # a unique start of the id
    code, out, _ = run_cli(capsys, *cfg, "list", "--json")
    assert [row["id"] for row in json.loads(out)] == [holiday_id]
    code, out, _ = run_cli(capsys, *cfg, "list", "--all", "--json")
    ended = {row["id"]: row for row in json.loads(out)}[bo_id]
    assert ended["active"] is False
    assert datetime.fromisoformat(ended["ends_at"]) <= datetime.now(UTC)
    code, table, _ = run_cli(capsys, *cfg, "list", "--all")
    assert code == 0 and holiday_id in table and "ended" in table


def test_until_mutes_through_the_local_day_in_the_athletes_time_zone() -> None:
    now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    # Berlin is UTC+1 in December: the end of 6 December there is 23:00 UTC
    end = silence_end(now, "Europe/Berlin", until=date(2026, 12, 6))
    assert end == datetime(2026, 12, 6, 23, 0, tzinfo=UTC)
    assert until_text(end, "Europe/Berlin") == "2026-12-06"
    assert silence_end(now, "UTC", until=date(2026, 12, 1)) == datetime(2026, 12, 2, tzinfo=UTC)
    with pytest.raises(ValueError, match="has passed"):
        silence_end(now, "UTC", until=date(2026, 11, 30))
    # in Auckland (UTC+13) 1 December ended at 11:00 UTC: still today there until then
    with pytest.raises(ValueError, match="has passed"):
        silence_end(datetime(2026, 12, 1, 11, 0, tzinfo=UTC), "Pacific/Auckland",
                    until=date(2026, 12, 1))
    assert silence_end(now, "UTC", duration="36h") == now + timedelta(hours=36)
    assert until_text(now + timedelta(hours=36), "Europe/Berlin") == "2026-12-02 23:00"
    with pytest.raises(ValueError, match="--for: the duration must be positive"):
        silence_end(now, "UTC", duration="0s")
    with pytest.raises(ValueError, match="--for: expected a duration"):
        silence_end(now, "UTC", duration="-1d")


# --- the digest --------------------------------------------------------------------------------


def test_the_digest_lists_what_a_silence_held_back_and_the_silence_with_its_end(
        store: Store, config: ServiceConfig) -> None:
    store_plan(store, weekly_plan(TODAY, 6, [5.0] * 7, strength_per_week=0))
    holiday = load_presets(SHIPPED_SILENCES).rules_of("holiday")
    # --until 2026-11-21 (Saturday, TODAY): muted through the day, ends at midnight
    silence_id = silence(store, holiday, NOW - timedelta(days=9), end_of_local_day(TODAY, "UTC"),
                         preset="holiday", reason="two weeks in Crete")
    run_evaluation(store, config)
    rule_set = load_rules()
    with store.session() as session:
        week = athlete_week(session, config, rule_set, "ana", "2026-W47",
                            now=NOW + timedelta(minutes=30))
    [line] = week.silences
    assert line.silence_id == silence_id and line.ends_in_days == 1
    assert line.labels == ("strength nudges", "cadence nudges", "balance nudges", "run_streak",
                           "monotony")
    held = [a for a in (*week.alerts, *week.nudges) if a.silence_id == silence_id]
    assert {a.rule for a in held} >= {"run_streak", "no_strength_7d"}
    assert all(a.state == "held back" and a.held_back_reason.startswith(
        "silenced until 2026-11-21 (holiday: two weeks in Crete)") for a in held)

    mail = render_athlete_digest(week, athlete_week_data(week))
    text = " ".join(mail.text.split())
    assert ("Muted until Sat 21 Nov: strength nudges, cadence nudges, balance nudges, "
            "run_streak, monotony — holiday: two weeks in Crete (by coach) Ends tomorrow: "
            "from Sun 22 Nov you hear about these again.") in text
    assert "held back: silenced until 2026-11-21 (holiday: two weeks in Crete) by coach" in text
    assert "Muted until Sat 21 Nov" in mail.html and "Ends tomorrow" in mail.html

    # a week before it ends the line is there without the notice
    with store.session() as session:
        early = athlete_week(session, config, rule_set, "ana", "2026-W46",
                             now=NOW - timedelta(days=8))
    [line] = early.silences
    assert line.ends_in_days is None
    assert "Muted until Sat 21 Nov" in render_athlete_digest(early, {}).text
    assert "hear about these again" not in render_athlete_digest(early, {}).text


def test_the_athlete_is_told_the_day_before_a_silence_ends_once(
        store: Store, config: ServiceConfig) -> None:
    from email import message_from_bytes
    from email.policy import default as default_policy

    from notify.outbox import enqueue_alert, enqueue_notice
    from rules.evaluate import evaluate

    store_plan(store, weekly_plan(TODAY, 3, SPIKE_PLAN_KM))
    silence(store, ("no_strength_7d", "run_streak"), NOW - timedelta(days=5),
            NOW + timedelta(hours=30), preset="holiday", reason="Lisbon")

    def evaluate_at(moment: datetime) -> None:
        evaluate(store, config, load_rules(), now=moment,
                 enqueue=lambda session, alert, kind: enqueue_alert(session, config, alert,
                                                                    kind, moment),
                 announce=lambda session, notice, key: enqueue_notice(session, config, notice,
                                                                      key, moment))

    def notices() -> list[OutboxMessage]:
        with store.session() as session:
            return list(session.scalars(select(OutboxMessage).where(
                OutboxMessage.kind == "notice")))

    evaluate_at(NOW)  # 30 h before the end: not yet
    assert notices() == []
    evaluate_at(NOW + timedelta(hours=7))  # 23 h before: told
    evaluate_at(NOW + timedelta(hours=8))  # and only once
    [row] = notices()
    message = message_from_bytes(row.payload, policy=default_policy)
    assert message["X-StrideGuard-Kind"] == "notice" and "ends" in message["Subject"]
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "holiday: Lisbon" in text and "run_streak" in text
    assert "not medical advice" in text
