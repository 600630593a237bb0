"""Digests and alert charts through the real channels: SMTP (aiosmtpd), webhook, .eml files."""

from __future__ import annotations

import io
import logging
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage
from pytest_httpserver import HTTPServer
from smtp_sink import Collector, LoopbackController
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

import charts
from config.schema import ServiceConfig
from notify.alert_chart import chart_arguments, draw_alert_chart
from notify.channel import DigestContent, NoticeKind
from notify.channels import targets_for
from notify.dispatch import dispatch_due
from notify.mail import MAX_MESSAGE_BYTES
from notify.outbox import enqueue_alert, enqueue_digest
from store import SQUAD_KEY, Alert, Athlete, Digest, OutboxMessage, Store, utc_now

NOW = utc_now().replace(microsecond=0)  # the dispatcher records results at the real time
WEEK = "2026-W48"
SENDER = "StrideGuard <sg@example.org>"
COACH = "coach@example.org"
SECRET = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
CID_RE = re.compile(r'<img src="cid:([^"]+)" width="(\d+)" height="(\d+)" alt="([^"]*)"')


# --- a digest as digest/ hands it over: plain data that satisfies notify's protocol --------------


@dataclass(frozen=True)
class Image:
    cid: str
    png: bytes
    alt: str
    width_px: int
    height_px: int


@dataclass(frozen=True)
class Content:
    kind: str
    athlete_id: str | None
    week: str
    subject: str
    text: str
    html: str
    images: tuple[Image, ...]
    data: Mapping[str, Any] = field(default_factory=dict)


def pillow_png(width_px: int, height_px: int) -> bytes:
    """A plain PNG at twice the display size, as every chart is drawn."""
    buffer = io.BytesIO()
    PILImage.new("RGB", (2 * width_px, 2 * height_px), (86, 180, 233)).save(buffer, "PNG")
    return buffer.getvalue()


def img_tag(image: Image) -> str:
    return (f'<img src="cid:{image.cid}" width="{image.width_px}" height="{image.height_px}" '
            f'alt="{image.alt}">')


def runner_digest(athlete_id: str = "ana", distance_km: float = 31.4) -> Content:
    chart = charts.weekly_distance(["W45", "W46", "W47", "W48"], [24.0, 27.5, 29.0, distance_km],
                                   limit_km=35.0, limit_label="ceiling",
                                   title=f"{distance_km} km this week")
    images = (
        Image(f"weekly-distance.{athlete_id}@strideguard", chart.data, chart.alt,
              chart.width_px, chart.height_px),
        Image(f"strength.{athlete_id}@strideguard", pillow_png(300, 120),
              "Strength sessions: 1 this week against 2", 300, 120),
    )
    html = "<html><body><p>A steady week.</p>" + "".join(map(img_tag, images)) + "</body></html>"
    return Content(
        kind="digest", athlete_id=athlete_id, week=WEEK,
        subject=f"[StrideGuard] Your week {WEEK}: {distance_km} km in 4 runs",
        text=f"A steady week: {distance_km} km in 4 runs, nothing to worry about.\n",
        html=html, images=images,
        data={"athlete": athlete_id, "week": WEEK, "distance_km": distance_km, "runs": 4,
              "open_alerts": [], "held_back": [], "suggestion": "strength"},
    )


def squad_digest() -> Content:
    image = Image("squad@strideguard", pillow_png(600, 400), "Weekly distance of ana and ben",
                  600, 400)
    return Content(
        kind="squad-digest", athlete_id=None, week=WEEK,
        subject=f"[StrideGuard] The squad's week {WEEK}",
        text="ben: 48.0 km (4-week average 30.0 km), open: single_run_spike (warn)\n"
             "ana: 31.4 km (4-week average 29.0 km), quiet\n",
        html=f"<html><body><ol><li>ben</li><li>ana</li></ol>{img_tag(image)}</body></html>",
        images=(image,), data={"week": WEEK, "athletes": ["ben", "ana"]},
    )


def ledger_row(store: Store, content: DigestContent) -> str:
    """The digest's ledger row, as digest/ writes it before queueing; returns its id."""
    digest_id = str(uuid.uuid4())
    with store.session() as session:
        session.add(Digest(id=digest_id, kind="squad" if content.athlete_id is None else "athlete",
                           athlete_key=content.athlete_id or SQUAD_KEY, week=content.week,
                           created_at=NOW, data=dict(content.data)))
    return digest_id


def queue_digest(store: Store, config: ServiceConfig, content: DigestContent,
                 digest_id: str | None = None) -> list[tuple[str, str, tuple[str, ...]]]:
    """Queue a digest (writing its ledger row first); (channel, dedupe key, recipients) per row."""
    digest_id = digest_id or ledger_row(store, content)
    with store.session() as session:
        rows = enqueue_digest(session, config, content, digest_id, NOW)
        return [(row.channel, row.dedupe_key, tuple(row.recipients)) for row in rows]


def outbox(store: Store) -> list[OutboxMessage]:
    with store.session() as session:
        found = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        session.expunge_all()
        return list(found)


# --- checking a received message ------------------------------------------------------------------


def parse(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=default_policy)
    assert isinstance(message, EmailMessage)
    return message


def inline_images(message: EmailMessage) -> dict[str, EmailMessage]:
    """The message's image parts by Content-ID (without angle brackets)."""
    return {str(part["Content-ID"]).strip("<>"): part for part in message.walk()
            if part.get_content_maintype() == "image"}


def assert_every_cid_resolves(message: EmailMessage) -> int:
    """Every `cid:` of the HTML is an inline image/png that decodes at 2x its stated size."""
    assert message.get_content_type() == "multipart/alternative"
    text_part, related = message.iter_parts()
    assert text_part.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html_part = message.get_body(("html",))
    assert html_part is not None and html_part["Content-Transfer-Encoding"] == "quoted-printable"
    html = html_part.get_content()
    references = CID_RE.findall(html)
    assert references and len(references) == html.count("cid:")
    images = inline_images(message)
    assert sorted(images) == sorted(cid for cid, *_ in references)
    for cid, width_px, height_px, alt in references:
        part = images[cid]
        assert part.get_content_type() == "image/png"
        assert part.get_content_disposition() == "inline"
        assert part.get_filename().endswith(".png")
        with PILImage.open(io.BytesIO(part.get_content())) as decoded:
            assert decoded.format == "PNG"
            assert decoded.size == (2 * int(width_px), 2 * int(height_px))
        assert alt
    return len(references)


# --- a real SMTP server ---------------------------------------------------------------------------


@pytest.fixture
def smtp() -> Iterator[tuple[Collector, int]]:
    """A loopback aiosmtpd server keeping what it receives, and its port."""
    handler = Collector()
    controller = LoopbackController(handler, hostname="127.0.0.1", port=0)
    controller.start()
    yield handler, controller.port
    controller.stop()


def smtp_config(port: int, tmp_path: Path, **notify: Any) -> ServiceConfig:
    return ServiceConfig.model_validate({
        "mail_dir": str(tmp_path / "mail"),
        "athletes": [{"id": "ana", "name": "Ana", "email": "ana@example.org"},
                     {"id": "ben", "name": "Ben", "email": "ben@example.org"},
                     {"id": "cy", "name": "Cy"}],
        "notify": {"email": {"host": "127.0.0.1", "port": port, "security": "none",
                             "sender": SENDER, "to": [COACH], "timeout": 5}, **notify},
    })


# --- digests --------------------------------------------------------------------------------------


def test_digests_reach_runner_and_coach_with_every_image_inline(
    store: Store, smtp: tuple[Collector, int], tmp_path: Path
) -> None:
    handler, port = smtp
    config = smtp_config(port, tmp_path)
    queue_digest(store, config, runner_digest("ana", 31.4))
    queue_digest(store, config, runner_digest("ben", 48.0))
    queue_digest(store, config, squad_digest())
    queue_digest(store, config, runner_digest("cy"))  # no address: no email for cy

    assert dispatch_due(store, config, now=NOW) == {"sent": 3}

    by_rcpt = {tuple(received.rcpt_tos): parse(received.content) for received in handler.received}
    assert all(max(received.content) < 128 for received in handler.received)  # 7-bit clean
    assert sorted(by_rcpt) == [("ana@example.org",), ("ben@example.org",), (COACH,)]
    event_ids = {row.event_id for row in outbox(store)}
    for rcpt, message in by_rcpt.items():
        assert str(message["Message-ID"]).removesuffix("@strideguard>").lstrip("<") in event_ids
        assert message["Auto-Submitted"] == "auto-generated"
        assert message["X-StrideGuard-Week"] == WEEK
        assert message["X-StrideGuard-Alert"] is None and message["In-Reply-To"] is None
        assert len(message.as_bytes()) < MAX_MESSAGE_BYTES
        expected_images = 1 if rcpt == (COACH,) else 2
        assert assert_every_cid_resolves(message) == expected_images
    ana, ben = by_rcpt[("ana@example.org",)], by_rcpt[("ben@example.org",)]
    squad = by_rcpt[(COACH,)]
    assert (ana["X-StrideGuard-Kind"], ana["X-StrideGuard-Athlete"]) == ("digest", "ana")
    assert (ben["X-StrideGuard-Kind"], ben["X-StrideGuard-Athlete"]) == ("digest", "ben")
    assert (squad["X-StrideGuard-Kind"], squad["X-StrideGuard-Athlete"]) == ("squad-digest", "*")
    assert "31.4 km in 4 runs" in ana.get_body(("plain",)).get_content()
    assert "48.0 km in 4 runs" in ben.get_body(("plain",)).get_content()
    assert ana["Subject"] == f"[StrideGuard] Your week {WEEK}: 31.4 km in 4 runs"
    squad_text = squad.get_body(("plain",)).get_content()
    assert squad_text.index("ben:") < squad_text.index("ana:")


def test_enqueueing_a_digest_twice_queues_one_row_per_target(
    store: Store, tmp_path: Path
) -> None:
    config = smtp_config(2525, tmp_path, webhooks=[{"url": "https://hooks.example/sg",
                                                     "secret": SECRET}])
    content = runner_digest("ana")
    digest_id = ledger_row(store, content)
    first = queue_digest(store, config, content, digest_id)
    again = queue_digest(store, config, content, digest_id)

    [(email, email_key, email_to), (hook, hook_key, hook_to)] = first
    assert (email, email_key, email_to) == ("email", f"email|digest|{digest_id}",
                                            ("ana@example.org",))
    assert hook.startswith("webhook:") and hook_key == f"{hook}|digest|{digest_id}"
    assert hook_to == () and again == []
    rows = outbox(store)
    assert [(r.kind, r.digest_id, r.alert_id, r.status) for r in rows] == [
        ("digest", digest_id, None, "pending")] * 2


EMAIL = {"host": "127.0.0.1", "sender": "sg@example.org"}
HOOK = {"url": "https://hooks.example/sg", "secret": SECRET}


@pytest.mark.parametrize(
    ("notify_config", "athlete", "kind", "expected"),
    [
        ({}, "ana", "digest", [("file", ())]),
        ({}, None, "squad-digest", [("file", ())]),
        ({"email": {**EMAIL, "to": [COACH]}}, "ana", "digest", [("email", ("ana@x.org",))]),
        ({"email": {**EMAIL, "to": [COACH]}}, None, "squad-digest", [("email", (COACH,))]),
        ({"email": {**EMAIL, "to": [COACH]}}, "cy", "digest", []),  # no address of cy's own
        ({"email": EMAIL}, None, "squad-digest", []),  # no coach: no squad digest
        ({"webhooks": [HOOK]}, "ana", "digest", [("webhook", ())]),
        ({"webhooks": [HOOK]}, None, "squad-digest", []),
        ({"email": {**EMAIL, "to": [COACH]}, "webhooks": [HOOK]}, None, "squad-digest",
         [("email", (COACH,))]),
    ],
)
def test_digest_targets_table(notify_config: dict[str, Any], athlete: str | None,
                              kind: NoticeKind, expected: list[tuple[str, tuple[str, ...]]]
                              ) -> None:
    config = ServiceConfig.model_validate({
        "athletes": [{"id": "ana", "email": "ana@x.org"}, {"id": "cy"}], "notify": notify_config})
    targets = targets_for(config, athlete, kind)
    assert [(target.kind, target.recipients) for target in targets] == expected


def test_digest_webhook_is_a_signed_digest_weekly_event(
    store: Store, httpserver_ipv4: HTTPServer, tmp_path: Path
) -> None:
    httpserver_ipv4.expect_request("/hook", method="POST").respond_with_data("", status=204)
    config = ServiceConfig.model_validate({
        "mail_dir": str(tmp_path / "mail"),
        "notify": {"webhooks": [{"url": httpserver_ipv4.url_for("/hook"), "secret": SECRET}]},
    })
    content = runner_digest("ana")
    queue_digest(store, config, content)
    assert queue_digest(store, config, squad_digest()) == []  # the squad's is the coach's email

    assert dispatch_due(store, config, now=NOW) == {"sent": 1}

    [(request, _response)] = httpserver_ipv4.log
    body = Webhook(SECRET).verify(request.get_data(), dict(request.headers))
    assert body["type"] == "digest.weekly"
    assert body["data"] == dict(content.data)
    assert body["timestamp"] == NOW.isoformat().replace("+00:00", "Z")
    [row] = outbox(store)
    assert request.headers["webhook-id"] == request.headers["Idempotency-Key"] == row.event_id
    assert not (tmp_path / "mail").exists()


def test_with_nothing_configured_digests_are_written_as_eml_files(
    store: Store, tmp_path: Path
) -> None:
    config = ServiceConfig.model_validate({
        "mail_dir": str(tmp_path / "mail"), "athletes": [{"id": "ana", "email": "ana@x.org"}]})
    queue_digest(store, config, runner_digest("ana"))
    queue_digest(store, config, squad_digest())

    assert dispatch_due(store, config, now=NOW) == {"sent": 2}

    messages = {str(m["To"]): m for m in
                (parse(path.read_bytes()) for path in (tmp_path / "mail").glob("*.eml"))}
    assert sorted(messages) == ["ana@x.org", "coach@localhost"]
    assert messages["ana@x.org"]["X-StrideGuard-Kind"] == "digest"
    assert messages["coach@localhost"]["X-StrideGuard-Kind"] == "squad-digest"
    assert [assert_every_cid_resolves(messages[to]) for to in sorted(messages)] == [2, 1]
    assert {row.event_id + ".eml" for row in outbox(store)} == {
        path.name for path in (tmp_path / "mail").iterdir()}


def test_a_content_of_another_kind_is_refused(store: Store, tmp_path: Path) -> None:
    content = Content(kind="firing", athlete_id="ana", week=WEEK, subject="s", text="t",
                      html="<p>h</p>", images=())
    with store.session() as session, pytest.raises(ValueError, match="not a digest kind"):
        enqueue_digest(session, ServiceConfig(mail_dir=tmp_path), content, "d1", NOW)


# --- a chart in every alert email -----------------------------------------------------------------


RUNS_CHART: dict[str, Any] = {
    "kind": "runs_against_longest", "title": "Long run 22 km: 2.0x your longest of 30 days",
    "run_days": ["2026-10-25", "2026-11-01", "2026-11-08", "2026-11-15", "2026-11-21"],
    "run_km": [9.0, 10.5, 11.0, 8.0, 22.0], "first_day": "2026-10-22",
    "last_day": "2026-11-21", "reference_km": 11.0,
    "ratio_lines": [["1.1x", 1.1], ["2x", 2.0]], "highlight": [False, False, False, False, True],
}


def alert_payload(chart: Any) -> dict[str, Any]:
    """An alert as plain data with every field the email templates read, and its chart."""
    return {
        "alert_id": "a1", "rule": "single_run_spike", "athlete": "ana", "athlete_name": "Ana",
        "severity": "warn", "metric": "longest_run_ratio_30d", "value": 2.0, "unit": "×",
        "threshold": 1.1, "as_of": "2026-11-21", "description": "Long run spike",
        "summary": "Your long run doubled.", "condition": "> 1.1",
        "metric_meaning": "longest run against the month's longest",
        "why": "Spikes raise injury risk.", "source": "Frandsen 2025",
        "advice_blocks": [{"title": "Rest", "text": "Take easy days."}],
        "advice": ["Rest: Take easy days."], "see_a_professional": "If pain persists.",
        "disclaimer": "Not medical advice.", "activity_ids": [], "channels": None,
        "chart": chart,
    }


def queue_alert(store: Store, config: ServiceConfig, chart: Any,
                channels: list[str] | None = None) -> int:
    """Store an alert with this chart and queue it as evaluation does; returns the rows queued."""
    payload = alert_payload(chart) | {"channels": channels}
    with store.session() as session:
        session.add(Athlete(id="ana"))
        session.flush()  # no relationship tells the unit of work to insert the athlete first
        alert = Alert(id="a1", rule_id="single_run_spike", athlete_id="ana", episode=1,
                      severity="warn", metric="longest_run_ratio_30d", value=2.0, threshold=1.1,
                      as_of=date(2026, 11, 21), fired_at=NOW, payload=payload)
        session.add(alert)
        session.flush()
        return len(enqueue_alert(session, config, alert, "firing", NOW))


@pytest.fixture
def draws(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the real runs_against_longest's calls (it still draws)."""
    calls: list[str] = []
    real: Callable[..., charts.Png] = charts.runs_against_longest

    def counted(*args: Any, **kwargs: Any) -> charts.Png:
        calls.append(kwargs["title"])
        return real(*args, **kwargs)

    monkeypatch.setattr(charts, "runs_against_longest", counted)
    return calls


def test_an_alert_email_shows_its_chart_inline_drawn_once(
    store: Store, smtp: tuple[Collector, int], tmp_path: Path, draws: list[str]
) -> None:
    handler, port = smtp
    config = smtp_config(port, tmp_path)
    assert queue_alert(store, config, RUNS_CHART, channels=["email", "file"]) == 2
    assert draws == [RUNS_CHART["title"]]  # one drawing for the email and the .eml

    assert dispatch_due(store, config, now=NOW) == {"sent": 2}

    [received] = handler.received
    assert received.rcpt_tos == ["ana@example.org", COACH]
    [eml] = (tmp_path / "mail").glob("*.eml")
    for message in (parse(received.content), parse(eml.read_bytes())):
        assert assert_every_cid_resolves(message) == 1
        assert (message["X-StrideGuard-Kind"], message["X-StrideGuard-Athlete"],
                message["X-StrideGuard-Rule"]) == ("alert", "ana", "single_run_spike")
        alt = CID_RE.findall(message.get_body(("html",)).get_content())[0][3]
        text = message.get_body(("plain",)).get_content()
        assert "The chart in this email: " in text
        assert " ".join(alt.split())[:40] in " ".join(text.split())
        assert len(message.as_bytes()) < MAX_MESSAGE_BYTES


def test_a_webhook_only_alert_draws_no_chart_and_carries_the_series(
    store: Store, httpserver_ipv4: HTTPServer, tmp_path: Path, draws: list[str]
) -> None:
    httpserver_ipv4.expect_request("/hook").respond_with_data("", status=204)
    config = ServiceConfig.model_validate({
        "mail_dir": str(tmp_path / "mail"),
        "notify": {"webhooks": [{"url": httpserver_ipv4.url_for("/hook"), "secret": SECRET}]},
    })
    assert queue_alert(store, config, RUNS_CHART) == 1
    assert dispatch_due(store, config, now=NOW) == {"sent": 1}
    assert draws == []
    [(request, _response)] = httpserver_ipv4.log
    body = Webhook(SECRET).verify(request.get_data(), dict(request.headers))
    assert body["type"] == "alert.firing" and body["data"]["chart"] == RUNS_CHART


@pytest.mark.parametrize(
    "chart",
    [
        None,  # an alert from before charts, or a rule without one
        {"kind": "runs_against_longest", **{k: v for k, v in RUNS_CHART.items() if k != "kind"},
         "run_days": ["21 November"]},
        {"kind": "os.system", "title": "no"},
        {"kind": "runs_against_longest", "title": "missing series"},
        {"kind": "metric_days", "title": "t", "days": ["2026-11-20"], "values": ["x"],
         "unit": "", "thresholds": [["warn", "high"]], "band": [1]},
        ["not", "an", "object"],
    ],
    ids=["none", "bad-date", "unknown-kind", "missing-arguments", "bad-values", "not-an-object"],
)
def test_an_alert_without_a_drawable_chart_is_still_sent(
    store: Store, smtp: tuple[Collector, int], tmp_path: Path, chart: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler, port = smtp
    config = smtp_config(port, tmp_path)
    with caplog.at_level(logging.WARNING, logger="notify.alert_chart"):
        assert queue_alert(store, config, chart) == 1
    assert dispatch_due(store, config, now=NOW) == {"sent": 1}

    [received] = handler.received
    message = parse(received.content)
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain",
                                                                          "text/html"]
    assert "cid:" not in message.get_body(("html",)).get_content()
    assert "The chart in this email" not in message.get_body(("plain",)).get_content()
    assert message["X-StrideGuard-Kind"] == "alert"
    warnings = [r.getMessage() for r in caplog.records if r.name == "notify.alert_chart"]
    assert len(warnings) == (0 if chart is None else 1)
    for warning in warnings:  # the series is the athlete's data: never in the log
        assert "21 November" not in warning and "2026-11-20" not in warning


def test_chart_arguments_restore_dates_and_pairs() -> None:
    kind, arguments = chart_arguments(RUNS_CHART)
    assert kind == "runs_against_longest"
    assert arguments["run_days"][-1] == date(2026, 11, 21)
    assert (arguments["first_day"], arguments["last_day"]) == (date(2026, 10, 22),
                                                               date(2026, 11, 21))
    assert arguments["ratio_lines"] == (("1.1x", 1.1), ("2x", 2.0))
    _kind, cadence = chart_arguments({"kind": "cadence_trend", "title": "t",
                                      "run_days": ["2026-11-01"], "fit_days": ["2026-10-01",
                                                                               "2026-11-21"]})
    assert cadence["fit_days"] == (date(2026, 10, 1), date(2026, 11, 21))
    _kind, metric = chart_arguments({"kind": "metric_days", "title": "t", "days": [],
                                     "thresholds": [["warn > 2.0", 2.0]], "band": [47.8, 52.2]})
    assert (metric["thresholds"], metric["band"]) == ((("warn > 2.0", 2.0),), (47.8, 52.2))


def _days(count: int, last: date = date(2026, 11, 21)) -> list[str]:
    return [(last - timedelta(days=count - 1 - i)).isoformat() for i in range(count)]


CHART_OF_EVERY_KIND: list[dict[str, Any]] = [
    RUNS_CHART,
    {"kind": "weekly_distance", "title": "48 km this week, 45 % over last week",
     "weeks": ["W43", "W44", "W45", "W46", "W47", "W48"],
     "distance_km": [30.0, 31.5, 29.0, 33.0, 33.1, 48.0], "limit_km": 43.0,
     "limit_label": "+30 %"},
    {"kind": "cadence_trend", "title": "Cadence down 4 spm over 8 weeks",
     "run_days": _days(56)[::4], "cadence_spm": [172 - i * 0.3 for i in range(14)],
     "fit_days": [_days(56)[0], _days(56)[-1]], "fit_spm": [172.0, 168.0],
     "low_spm": [171.0, 166.0], "high_spm": [173.0, 170.0]},
    {"kind": "metric_days", "title": "Monotony over 6 weeks", "days": _days(42),
     "values": [1.2 + (i % 7) * 0.15 if i % 9 else None for i in range(42)], "unit": "",
     "thresholds": [["warn > 2.0", 2.0]], "band": None},
]


@pytest.mark.parametrize("chart", CHART_OF_EVERY_KIND, ids=lambda chart: chart["kind"])
def test_every_kind_of_alert_chart_draws(chart: dict[str, Any],
                                         caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="notify.alert_chart"):
        png = draw_alert_chart(chart)
    assert caplog.records == [] and png is not None
    with PILImage.open(io.BytesIO(png.data)) as decoded:
        assert decoded.size == (2 * png.width_px, 2 * png.height_px)
    assert png.alt


def test_a_line_break_in_an_athlete_id_cannot_add_a_header() -> None:
    """Athlete ids come from inbox folder names: a newline in one stays inside its header."""
    from notify.mail import render_digest_email

    content = runner_digest(athlete_id="an\nBcc: x@example.com")
    raw = render_digest_email(content, sender="s@example.com", to=["ana@example.com"],
                              event_id="msg_x")
    message = message_from_bytes(raw, policy=default_policy)
    assert message["Bcc"] is None
    assert message["X-StrideGuard-Athlete"] == "an Bcc: x@example.com"
