"""The weekly digest end to end: twelve weeks of FIT files for two runners and a coach become one
digest per runner and week, one squad digest, signed `digest.weekly` webhooks, and nudges that
wait for the digest while risks still arrive at once, each with its chart."""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest
from conftest import POSTGRES_ENV, _postgres_schema_url
from helpers import HTTP_ANY_PORT, running_service
from PIL import Image
from pytest_httpserver import HTTPServer
from smtp_sink import Collector, LoopbackController
from standardwebhooks.webhooks import Webhook
from test_end_to_end import WEBHOOK_SECRET, free_port

from cli import main
from fitwriter.synthetic import weekly_plan, write_plan

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def last_sunday(today: date) -> date:
    return today - timedelta(days=today.weekday() + 1)


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


@pytest.fixture
def smtp() -> Iterator[tuple[Collector, int]]:
    collector, port = Collector(), free_port()
    controller = LoopbackController(collector, hostname="127.0.0.1", port=port)
    controller.start()
    yield collector, port
    controller.stop()


@pytest.fixture
def hook(httpserver: HTTPServer) -> HTTPServer:
    httpserver.expect_request("/hooks/sg", method="POST").respond_with_data("ok")
    return httpserver


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", WEBHOOK_SECRET)


def write_squad(folder: Path, smtp_port: int, webhook_url: str, *, digest: str = "off",
                database: str = "sqlite:///data/strideguard.db") -> Path:
    """Ana trains steadily with two strength sessions a week; Ben never does strength work and
    ends the last full week with a long run twice his usual (a spike, and +37 % for the week).
    Both histories end on the last Sunday: twelve full weeks."""
    sunday = last_sunday(datetime.now(UTC).date())
    write_plan(weekly_plan(sunday, 12, [6.0, 8.0, 6.0, 10.0]), folder / "data/inbox/ana")
    write_plan(weekly_plan(sunday, 12, [6.0, 8.0, 6.0, 10.0], strength_per_week=0,
                           final_run_km=21.0), folder / "data/inbox/ben", serial_number=42)
    config = folder / "strideguard.yaml"
    config.write_text(f"""
database: {database}
timezone: UTC
max_alert_age: 14d       # the week's data is up to a week old on a Sunday
ingest: {{stability: 0s}}
athletes:
  - {{id: ana, name: Ana, email: ana@example.com}}
  - {{id: ben, name: Ben, email: ben@example.com}}
notify:
  email:
    host: 127.0.0.1
    port: {smtp_port}
    security: none
    sender: "StrideGuard <alerts@example.com>"
    to: [coach@example.com]
  webhooks:
    - url: {webhook_url}
      secret: ${{WEBHOOK_SECRET}}
schedule:
  digest: "{digest}"
  dispatch_interval: 1s
""" + HTTP_ANY_PORT, encoding="utf-8")
    return config


def parsed(collector: Collector) -> list[EmailMessage]:
    return [message_from_bytes(m.content, policy=default_policy)  # type: ignore[misc]
            for m in collector.received]


def of_kind(messages: list[EmailMessage], kind: str) -> list[EmailMessage]:
    return [m for m in messages if m["X-StrideGuard-Kind"] == kind]


def digest_hooks(hook: HTTPServer) -> list[dict]:
    events = []
    for request, _response in hook.log:
        event = Webhook(WEBHOOK_SECRET).verify(request.get_data(), dict(request.headers))
        if event["type"] == "digest.weekly":
            events.append(event)
    return events


def assert_inline_images_resolve(message: EmailMessage) -> int:
    """Every cid: in the HTML names an image/png part that decodes at twice the stated size."""
    html_part = message.get_body(preferencelist=("html",))
    assert html_part is not None
    html = html_part.get_content()
    parts = {part["Content-ID"].strip("<>"): part for part in message.walk()
             if part["Content-ID"]}
    images = re.findall(r'<img[^>]*src="cid:([^"]+)"[^>]*>', html)
    assert images, "the digest shows no chart"
    for cid in images:
        tag = re.search(rf'<img[^>]*src="cid:{re.escape(cid)}"[^>]*>', html).group(0)
        width = int(re.search(r'width="(\d+)"', tag).group(1))
        height = int(re.search(r'height="(\d+)"', tag).group(1))
        assert re.search(r'alt="[^"]+"', tag)
        part = parts[cid]
        assert part.get_content_type() == "image/png"
        with Image.open(io.BytesIO(part.get_content())) as image:
            assert image.format == "PNG" and image.size == (2 * width, 2 * height)
    assert "svg" not in html.lower()
    assert len(html.encode()) < 100_000 and len(message.as_bytes()) < 1_000_000
    return len(images)


def test_each_runner_and_the_coach_get_one_digest_and_nudges_wait_for_it(
        tmp_path: Path, env: None, smtp: tuple[Collector, int], hook: HTTPServer) -> None:
    collector, port = smtp
    config = write_squad(tmp_path, port, hook.url_for("/hooks/sg"))
    sunday = last_sunday(datetime.now(UTC).date())
    week = iso_week(sunday)

    assert main(["--config", str(config), "ingest", str(tmp_path / "data/inbox")]) == 0
    # as the evaluation on the Sunday evening saw it (7-day windows end on that day)
    assert main(["--config", str(config), "evaluate", "--as-of", sunday.isoformat()]) == 0
    alerts = parsed(collector)
    # risks arrive at once, each with its chart; the strength nudge does not
    ben_rules = {m["X-StrideGuard-Rule"] for m in of_kind(alerts, "alert")
                 if "ben@example.com" in m["To"]}
    assert {"single_run_spike", "weekly_progression"} <= ben_rules
    assert not any(r.startswith(("no_strength", "strength_")) for r in ben_rules)
    for message in of_kind(alerts, "alert"):
        assert assert_inline_images_resolve(message) == 1
    assert not of_kind(alerts, "digest")

    collector.received.clear()
    assert main(["--config", str(config), "digest", "--send", "--week", week]) == 0
    messages = parsed(collector)
    digests = of_kind(messages, "digest")
    assert sorted(m["X-StrideGuard-Athlete"] for m in digests) == ["ana", "ben"]
    for message in digests:
        assert assert_inline_images_resolve(message) >= 1
        text = message.get_body(preferencelist=("plain",)).get_content()
        assert week in text or week in message["Subject"]
        assert "km" in text
    ana_text = next(m for m in digests if m["X-StrideGuard-Athlete"] == "ana") \
        .get_body(preferencelist=("plain",)).get_content()
    assert "30" in ana_text  # 6 + 8 + 6 + 10 km
    ben_text = next(m for m in digests if m["X-StrideGuard-Athlete"] == "ben") \
        .get_body(preferencelist=("plain",)).get_content()
    assert "41" in ben_text  # 6 + 8 + 6 + 21 km
    assert "strength" in ben_text.lower()  # the nudge came by digest
    squads = of_kind(messages, "squad-digest")
    assert len(squads) == 1 and squads[0]["To"] == "coach@example.com"
    squad_text = squads[0].get_body(preferencelist=("plain",)).get_content()
    assert squad_text.index("Ben") < squad_text.index("Ana")  # open warnings first
    assert_inline_images_resolve(squads[0])

    events = digest_hooks(hook)
    assert sorted(e["data"]["athlete"] for e in events) == ["ana", "ben"]
    assert all(e["data"]["week"] == week for e in events)

    # once per athlete and week, however often it is asked for
    collector.received.clear()
    assert main(["--config", str(config), "digest", "--send", "--week", week]) == 0
    assert not of_kind(parsed(collector), "digest")
    assert len(digest_hooks(hook)) == 2


def test_preview_writes_files_a_person_can_open(tmp_path: Path, env: None,
                                                smtp: tuple[Collector, int],
                                                hook: HTTPServer) -> None:
    collector, port = smtp
    config = write_squad(tmp_path, port, hook.url_for("/hooks/sg"))
    week = iso_week(last_sunday(datetime.now(UTC).date()))
    assert main(["--config", str(config), "ingest", str(tmp_path / "data/inbox")]) == 0
    collector.received.clear()  # ingest evaluates and sends the spike alert
    hook.clear_log()
    out = tmp_path / "preview"
    assert main(["--config", str(config), "digest", "--out", str(out)]) == 0
    folder = out / week
    for stem in ("ana", "ben", "squad"):
        html = (folder / f"{stem}.html").read_text(encoding="utf-8")
        for source in re.findall(r'src="([^"]+)"', html):
            assert (folder / source).is_file() and source.endswith(".png")
        eml = message_from_bytes((folder / f"{stem}.eml").read_bytes(), policy=default_policy)
        assert_inline_images_resolve(eml)
    assert not collector.received and not hook.log  # a preview sends nothing


def digest_time_in(minutes: int) -> tuple[str, datetime]:
    """`schedule.digest` for today (UTC) `minutes` from the next whole minute on."""
    now = datetime.now(UTC)
    moment = (now + timedelta(minutes=minutes)).replace(second=0, microsecond=0)
    return f"{WEEKDAYS[moment.weekday()]} {moment.strftime('%H:%M')}", moment


def test_a_digest_missed_while_down_goes_out_at_start_and_never_twice(
        tmp_path: Path, env: None, smtp: tuple[Collector, int], hook: HTTPServer) -> None:
    """The digest time passed while the service was down (the store has sent digests before):
    the service sends it when it starts; a restart sends nothing more."""
    collector, port = smtp
    passed, _moment = digest_time_in(-2)
    config = write_squad(tmp_path, port, hook.url_for("/hooks/sg"), digest=passed)
    week = iso_week(last_sunday(datetime.now(UTC).date()))
    earlier = iso_week(last_sunday(datetime.now(UTC).date()) - timedelta(days=7))
    assert main(["--config", str(config), "ingest", str(tmp_path / "data/inbox")]) == 0
    assert main(["--config", str(config), "digest", "--send", "--week", earlier]) == 0
    collector.received.clear()

    with running_service(config, cwd=tmp_path) as service:
        assert service.wait_for_log(f"squad digest of * for {week} queued"), service.log()
        assert wait_for_messages(collector, digests=2, squads=1, timeout_s=20), service.log()
        service.stop()
    with running_service(config, cwd=tmp_path) as service:
        time.sleep(4)  # the digest check runs as the scheduler starts
        service.stop()
    messages = parsed(collector)
    assert sorted(m["X-StrideGuard-Athlete"] for m in of_kind(messages, "digest")) == \
        ["ana", "ben"]
    assert len(of_kind(messages, "squad-digest")) == 1


def wait_for_messages(collector: Collector, *, digests: int, squads: int,
                      timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        messages = parsed(collector)
        if len(of_kind(messages, "digest")) >= digests and \
                len(of_kind(messages, "squad-digest")) >= squads:
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def postgres_url() -> Iterator[str]:
    base_url = os.environ.get(POSTGRES_ENV)
    if not base_url:
        pytest.skip(f"{POSTGRES_ENV} is not set: two processes on one PostgreSQL not tried")
    yield from _postgres_schema_url(base_url)


def test_two_processes_on_postgresql_send_each_digest_once(
        tmp_path: Path, env: None, smtp: tuple[Collector, int], hook: HTTPServer,
        postgres_url: str) -> None:
    """Two `strideguard run` on one database across the digest time: one digest per athlete
    and week, one squad digest."""
    collector, port = smtp
    # at least 20 s ahead, so that both processes are up before it comes
    schedule, moment = digest_time_in(1 if datetime.now(UTC).second < 40 else 2)
    config = write_squad(tmp_path, port, hook.url_for("/hooks/sg"), digest=schedule,
                         database=postgres_url)
    assert main(["--config", str(config), "run", "--once"]) == 0  # ingest, alerts sent
    collector.received.clear()
    second = tmp_path / "second"
    second.mkdir()
    (second / "strideguard.yaml").write_text(
        config.read_text(encoding="utf-8").replace("data/", f"{tmp_path}/data/"),
        encoding="utf-8")
    with running_service(config, cwd=tmp_path) as one, \
            running_service(second / "strideguard.yaml", cwd=second) as two:
        assert datetime.now(UTC) < moment, "the services started after the digest time"
        wait_s = (moment - datetime.now(UTC)).total_seconds() + 45
        assert wait_for_messages(collector, digests=2, squads=1, timeout_s=wait_s), \
            one.log() + two.log()
        time.sleep(3)  # a second copy, if there were one, would arrive now
        one.stop()
        two.stop()
    messages = parsed(collector)
    assert sorted(m["X-StrideGuard-Athlete"] for m in of_kind(messages, "digest")) == \
        ["ana", "ben"], one.log() + two.log()
    assert len(of_kind(messages, "squad-digest")) == 1
    assert len(digest_hooks(hook)) == 2
