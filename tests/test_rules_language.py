"""The rule language: exact error lines for broken files, includes, `when`, `outside`, channels."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from config import ConfigError
from config.schema import ServiceConfig, WebhookConfig
from metrics import CATALOGUE, ActivityPoint, History
from metrics.result import MetricResult
from notify.channels import targets_for
from rules.judge import judge
from rules.loader import RulesReloader, load_rules
from rules.schema import Rule

HEAD = "rules:\n  - id: a\n    metric: distance_7d_km\n"
VALID = ", ".join(CATALOGUE)
EXPECTED_OPERATOR = ('expected ">", ">=", "<" or "<=" and a number (e.g. "> 1.10"), '
                     'or "outside A..B"')

# name -> (files to write, the file to load, the exact error lines; {dir} is the folder)
BROKEN: dict[str, tuple[dict[str, str], str, list[str]]] = {
    "typo'd key": (
        {"r.yaml": HEAD + '    warn: "> 50"\n    cooldwn: 3d\n'}, "r.yaml",
        ["{dir}/r.yaml:5:5: rules[0].cooldwn: unknown key 'cooldwn'; did you mean 'cooldown'?"]),
    "unknown metric": (
        {"r.yaml": 'rules:\n  - id: a\n    metric: distance_7d\n    warn: "> 50"\n'}, "r.yaml",
        [f"{{dir}}/r.yaml:3:13: rules[0].metric: unknown metric 'distance_7d'; did you mean "
         f"'distance_7d_km'? valid metrics: {VALID}"]),
    "bad operator": (
        {"r.yaml": HEAD + '    warn: "=> 50"\n'}, "r.yaml",
        [f"{{dir}}/r.yaml:4:11: rules[0].warn: {EXPECTED_OPERATOR}, got '=> 50'"]),
    "string threshold": (
        {"r.yaml": HEAD + '    critical: "> fifty"\n'}, "r.yaml",
        [f"{{dir}}/r.yaml:4:15: rules[0].critical: {EXPECTED_OPERATOR}, got '> fifty'"]),
    "bare number threshold": (
        {"r.yaml": HEAD + "    warn: 50\n"}, "r.yaml",
        [f"{{dir}}/r.yaml:4:11: rules[0].warn: {EXPECTED_OPERATOR}, got 50"]),
    "bad duration": (
        {"r.yaml": HEAD + '    warn: "> 50"\n    cooldown: 3 days\n'}, "r.yaml",
        ["{dir}/r.yaml:5:15: rules[0].cooldown: expected a duration like 30s, 5m, 36h, 3d, "
         "got '3 days'"]),
    "missing include": (
        {"r.yaml": "include: [team.yaml]\n" + HEAD + '    warn: "> 50"\n'}, "r.yaml",
        ["{dir}/r.yaml:1:11: include[0]: included file not found: {dir}/team.yaml"]),
    "include cycle": (
        {"a.yaml": "include: [b.yaml]\nrules: []\n",
         "b.yaml": "rules: []\ninclude:\n  - a.yaml\n"}, "a.yaml",
        ["{dir}/b.yaml:3:5: include[0]: include cycle: {dir}/a.yaml -> {dir}/b.yaml -> "
         "{dir}/a.yaml"]),
    "duplicate id": (
        {"r.yaml": HEAD + '    warn: "> 50"\n  - id: b\n    metric: rest_days_7d\n'
                          '    info: "< 1"\n  - id: a\n    metric: distance_7d_km\n'
                          '    warn: "> 60"\n'}, "r.yaml",
        ["{dir}/r.yaml:8:9: rules[2].id: rule id 'a' is already defined at {dir}/r.yaml:2"]),
    "duplicate id across an include": (
        {"r.yaml": "include: [team.yaml]\n" + HEAD + '    warn: "> 50"\n',
         "team.yaml": HEAD + '    warn: "> 70"\n'}, "r.yaml",
        ["{dir}/team.yaml:2:9: rules[0].id: rule id 'a' is already defined at {dir}/r.yaml:3"]),
    "template error": (
        {"r.yaml": HEAD + '    warn: "> 50"\n    summary: "{{ value | nosuchfilter }}"\n'},
        "r.yaml",
        ["{dir}/r.yaml:5:14: rules[0].summary: template error: No filter named "
         "'nosuchfilter'."]),
    "template with an unknown variable": (
        {"r.yaml": HEAD + '    warn: "> 50"\n    summary: "{{ valu }} km"\n'}, "r.yaml",
        ["{dir}/r.yaml:5:14: rules[0].summary: template error: 'valu' is undefined"]),
    "template failing when rendered": (
        {"r.yaml": HEAD + '    warn: "> 50"\n    summary: "{{ value + \'x\' }}"\n'}, "r.yaml",
        ["{dir}/r.yaml:5:14: rules[0].summary: template error: unsupported operand type(s) "
         "for +: 'float' and 'str'"]),
    "bad YAML indentation": (
        {"r.yaml": HEAD + '   warn: "> 50"\n'}, "r.yaml",
        ["{dir}/r.yaml:4:4: invalid YAML: bad indentation (expected <block end>, but found "
         "'<block mapping start>')"]),
    "unknown metric in when": (
        {"r.yaml": HEAD + '    warn: "> 50"\n    when:\n      all: ["rest_day_7d <= 3"]\n'},
        "r.yaml",
        [f"{{dir}}/r.yaml:6:13: rules[0].when.all[0]: unknown metric 'rest_day_7d'; did you "
         f"mean 'rest_days_7d'? valid metrics: {VALID}"]),
    "load on a metric that has none": (
        {"r.yaml": HEAD + '    warn: "> 50"\n    load: time\n'}, "r.yaml",
        ["{dir}/r.yaml:5:11: rules[0].load: 'time' changes only the load metrics "
         "(acwr_uncoupled, acwr_ewma, monotony_7d, strain_7d, ctl, atl, tsb); distance_7d_km "
         "does not use it"]),
    "unknown metric with a load": (
        {"r.yaml": 'rules:\n  - id: a\n    metric: acwr_ewmaa\n    warn: "> 1.5"\n'
                   '    load: time\n'}, "r.yaml",
        [f"{{dir}}/r.yaml:3:13: rules[0].metric: unknown metric 'acwr_ewmaa'; did you mean "
         f"'acwr_ewma'? valid metrics: {VALID}"]),
    "broken advice text": (
        {"r.yaml": HEAD + '    warn: "> 50"\n',
         "advice.yaml": "advice:\n  rest:\n    title: Rest\n    text: \"{{ ceiling }}\"\n"
                        "see_a_professional: See one.\ndisclaimer: Not advice.\n"}, "r.yaml",
        ["{dir}/advice.yaml:4:11: advice.rest.text: template error: 'ceiling' is undefined "
         "(advice texts may use ceiling_km, cadence_target)"]),
    "outside with its ends swapped": (
        {"r.yaml": 'rules:\n  - id: a\n    metric: gct_balance_left_pct\n'
                   '    info: "outside 52..48"\n'}, "r.yaml",
        ["{dir}/r.yaml:4:11: rules[0].info: outside A..B needs A below B, got 'outside 52..48'"]),
}


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_broken_rules_files_give_exact_error_lines(tmp_path: Path, case: str) -> None:
    files, load, expected = BROKEN[case]
    for name, body in files.items():
        (tmp_path / name).write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_rules([tmp_path / load])
    folder = str(tmp_path.resolve())
    assert caught.value.errors == [line.format(dir=folder) for line in expected]


def test_every_error_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        HEAD + '    warn: "=> 50"\n    cooldown: soon\n  - id: b\n    metric: nope\n'
               '    info: "< 1"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_rules([tmp_path / "r.yaml"])
    assert [line.split(": ")[0].rsplit(":", 2)[1:] for line in caught.value.errors] == [
        ["4", "11"], ["5", "15"], ["7", "13"]]


def test_includes_are_read_relative_to_the_including_file(tmp_path: Path) -> None:
    (tmp_path / "team").mkdir()
    (tmp_path / "main.yaml").write_text("include: [team/extra.yaml]\n" + HEAD +
                                        '    warn: "> 50"\n', encoding="utf-8")
    (tmp_path / "team" / "extra.yaml").write_text(
        'rules:\n  - id: b\n    metric: rest_days_7d\n    info: "< 1"\n', encoding="utf-8")
    rule_set = load_rules([tmp_path / "main.yaml"])
    assert [r.id for r in rule_set.rules] == ["a", "b"]
    assert (tmp_path / "team" / "extra.yaml").resolve() in rule_set.files


def a_year_of_history() -> History:
    """Enough history for any min_history; the metric values come from the tests."""
    first = datetime(2026, 1, 1, 7, tzinfo=UTC)
    return History(date(2026, 11, 22), (ActivityPoint(1, first.date(), first, 5.0, True),))


def _rule(**fields: object) -> Rule:
    return Rule.model_validate({"id": "r", "metric": "distance_7d_km", "warn": "> 50", **fields})


def _judge(rule: Rule, value: float | None, others: dict[str, float | None]) -> str | None:
    metrics = {name: MetricResult(v) for name, v in others.items()}
    history = a_year_of_history()
    return judge(rule, "ana", history, MetricResult(value), None, metrics).severity


def test_when_all_and_any_gate_a_rule_and_never_pass_on_null() -> None:
    rule = _rule(when={"all": ["rest_days_7d <= 3"],
                       "any": ["strength_sessions_7d < 1", "monotony_7d > 2"]})
    assert str(rule.when) == "rest_days_7d <= 3 and (strength_sessions_7d < 1 or monotony_7d > 2)"
    assert _judge(rule, 60, {"rest_days_7d": 2, "strength_sessions_7d": 0}) == "warn"
    assert _judge(rule, 60, {"rest_days_7d": 2, "strength_sessions_7d": 2,
                             "monotony_7d": 2.5}) == "warn"
    assert _judge(rule, 60, {"rest_days_7d": 4, "strength_sessions_7d": 0}) is None
    assert _judge(rule, 60, {"rest_days_7d": 2, "strength_sessions_7d": 2,
                             "monotony_7d": 1.2}) is None
    assert _judge(rule, 60, {"rest_days_7d": None, "strength_sessions_7d": 0}) is None
    assert _judge(rule, None, {"rest_days_7d": 2, "strength_sessions_7d": 0}) is None


def test_a_threshold_held_back_by_when_is_told_apart_from_one_not_met() -> None:
    rule = _rule(when={"all": ["rest_days_7d <= 3"]})
    history = a_year_of_history()
    rested, busy = {"rest_days_7d": MetricResult(4)}, {"rest_days_7d": MetricResult(2)}
    held = judge(rule, "ana", history, MetricResult(60), None, rested)
    assert (held.severity, held.threshold, held.condition, held.held_back_by_when) == (
        None, None, None, True)
    assert judge(rule, "ana", history, MetricResult(40), None, rested).held_back_by_when is False
    fires = judge(rule, "ana", history, MetricResult(60), None, busy)
    assert (fires.severity, fires.threshold, fires.condition, fires.held_back_by_when) == (
        "warn", 50, "> 50", False)
    too_new = _rule(when={"all": ["rest_days_7d <= 3"]}, min_history="400d")
    assert judge(too_new, "ana", history, MetricResult(60), None, rested).held_back_by_when is False


def test_outside_fires_on_either_side_and_names_the_nearer_end() -> None:
    rule = Rule.model_validate({"id": "g", "metric": "gct_balance_left_pct",
                                "info": "outside 47.8..52.2"})
    history = a_year_of_history()
    for value, severity, bound in ((53.0, "info", 52.2), (47.0, "info", 47.8),
                                   (50.0, None, None), (52.2, None, None)):
        finding = judge(rule, "ana", history, MetricResult(value), None, {})
        assert (finding.severity, finding.threshold) == (severity, bound)
    assert str(rule.info) == "outside 47.8..52.2"
    up_to_zero = Rule.model_validate({"id": "z", "metric": "tsb", "info": "outside -5..0"})
    assert up_to_zero.info is not None
    assert [up_to_zero.info.holds(v) for v in (-6, -3, 0, 0.5)] == [True, False, False, True]


def test_overrides_change_thresholds_per_athlete() -> None:
    rule = _rule(critical="> 80")
    assert {s: str(c) for s, c in rule.thresholds({"warn": "> 40"}).items()} == {
        "warn": "> 40", "critical": "> 80"}
    assert list(rule.thresholds({"warn": False})) == ["critical"]


def test_a_rule_can_name_its_channels(tmp_path: Path) -> None:
    config = ServiceConfig.model_validate({
        "notify": {"email": {"host": "127.0.0.1", "sender": "sg@example.com",
                             "to": ["coach@example.com"]},
                   "webhooks": [{"url": "http://127.0.0.1:9/hook", "secret": "whsec_x"}]}})
    everything = [t.channel for t in targets_for(config, "ana", "firing")]
    assert everything[0] == "email" and everything[1].startswith("webhook:")
    assert [t.channel for t in targets_for(config, "ana", "firing", ["webhook"])] == \
        everything[1:]
    assert [t.channel for t in targets_for(config, "ana", "firing", ["email"])] == ["email"]
    assert [t.channel for t in targets_for(config, "ana", "firing", ["file"])] == ["file"]
    email_only = ServiceConfig.model_validate({"notify": {"email": {
        "host": "127.0.0.1", "sender": "sg@example.com", "to": ["coach@example.com"]}}})
    # a rule's channels that are not configured: the alert becomes an .eml file, not nothing
    assert [t.channel for t in targets_for(email_only, "ana", "firing", ["webhook"])] == ["file"]
    assert targets_for(email_only, "ana", "resolved", ["webhook"]) == []
    assert isinstance(config.notify.webhooks[0], WebhookConfig)


def test_a_rule_names_only_channels_the_service_has(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - id: r\n    metric: distance_7d_km\n    warn: \"> 50\"\n"
                     "    channels: [email, sms]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_rules([rules], channel_kinds=("email", "webhook", "file"))
    assert raised.value.errors == [f"{rules}:5:23: rules[0].channels[1]: unknown channel 'sms'; "
                                   "the channels are: email, webhook, file"]
    # a channel registered in notify (one module, one registry line) is a word rules may use
    rule_set = load_rules([rules], channel_kinds=("email", "webhook", "file", "sms"))
    assert rule_set.rules[0].channels == ["email", "sms"]


def test_a_file_included_twice_is_read_once(tmp_path: Path) -> None:
    shared = 'rules:\n  - id: streak\n    metric: consecutive_run_days\n    warn: ">= 7"\n'
    (tmp_path / "shared.yaml").write_text(shared, encoding="utf-8")
    for name in ("b.yaml", "c.yaml"):
        (tmp_path / name).write_text("include: [shared.yaml]\n", encoding="utf-8")
    (tmp_path / "a.yaml").write_text("include: [b.yaml, c.yaml]\n", encoding="utf-8")
    assert [r.id for r in load_rules([tmp_path / "a.yaml"]).rules] == ["streak"]


def _write(path: Path, text: str) -> None:
    """Edit a file the way a coach's editor would: the whole text, in UTF-8."""
    path.write_text(text, encoding="utf-8")


def test_the_reloader_keeps_good_rules_and_notices_the_fix_of_a_new_include(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    main = tmp_path / "rules.yaml"
    _write(main, HEAD + '    warn: "> 50"\n')
    reloader = RulesReloader(load_rules([main]), [main])
    assert reloader.refresh() is False  # nothing changed

    _write(main, "include: [team.yaml]\n" + HEAD + '    warn: "> 50"\n')
    _write(tmp_path / "team.yaml", 'rules:\n  - id: b\n    metric: nope\n    info: "< 1"\n')
    assert reloader.refresh() is False
    assert [r.id for r in reloader.rule_set.rules] == ["a"]  # the last good rules stay
    assert sum("rules[0].metric: unknown metric 'nope'" in r.message
               for r in caplog.records) == 1
    assert reloader.refresh() is False  # the same broken state is not reported again
    assert sum("unknown metric 'nope'" in r.message for r in caplog.records) == 1

    _write(tmp_path / "team.yaml",
           'rules:\n  - id: b\n    metric: rest_days_7d\n    info: "< 1"\n')
    assert reloader.refresh() is True  # only the included file changed
    assert [r.id for r in reloader.rule_set.rules] == ["a", "b"]

    # an advice.yaml created beside the rules later is taken into use
    advice = (Path(__file__).parents[1] / "config" / "advice.yaml").read_text(encoding="utf-8")
    _write(tmp_path / "advice.yaml", advice.replace("Rest or an easy week", "Ease off"))
    assert reloader.refresh() is True
    assert reloader.rule_set.advice.advice["rest"].title == "Ease off"


def test_a_broken_advice_file_is_reported_once_while_the_rules_change(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    main = tmp_path / "rules.yaml"
    _write(main, HEAD + '    warn: "> 50"\n')
    shipped = (Path(__file__).parents[1] / "config" / "advice.yaml").read_text(encoding="utf-8")
    _write(tmp_path / "advice.yaml", shipped)
    reloader = RulesReloader(load_rules([main]), [main])
    _write(tmp_path / "advice.yaml", shipped.replace("{{ ceiling_km }}", "{{ ceiling }}"))
    assert reloader.refresh() is False
    _write(main, HEAD + '    warn: "> 60"\n')  # an edit elsewhere while advice is broken
    assert reloader.refresh() is False
    assert reloader.refresh() is False
    assert sum("'ceiling' is undefined" in r.message for r in caplog.records) == 2  # per edit
    _write(tmp_path / "advice.yaml", shipped)
    assert reloader.refresh() is True
    assert str(reloader.rule_set.rules[0].warn) == "> 60"
