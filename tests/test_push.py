"""Push through Apprise against a real loopback HTTP receiver: one push per URL and alert, a
retry only to the URL that failed, and nothing of a URL's token in logs, rows or output."""

from __future__ import annotations

import base64
import json
import logging
import re
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from helpers import REPO
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from cli import main
from config.schema import ServiceConfig
from config.yaml_tree import load_yaml_tree
from fitwriter.synthetic import weekly_plan, write_plan
from notify.channel import Notice, Target
from notify.channels import channel_kinds, targets_for
from notify.channels.push import (
    THROTTLE_BUDGET_S,
    THROTTLE_WAIT_MAX_S,
    CappedThrottle,
    channel_name,
    push_url_problems,
    send_push,
)
from notify.dispatch import dispatch_due
from notify.outbox import enqueue_alert
from notify.push_text import BODY_MAX_CHARS, PushText, render_push, shipped_disclaimer
from notify.redact import (
    REDACTED,
    UNFORMATTABLE,
    hidden_in_logs,
    scrub,
    scrub_record,
    secret_fragments,
)
from rules.loader import load_rules
from store import Alert, Athlete, OutboxMessage, Store, open_store, utc_now
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
        return outbox_text_of(store)
    finally:
        store.dispose()


def outbox_text_of(store: Store) -> str:
    with store.session() as session:
        rows = session.scalars(select(OutboxMessage)).all()
        return "\n".join(repr({column.key: getattr(row, column.key)
                               for column in OutboxMessage.__table__.columns}) for row in rows)


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


def test_a_failed_push_is_one_request_per_attempt_with_a_useful_reason_without_the_token(
        httpserver_ipv4: HTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    httpserver_ipv4.expect_request(f"/coach/{COACH_TOKEN}").respond_with_data(
        f"bad token {COACH_TOKEN}", status=500)
    caplog.set_level(logging.DEBUG)
    # ?retry=3 asks Apprise to retry: the outbox does that, so Apprise must not
    url = coach_url(httpserver_ipv4) + "?retry=3&wait=0"
    for attempt in (1, 2):
        result = send_push(url, PushText("t", "b", "warning"))
        assert (result.ok, result.retryable) == (False, True)
        assert result.reason.startswith("JSON: ") and "error=500" in result.reason
        assert len(httpserver_ipv4.log) == attempt  # one request per attempt
    assert_no_secret(result.reason + caplog.text, "the reason or the log")
    assert f"bad token {REDACTED}" in caplog.text  # Apprise's debug line, scrubbed
    # the control: Apprise.notify (which the channel must never call) honours ?retry=3
    import apprise

    everything = apprise.Apprise()
    everything.add(url)
    with hidden_in_logs(secret_fragments(url)):
        assert not everything.notify(body="b", title="t")
    assert len(httpserver_ipv4.log) == 2 + 4


def test_a_rejected_token_is_not_retried_but_a_rate_limit_is(
        httpserver_ipv4: HTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    httpserver_ipv4.expect_request(f"/coach/{COACH_TOKEN}").respond_with_data(
        "revoked", status=401)
    httpserver_ipv4.expect_request(f"/runner/{RUNNER_TOKEN}").respond_with_data(
        "slow down", status=429)
    caplog.set_level(logging.DEBUG)
    revoked = send_push(coach_url(httpserver_ipv4), PushText("t", "b"))
    assert (revoked.ok, revoked.retryable) == (False, False)  # 48 h of 401s would change nothing
    assert revoked.reason.startswith("JSON: ") and "error=401" in revoked.reason
    limited = send_push(f"json://127.0.0.1:{httpserver_ipv4.port}/runner/{RUNNER_TOKEN}",
                        PushText("t", "b"))
    assert (limited.ok, limited.retryable) == (False, True)
    assert "error=429" in limited.reason
    assert_no_secret(revoked.reason + limited.reason + caplog.text, "the reasons or the log")


def test_a_rate_limit_wait_inside_one_send_is_capped(
        httpserver_ipv4: HTTPServer, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Discord answers 429 with a reset a week away; Apprise's plugin sleeps until then before
    its one retry. The send must sleep at most the cap and leave the wait to the outbox."""
    from apprise.plugins.discord import NotifyDiscord

    import notify.channels.push as push_module

    webhook_id, token = "4174216298", "JHMHI8qBe7bk2ZwO5U711o3dV_js"
    reset_s = int(datetime.now(UTC).timestamp()) + 7 * 24 * 3600
    httpserver_ipv4.expect_request(f"/api/webhooks/{webhook_id}/{token}").respond_with_data(
        "{}", status=429, headers={"X-RateLimit-Remaining": "0",
                                   "X-RateLimit-Reset": str(reset_s)})
    # the real plugin, aimed at the loopback receiver instead of discord.com
    monkeypatch.setattr(NotifyDiscord, "notify_url", httpserver_ipv4.url_for("/api/webhooks"))
    monkeypatch.setattr(push_module, "THROTTLE_WAIT_MAX_S", 0.2)  # the test need not wait 5 s
    caplog.set_level(logging.DEBUG)
    result = send_push(f"discord://{webhook_id}/{token}", PushText("t", "b", "warning"))
    assert (result.ok, result.retryable) == (False, True) and "error=429" in result.reason
    assert len(httpserver_ipv4.log) == 2  # Discord's own one retry
    forced = [m for m in caplog.messages if m.startswith("Throttling forced for ")]
    assert forced == ["Throttling forced for 0.2s..."]  # not a week
    assert result.retry_after_s is not None and result.retry_after_s > 6 * 24 * 3600
    assert_no_secret(result.reason + caplog.text, "the reason or the log")
    assert token not in caplog.text


def test_throttle_waits_of_one_send_share_a_budget() -> None:
    waits: list[float | None] = []
    throttle = CappedThrottle(lambda last_io=None, wait=None: waits.append(wait))
    for asked_s in (None, 3.0, 60.0, 4.0, 2.0, 1.0):
        throttle(wait=asked_s)
    assert waits == [None, 3.0, THROTTLE_WAIT_MAX_S, 2.0, 0.0, 0.0]  # within 10 s in all
    assert sum(w or 0.0 for w in waits) == THROTTLE_BUDGET_S
    assert throttle.cut_wait_s == 60.0


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


def test_settings_and_words_are_not_secrets_but_tokens_are() -> None:
    # an Apprise setting's value stays readable; the same value under any other key is hidden
    assert "Europe/Berlin" not in secret_fragments("json://h.example/Tok3n99x?tz=Europe/Berlin")
    assert "Europe/Berlin" in secret_fragments("json://h.example/Tok3n99x?zone=Europe/Berlin")
    # the words a URL is made of would vanish from every log line while a push is sent
    fragments = secret_fragments("json://coach:pw@h.example/hooks/send/alerts/path/Tok3n99x"
                                 "?user=user")
    assert not {"coach", "hooks", "send", "alerts", "path", "user"} & set(fragments)
    assert "Tok3n99x" in fragments  # mixed case with digits: a token
    assert "private-topic-31" in secret_fragments("ntfy://ntfy.sh/private-topic-31")
    assert "dact" not in secret_fragments("json://h.example/dact")  # a short word
    # never inside a <redacted> already there: a fragment may be a piece of that word
    assert scrub("a <redacted> b acted", ["acted"]) == f"a {REDACTED} b {REDACTED}"


def test_a_query_after_a_room_and_form_encoded_values_are_hidden(
        httpserver_ipv4: HTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    """Apprise reads `?...` after `#room` as parameters; requests sends a query value form-
    encoded (`+` for a space); `?user=` and `?pass=` go out in a Basic auth header."""
    server = httpserver_ipv4
    server.expect_request(re.compile("^/hooks/")).respond_with_data("no", status=500)
    caplog.set_level(logging.DEBUG)
    key, password, spaced = "HashQuerySecret9", "PwAfterHash7", "Ab+Cd ef99"
    url = (f"json://127.0.0.1:{server.port}/hooks/#room?-apikey={key}&user=bob"
           f"&pass={password}&-sig={quote(spaced, safe='')}")
    result = send_push(url, PushText("t", "b"))
    [(request, _)] = server.log
    assert (request.args["apikey"], request.args["sig"]) == (key, spaced)  # they went out
    assert request.authorization.password == password
    basic = base64.b64encode(f"bob:{password}".encode()).decode()
    text = result.reason + caplog.text
    for secret in (key, password, basic, quote_plus(spaced), quote(spaced, safe="")):
        assert secret not in text, f"{secret!r} leaked"
    assert any("?apikey=<redacted>" in m for m in caplog.messages)  # urllib3's request line


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


class BrokenStr:
    """A log message object whose text cannot be had."""

    def __str__(self) -> str:
        raise RuntimeError("broken __str__")


def test_records_of_another_thread_are_scrubbed_while_a_send_is_in_flight(
        httpserver_ipv4: HTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    """The receiver logs from its own thread while the dispatcher's send waits for it."""
    receiver = logging.getLogger("receiver")
    raised: list[BaseException] = []

    def answer(request: Any) -> Any:
        try:
            receiver.info("got %s", request.path)  # the path is the token
            receiver.info(BrokenStr())  # must not raise in the caller, nor leak
            receiver.info("user %s did %d", "bob", 3)  # nothing secret: left as it was
            try:
                raise ValueError("nothing secret")
            except ValueError:
                receiver.exception("handled")
        except BaseException as exc:  # what a failing record factory would do to a caller
            raised.append(exc)
        from werkzeug import Response

        return Response("ok")

    httpserver_ipv4.expect_request(f"/coach/{COACH_TOKEN}").respond_with_handler(answer)
    caplog.set_level(logging.DEBUG)
    assert send_push(coach_url(httpserver_ipv4), PushText("t", "b")).ok
    assert raised == []
    records = [r for r in caplog.records if r.name == "receiver"]
    assert [r.thread != threading.get_ident() for r in records] == [True] * 4
    assert [r.getMessage() for r in records] == [
        f"got /coach/{REDACTED}", UNFORMATTABLE, "user bob did 3", "handled"]
    assert (records[2].msg, records[2].args) == ("user %s did %d", ("bob", 3))
    assert records[3].exc_info is not None  # the traceback had nothing to hide: kept whole
    assert_no_secret(caplog.text, "the log")


def test_scrubbing_a_traceback_drops_the_exception_only_when_it_held_a_secret() -> None:
    fragments = secret_fragments(f"json://host.example/{COACH_TOKEN}")
    for text, kept in ((f"failed for {COACH_TOKEN}", False), ("nothing secret", True)):
        try:
            raise RuntimeError(text)
        except RuntimeError:
            record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", (),
                                       sys.exc_info())
        scrub_record(record, fragments)
        assert (record.exc_info is not None) == kept
        assert COACH_TOKEN not in (record.exc_text or "")


def test_the_scrubber_comes_back_when_another_record_factory_replaced_it(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ours = logging.getLogRecordFactory()
    with hidden_in_logs(secret_fragments("json://host.example/FirstToken77")):
        pass  # installed by now
    logging.setLogRecordFactory(logging.LogRecord)  # a library resets it
    try:
        with hidden_in_logs(secret_fragments(f"json://host.example/{COACH_TOKEN}")):
            logging.getLogger("some.library").info("token %s", COACH_TOKEN)
    finally:
        logging.setLogRecordFactory(ours)
    assert caplog.messages == [f"token {REDACTED}"]


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
    # the squad digest's data carries no disclaimer: the shipped one (DESIGN §5)
    assert push.body == ("Squad week 2026-W48: 1 needs a look\nNeeds a look: Ana (critical)\n"
                         + shipped_disclaimer())
    ending = render_push(notice({
        "athlete": "ana", "subject": "[StrideGuard] Your silence ends at the end of Sunday",
        "lines": ["The silence you set (holiday) ends at the end of Sunday.", "More."],
        "disclaimer": "Not medical advice."}, "notice"))
    assert ending.title == "StrideGuard: Your silence ends at the end of Sunday"
    assert ending.body == ("The silence you set (holiday) ends at the end of Sunday.\n"
                           "Not medical advice.")


def test_every_push_says_it_is_not_medical_advice_even_from_an_old_payload() -> None:
    shipped = load_yaml_tree(REPO / "config" / "advice.yaml")["disclaimer"]
    assert shipped_disclaimer() == " ".join(shipped.split())
    assert "not medical advice" in shipped_disclaimer()
    old = alert_payload(["rest"])
    del old["disclaimer"]  # queued by a version whose payloads had none
    assert render_push(notice(old)).body.split("\n")[-1] == shipped_disclaimer()
    squad = Digest("squad-digest", "Squad week 2026-W48: all calm", {"week": "2026-W48"})
    assert render_push(notice(squad.data, "squad-digest", squad)).body.endswith(
        "not medical advice and no alert can promise to prevent injury.")
    # a body at its limit is cut in its lines, never in the disclaimer
    long_lines = alert_payload(["rest"]) | {"summary": "x" * 5000, "advice_blocks": [
        {"key": f"k{i}", "title": "t" * 300, "text": "y"} for i in range(3)]}
    body = render_push(notice(long_lines)).body
    assert len(body) <= BODY_MAX_CHARS and body.endswith("prevent injury.")


def test_a_pending_push_whose_url_was_removed_ends_dead_with_a_reason(
        store: Store, httpserver_ipv4: HTTPServer) -> None:
    httpserver_ipv4.expect_request(f"/coach/{COACH_TOKEN}").respond_with_data("revoked",
                                                                             status=401)
    removed = f"json://127.0.0.1:{httpserver_ipv4.port}/runner/{RUNNER_TOKEN}"
    kept = coach_url(httpserver_ipv4)
    before = ServiceConfig.model_validate({
        "athletes": [{"id": "ana", "apprise": [removed]}], "notify": {"apprise": [kept]}})
    now = utc_now().replace(microsecond=0)
    with store.session() as session:
        session.add(Athlete(id="ana"))
        session.flush()  # no relationship tells the session to insert the athlete first
        alert = Alert(id="a1", rule_id="single_run_spike", athlete_id="ana", episode=1,
                      severity="warn", metric="longest_run_ratio_30d", value=2.0,
                      threshold=1.1, as_of=now.date(), fired_at=now,
                      payload=alert_payload(["rest"]))
        session.add(alert)
        session.flush()
        assert len(enqueue_alert(session, before, alert, "firing", now)) == 2
    after = ServiceConfig.model_validate({"athletes": [{"id": "ana"}],
                                          "notify": {"apprise": [kept]}})
    assert dispatch_due(store, after, now=now) == {"dead": 2}
    with store.session() as session:
        rows = {row.channel: row for row in session.scalars(select(OutboxMessage))}
        assert {name: (row.status, row.attempts) for name, row in rows.items()} == {
            channel_name(removed): ("dead", 1), channel_name(kept): ("dead", 1)}
        assert rows[channel_name(removed)].last_error == (
            f"channel {channel_name(removed)} is no longer configured")
        assert "error=401" in (rows[channel_name(kept)].last_error or "")  # not retried
    assert len(httpserver_ipv4.log) == 1  # the removed URL was not tried
    assert_no_secret(outbox_text_of(store), "the outbox rows")


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
