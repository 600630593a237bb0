"""Push through Apprise against a real loopback HTTP receiver: one push per URL and alert, a
retry only to the URL that failed, and nothing of a URL's token in logs, rows or output."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from cli import main
from config.schema import ServiceConfig
from fitwriter.synthetic import weekly_plan, write_plan
from notify.channel import Notice, Target
from notify.channels import channel_kinds, targets_for
from notify.channels.push import channel_name, push_url_problems, send_push
from notify.push_text import BODY_MAX_CHARS, PushText, render_push
from notify.redact import REDACTED, hidden_in_logs, scrub, secret_fragments
from rules.loader import load_rules
from store import OutboxMessage, open_store
from wiring import open_app, run_cycle

# what must never appear anywhere: a user:password, path tokens and a query token
RUNNER_PASSWORD = "runnerPass4711"
RUNNER_TOKEN = "RunnerPathToken9c2e"
QUERY_TOKEN = "QueryToken51af"
COACH_TOKEN = "CoachPathToken77d0"
SECRETS = (RUNNER_PASSWORD, RUNNER_TOKEN, QUERY_TOKEN, COACH_TOKEN)


def runner_url(server: HTTPServer) -> str:
    # `-apikey=` makes Apprise's json:// plugin send it as a query parameter
    return (f"json://ana:{RUNNER_PASSWORD}@127.0.0.1:{server.port}/runner/{RUNNER_TOKEN}"
            f"?-apikey={QUERY_TOKEN}")


def coach_url(server: HTTPServer) -> str:
    return f"json://127.0.0.1:{server.port}/coach/{COACH_TOKEN}"


def assert_no_secret(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked into {where}"


def requests_to(server: HTTPServer, prefix: str) -> list[dict[str, Any]]:
    """The JSON bodies Apprise posted to paths starting with `prefix`."""
    return [json.loads(request.get_data()) for request, _ in server.log
            if request.path.startswith(prefix)]


def write_config(folder: Path, database_url: str, server: HTTPServer) -> Path:
    config = folder / "strideguard.yaml"
    config.write_text(f"""
database: "{database_url}"
timezone: UTC
ingest:
  stability: 0s
athletes:
  - id: ana
    name: Ana
    apprise: ["${{ANA_PUSH}}"]
notify:
  apprise: ["{coach_url(server)}"]
""", encoding="utf-8")
    return config


def outbox_text(database_url: str) -> str:
    """Every column of every outbox row, as text: where a stored URL would show."""
    store = open_store(database_url)
    try:
        with store.session() as session:
            rows = session.scalars(select(OutboxMessage)).all()
            return "\n".join(
                repr({column.key: getattr(row, column.key)
                      for column in OutboxMessage.__table__.columns}) for row in rows)
    finally:
        store.dispose()


def test_a_spike_is_one_push_per_url_and_a_retry_goes_only_to_the_url_that_failed(
        tmp_path: Path, database_url: str, httpserver_ipv4: HTTPServer,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    server = httpserver_ipv4
    server.expect_request(f"/runner/{RUNNER_TOKEN}", method="POST").respond_with_data("ok")
    # the coach's receiver fails once (the retry must not repeat the runner's push)
    server.expect_oneshot_request(f"/coach/{COACH_TOKEN}", method="POST").respond_with_data(
        f"down, your token was {COACH_TOKEN}", status=500)
    server.expect_request(f"/coach/{COACH_TOKEN}", method="POST").respond_with_data("ok")
    monkeypatch.setenv("ANA_PUSH", runner_url(server))
    config = write_config(tmp_path, database_url, server)
    today = datetime.now(UTC).date()
    # eight steady weeks, then today's 16 km long run: 2.0 x the month's longest (warn)
    write_plan(weekly_plan(today, 9, [7.0, 7.0, 7.0, 7.0, 8.0], final_run_km=16.0),
               tmp_path / "data" / "inbox" / "ana")
    caplog.set_level(logging.DEBUG)  # every logger, Apprise's and urllib3's included

    with open_app(str(config)) as app:  # scan → ingest → evaluate → enqueue → dispatch
        run_cycle(app)

    [runner_push] = requests_to(server, "/runner/")
    assert len(requests_to(server, "/coach/")) == 1  # tried once, answered 500
    assert runner_push["title"] == "StrideGuard warn: Ana"
    lines = runner_push["message"].split("\n")
    assert "16.0 km" in lines[0]  # the summary first
    assert lines[1].startswith("Rest or an easy week: ")  # the first advice line
    assert "not medical advice" in lines[-1] and len(runner_push["message"]) <= BODY_MAX_CHARS
    assert runner_push["type"] == "warning"
    [runner_request] = [r for r, _ in server.log if r.path.startswith("/runner/")]
    assert runner_request.args["apikey"] == QUERY_TOKEN  # the URL really carried every token
    assert runner_request.authorization.password == RUNNER_PASSWORD
    apprise_said = [r for r in caplog.records if r.name == "apprise"]
    assert any(r.levelno == logging.DEBUG for r in apprise_said)  # the check below is not empty
    assert any(r.name.startswith("urllib3") for r in caplog.records)
    assert_no_secret(caplog.text, "the log")
    assert_no_secret("\n".join(r.getMessage() for r in caplog.records), "log records")

    # the CLI at -v (DEBUG everywhere): the retry goes to the coach's URL alone
    assert main(["-v", "--config", str(config), "run", "--once"]) == 0
    assert len(requests_to(server, "/runner/")) == 1
    assert len(requests_to(server, "/coach/")) == 2
    assert main(["--config", str(config), "run", "--once"]) == 0  # nothing new: nothing sent
    assert len(server.log) == 3
    debug_log = capsys.readouterr().err
    assert "DEBUG apprise: JSON POST URL: http://<redacted>" in debug_log
    assert_no_secret(debug_log, "the CLI's debug log")

    assert main(["--config", str(config), "alerts", "--json"]) == 0
    out = capsys.readouterr().out
    assert_no_secret(out, "alerts --json")
    [alert] = json.loads(out)
    deliveries = {d["channel"]: d for d in alert["deliveries"]}
    ana_name, coach_name = channel_name(runner_url(server)), channel_name(coach_url(server))
    assert set(deliveries) == {ana_name, coach_name}
    assert deliveries[ana_name] | {"channel": "-"} == {
        "channel": "-", "kind": "firing", "status": "sent", "attempts": 1, "last_error": None}
    assert (deliveries[coach_name]["status"], deliveries[coach_name]["attempts"]) == ("sent", 2)
    monkeypatch.setenv("COLUMNS", "200")  # the table on one line per alert
    assert main(["--config", str(config), "alerts"]) == 0
    table = capsys.readouterr().out
    assert f"{ana_name} firing sent" in table
    assert_no_secret(table, "alerts")
    assert_no_secret(outbox_text(database_url), "the outbox rows")


def test_a_failed_push_keeps_a_useful_reason_without_the_token(
        httpserver_ipv4: HTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    httpserver_ipv4.expect_request(f"/coach/{COACH_TOKEN}").respond_with_data(
        f"bad token {COACH_TOKEN}", status=503)
    caplog.set_level(logging.DEBUG)
    # ?retry=3 asks Apprise to retry: the outbox does that, so Apprise must not
    result = send_push(coach_url(httpserver_ipv4) + "?retry=3&wait=0",
                       PushText("t", "b", "warning"))
    assert (result.ok, result.retryable) == (False, True)
    assert result.reason.startswith("JSON: ") and "error=503" in result.reason
    assert len(httpserver_ipv4.log) == 1  # one attempt
    assert_no_secret(result.reason + caplog.text, "the reason or the log")
    assert f"bad token {REDACTED}" in caplog.text  # Apprise's debug line, scrubbed


def test_a_refused_connection_is_retryable_and_an_unloadable_url_is_not(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    refused = send_push(f"json://127.0.0.1:9/hooks/{COACH_TOKEN}", PushText("t", "b"))
    assert (refused.ok, refused.retryable) == (False, True)
    assert "Connection error" in refused.reason
    unloadable = send_push(f"tgram://{COACH_TOKEN}/12345", PushText("t", "b"))
    assert (unloadable.ok, unloadable.retryable) == (False, False)
    assert unloadable.reason == "Apprise cannot load this tgram:// URL (Unparseable Telegram URL)"
    assert_no_secret(refused.reason + unloadable.reason + caplog.text, "reasons or the log")


@pytest.mark.parametrize(("url", "secret", "public"), [
    ("ntfy://ntfy.sh/private-topic-31", "private-topic-31", "ntfy.sh"),
    ("ntfys://alice:s3cret-pw@ntfy.example.com/alerts?token=tk_abcd1234", "tk_abcd1234",
     "ntfy.example.com"),
    ("ntfys://alice:s3cret-pw@ntfy.example.com/alerts", "s3cret-pw", "ntfy.example.com"),
    ("tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/987654321", "123456789", "tgram"),
    ("tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/987654321",
     "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "tgram"),
    ("discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js", "JHMHI8qBe7bk2ZwO5U711o3dV_js",
     "discord"),
    ("json://127.0.0.1:8080/hooks/a%2Fb-token?format=text", "a/b-token", "127.0.0.1:8080"),
])
def test_every_part_that_may_be_a_token_is_scrubbed(url: str, secret: str, public: str) -> None:
    fragments = secret_fragments(url)
    text = f"posting to {secret} via {public} (url {url})"
    scrubbed = scrub(text, fragments)
    assert secret not in scrubbed and url not in scrubbed
    assert public in scrubbed  # hosts, ports and settings stay readable
    assert "text" not in fragments  # an Apprise setting's value is not a secret


def test_log_records_of_any_logger_are_scrubbed_only_while_a_url_is_in_use(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    other = logging.getLogger("some.library")
    with hidden_in_logs(secret_fragments(f"json://host.example/{COACH_TOKEN}")):
        other.debug("GET /%s", COACH_TOKEN)
        try:
            raise RuntimeError(f"failed for {COACH_TOKEN}")
        except RuntimeError:
            other.exception("boom")
    other.info("after: %s", COACH_TOKEN)
    assert caplog.messages[0] == f"GET /{REDACTED}"
    assert COACH_TOKEN not in caplog.records[1].exc_text
    assert caplog.messages[2] == f"after: {COACH_TOKEN}"  # nothing in use: nothing touched


# --- what goes where, and what it says ---------------------------------------------------------

RUNNER = "ntfys://ntfy.sh/ana-7f3k2"
COACH = "tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/987654321"
PUSH_CONFIG = {
    "athletes": [{"id": "ana", "name": "Ana", "apprise": [RUNNER]}, {"id": "ben"}],
    "notify": {"apprise": [COACH, RUNNER]},  # the coach also follows Ana's topic
}


@pytest.mark.parametrize(("athlete", "kind", "expected"), [
    ("ana", "firing", [RUNNER, COACH]),  # one row per distinct URL
    ("ben", "firing", [COACH, RUNNER]),
    ("ana", "resolved", []),
    ("ana", "digest", [RUNNER]),
    ("ben", "digest", []),
    ("ana", "notice", [RUNNER]),
    (None, "squad-digest", [COACH, RUNNER]),
])
def test_targets(athlete: str | None, kind: Any, expected: list[str]) -> None:
    config = ServiceConfig.model_validate(PUSH_CONFIG)
    targets = targets_for(config, athlete, kind)
    assert [t.channel for t in targets] == [channel_name(url) for url in expected]
    assert all(t.recipients == () for t in targets)  # the URL is never stored


def test_rules_may_name_push_and_get_only_push(tmp_path: Path) -> None:
    assert "push" in channel_kinds()
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - id: r\n    metric: distance_7d_km\n    warn: \"> 50\"\n"
                     "    channels: [push]\n", encoding="utf-8")
    assert load_rules([rules], channel_kinds=channel_kinds()).rules[0].channels == ["push"]
    email = {"host": "127.0.0.1", "sender": "s@x.org", "to": ["c@x.org"]}
    config = ServiceConfig.model_validate({**PUSH_CONFIG,
                                           "notify": {"apprise": [COACH], "email": email}})
    assert [t.kind for t in targets_for(config, "ana", "firing", ["push"])] == ["push", "push"]
    assert [t.kind for t in targets_for(config, "ben", "firing", ["push"])] == ["push"]


def alert_payload(advice_keys: list[str]) -> dict[str, Any]:
    """An alert as rules/payload.py builds it, with the shipped advice's opening sentences."""
    texts = {
        "rest_from_pain": ("Rest while it hurts", "Take a break from running while the pain is "
                           "sharp. When you run again, keep it easy."),
        "see_a_professional": ("See a physiotherapist or doctor", "Pain that is strong is worth "
                               "showing a physiotherapist. Get help the same day for numbness."),
        "rest": ("Rest or an easy week", "Make the next days easy. Cut volume by 20-30 %."),
    }
    blocks = [{"key": key, "title": texts[key][0], "text": texts[key][1]} for key in advice_keys]
    return {
        "alert_id": "a1", "rule": "pain_reported", "athlete": "ana", "athlete_name": "Ana",
        "severity": "critical", "summary": "You reported knee pain of 6/10 today.",
        "description": "Pain reported", "advice_blocks": blocks,
        "advice": [f"{b['title']}: {b['text']}" for b in blocks],
        "see_a_professional": "See a physiotherapist or doctor if you have sharp, persistent or "
                              "radiating pain; stop running until you have been seen. Get "
                              "medical help the same day for numbness.",
        "disclaimer": "StrideGuard reads training data, not your body: this is not medical "
                      "advice and no alert can promise to prevent injury.",
    }


def notice(payload: dict[str, Any], kind: Any = "firing", digest: Any = None) -> Notice:
    return Notice(payload, "ana", kind, Target("push:x"), "msg_1", datetime.now(UTC),
                  digest=digest)


def test_a_pain_alert_says_see_a_professional_before_other_advice() -> None:
    push = render_push(notice(alert_payload(["rest_from_pain", "see_a_professional"])))
    assert (push.title, push.notify_type) == ("StrideGuard critical: Ana", "failure")
    assert push.body.split("\n") == [
        "You reported knee pain of 6/10 today.",
        "See a physiotherapist or doctor if you have sharp, persistent or radiating pain; stop "
        "running until you have been seen.",
        "Rest while it hurts: Take a break from running while the pain is sharp.",
        "StrideGuard reads training data, not your body: this is not medical advice and no "
        "alert can promise to prevent injury.",
    ]
    # a rule without that advice gets no professional line; one whose first advice it is
    # gets it once, then its other advice
    assert "physiotherapist" not in render_push(notice(alert_payload(["rest"]))).body
    first = render_push(notice(alert_payload(["see_a_professional", "rest"]))).body
    assert first.count("physiotherapist") == 1 and "Rest or an easy week: " in first
    assert PushText.from_bytes(push.to_bytes()) == push


def test_long_texts_are_cut_at_a_word_within_the_budget() -> None:
    payload = alert_payload(["rest"])
    payload["summary"] = "word " * 400
    push = render_push(notice(payload))
    assert len(push.body) <= BODY_MAX_CHARS
    assert push.body.split("\n")[0].endswith("word…")


class Digest:
    """A rendered digest as notify sees it (the DigestContent protocol)."""

    def __init__(self, kind: str, subject: str, data: dict[str, Any]) -> None:
        self.kind, self.subject, self.data = kind, subject, data
        self.athlete_id = "ana" if kind == "digest" else None
        self.week, self.text, self.html, self.images = data["week"], "", "", ()


def test_digests_and_notices_are_one_short_line_or_two() -> None:
    runner = Digest("digest", "Your week 2026-W48: 31 km in 4 runs — nothing to worry about",
                    {"week": "2026-W48", "disclaimer": "Not medical advice.",
                     "suggestion": {"title": "Strength work, twice a week",
                                    "text": "Two short sessions a week. Planks and bridges."}})
    push = render_push(notice(runner.data, "digest", runner))
    assert push.title == "StrideGuard: week 2026-W48"
    assert push.body == ("Your week 2026-W48: 31 km in 4 runs — nothing to worry about\n"
                         "Next: Strength work, twice a week: Two short sessions a week.\n"
                         "Not medical advice.")
    squad = Digest("squad-digest", "Squad week 2026-W48: 1 needs a look", {
        "week": "2026-W48", "athletes": [
            {"athlete": "ana", "athlete_name": "Ana", "open_severity": "critical"},
            {"athlete": "ben", "athlete_name": "Ben", "open_severity": None}]})
    push = render_push(notice(squad.data, "squad-digest", squad))
    assert push.body == "Squad week 2026-W48: 1 needs a look\nNeeds a look: Ana (critical)"
    ending = render_push(notice({
        "athlete": "ana", "subject": "[StrideGuard] Your silence ends at the end of Sunday",
        "lines": ["The silence you set (holiday) ends at the end of Sunday.", "More."],
        "disclaimer": "Not medical advice."}, "notice"))
    assert ending.title == "StrideGuard: Your silence ends at the end of Sunday"
    assert ending.body == ("The silence you set (holiday) ends at the end of Sunday.\n"
                           "Not medical advice.")


# --- check-config ------------------------------------------------------------------------------


def test_check_config_names_the_place_of_a_url_apprise_cannot_load(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BAD_PUSH", f"nosuchservice://{COACH_TOKEN}/x")
    config = tmp_path / "strideguard.yaml"
    config.write_text(f"""athletes:
  - id: ana
  - id: ben
    apprise:
      - ntfys://ntfy.sh/ben-topic-1
      - tgram://{RUNNER_TOKEN}/{QUERY_TOKEN}
notify:
  apprise: ["${{BAD_PUSH}}"]
""", encoding="utf-8")
    assert main(["--config", str(config), "check-config"]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"{config}:8:13: notify.apprise[0]: Apprise cannot load this nosuchservice:// URL "
        "(Unparseable URL); see https://github.com/caronc/apprise/wiki for the nosuchservice:// "
        "form",
        f"{config}:6:9: athletes[1].apprise[1]: Apprise cannot load this tgram:// URL "
        "(Unparseable Telegram URL); see https://github.com/caronc/apprise/wiki for the tgram:// "
        "form",
    ]
    assert_no_secret(captured.out + captured.err, "check-config")
    loaded = ServiceConfig.model_validate({"notify": {"apprise": ["ntfys://ntfy.sh/ok-topic"]}})
    assert push_url_problems(loaded, None) == []


def test_check_config_without_push_never_imports_apprise(tmp_path: Path) -> None:
    config = tmp_path / "strideguard.yaml"
    config.write_text("timezone: UTC\n", encoding="utf-8")
    code = ("import sys; from cli import main; code = main(['--config', sys.argv[1], "
            "'check-config']); print(code, 'apprise' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(config)], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.splitlines()[-1] == "0 False"
