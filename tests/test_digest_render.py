"""The weekly digest's rendering: every number in the text, charts as cid images, size limits."""

from __future__ import annotations

import dataclasses
import re
from datetime import date, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image

from digest.model import (
    AlertLine,
    AthleteWeek,
    CadenceView,
    SquadWeek,
    Suggestion,
    WeekBar,
    WeekTotals,
)
from digest.preview import write_preview
from digest.render import DigestMail, render_athlete_digest
from digest.render_squad import render_squad_digest

MONDAY = date(2026, 11, 23)  # ISO week 2026-W48
SUNDAY = MONDAY + timedelta(days=6)
DISCLAIMER = ("StrideGuard reads training data, not your body: this is not medical advice and "
              "no alert can promise to prevent injury.")
# 12 weeks, W37..W48: a steady build with a cut-back week, 31 km this week
DISTANCES_KM = [22.4, 24.0, 25.3, 27.1, 19.8, 26.2, 28.0, 29.4, 23.5, 27.2, 28.3, 31.0]
LONG_RUNS_KM = [9.0, 9.5, 10.2, 11.0, 8.0, 11.0, 11.8, 12.5, 10.0, 12.0, 12.5, 14.2]
STRENGTH = [2, 1, 2, 2, 0, 1, 2, 2, 1, 2, 1, 1]


def _weeks(distances: list[float] = DISTANCES_KM) -> tuple[WeekBar, ...]:
    bars = []
    for index, km in enumerate(distances):
        monday = MONDAY - timedelta(weeks=len(distances) - 1 - index)
        iso = monday.isocalendar()
        window = distances[max(index - 3, 0): index + 1]
        bars.append(WeekBar(
            week=f"{iso.year}-W{iso.week:02d}", label=f"W{iso.week:02d}", distance_km=km,
            average_4w_km=sum(window) / 4 if index >= 3 else None,
            long_run_km=LONG_RUNS_KM[index] if km > 0 else None,
            strength_sessions=STRENGTH[index] if km > 0 else 0,
            ctl_km=None if index < 6 else 3.2 + 0.08 * index,
            atl_km=km / 7 + 0.1))
    return tuple(bars)


def _cadence() -> CadenceView:
    days = tuple(MONDAY - timedelta(days=55) + timedelta(days=2 * i + i // 3) for i in range(24))
    spm = tuple(round(172.0 - 0.14 * i + (0.9 if i % 3 == 0 else -0.6), 1) for i in range(24))
    return CadenceView(change_spm_8w=-3.4, low_spm_8w=-5.1, high_spm_8w=-1.6, run_days=days,
                       adjusted_spm=spm, fit_days=(days[0], days[-1]), fit_spm=(172.1, 168.7),
                       low_spm=(171.6, 167.3), high_spm=(172.7, 170.2),
                       reference_speed_mps=3.0)


def _alert(rule: str, description: str, severity: str, state: str, summary: str,
           advice: str | None, deliver: str = "immediate", **extra: object) -> AlertLine:
    return AlertLine(alert_id=f"al-{rule}", rule=rule, description=description,
                     severity=severity, state=state, summary=summary, advice_key="x",
                     advice_title=advice, deliver=deliver, since=MONDAY + timedelta(days=2),
                     **extra)  # type: ignore[arg-type]


ALERTS = (
    _alert("weekly_progression", "Weekly distance up more than 30 %", "warn", "resolved",
           "Weekly distance is back under a 30 % rise (31.0 km after 28.3 km).",
           "Build up gradually", is_open=False),
    _alert("consecutive_run_days", "Seven or more run days in a row", "info", "held back",
           "You ran 7 days in a row (17-23 Nov).", "Take a day off", deliver="digest",
           held_back_reason="silenced: holiday until 30 Nov"),
)
NUDGES = (
    _alert("strength_14d", "Fewer than two strength sessions a week", "info", "fired",
           "2 strength sessions in the last 14 days, against 4.", "Strength work, twice a week",
           deliver="digest"),
    _alert("cadence_trend", "Cadence falling over 8 weeks", "info", "fired",
           "Speed-adjusted cadence fell 3.4 spm over 8 weeks (95 % interval -5.1 to -1.6).",
           "A form cue to try", deliver="digest"),
)
STILL_OPEN = (
    _alert("gct_balance", "Ground-contact imbalance", "info", "open",
           "Balance 53.1 % left over the last 5 runs.", "Strength work, twice a week",
           deliver="digest"),
)


def runner_week(**changes: object) -> AthleteWeek:
    """Ana's week 2026-W48: 31 km in 4 runs, a 14.2 km long run, 1 strength session."""
    week = AthleteWeek(
        athlete_id="ana", athlete_name="Ana", week="2026-W48", first_day=MONDAY,
        last_day=SUNDAY, recorded=True,
        this_week=WeekTotals(distance_km=31.0, moving_min=178.0, runs=4),
        last_week=WeekTotals(distance_km=28.3, moving_min=163.0, runs=4),
        average_4w=WeekTotals(distance_km=27.1, moving_min=156.5, runs=3.75),
        longest_run_km=14.2, longest_30d_before_km=12.5, longest_ratio=14.2 / 12.5,
        longest_30d_km=14.2, next_long_run_ceiling_km=15.62, weeks=_weeks(),
        longest_run_day=SUNDAY - timedelta(days=1), spike_ratio=14.2 / 12.5,
        cadence_spm=169.0, cadence=_cadence(), gct_balance_left_pct=53.1,
        strength_this_week=1, strength_target_per_week=2, alerts=ALERTS, nudges=NUDGES,
        still_open=STILL_OPEN,
        suggestion=Suggestion(advice_key="strength", title="Strength work, twice a week",
                              text="Book two 25-minute sessions: Tuesday and Friday."),
        verdict="A solid week: 31.0 km in 4 runs, 14 % above your 4-week average.",
        last_activity_day=SUNDAY, days_since_last_activity=0, disclaimer=DISCLAIMER,
        open_severity="info")
    return dataclasses.replace(week, **changes)


def quiet_week() -> AthleteWeek:
    """Nothing recorded: a runner whose watch last synced 17 days before Sunday."""
    zero = WeekTotals(distance_km=0.0, moving_min=0.0, runs=0)
    return runner_week(
        athlete_id="ben", athlete_name="Ben", recorded=False, this_week=zero, last_week=zero,
        average_4w=WeekTotals(distance_km=20.0, moving_min=118.0, runs=2.75),
        longest_run_km=None, longest_30d_before_km=None, longest_ratio=None,
        longest_30d_km=12.0, next_long_run_ceiling_km=13.2,
        weeks=_weeks([*DISTANCES_KM[:10], 0.0, 0.0]), cadence_spm=None, cadence=None,
        gct_balance_left_pct=None, strength_this_week=0, alerts=(), nudges=(), still_open=(),
        verdict="No activity recorded this week.", last_activity_day=SUNDAY - timedelta(17),
        days_since_last_activity=17, open_severity=None)


def squad(size: int) -> SquadWeek:
    """`size` runners in risk order: every 7th with an open warn, every 50th critical."""
    base = runner_week()
    athletes = []
    for index in range(size):
        severity = "critical" if index % 50 == 0 else "warn" if index % 7 == 0 else None
        athletes.append(dataclasses.replace(
            base, athlete_id=f"runner-{index:04d}", athlete_name=f"Runner {index:04d}",
            this_week=WeekTotals(20.0 + index % 23, 150.0, 4), open_severity=severity,
            alerts=(dataclasses.replace(ALERTS[0], severity=severity, state="fired",
                                        is_open=True),)
            if severity else (), nudges=(), still_open=(),
            days_since_last_activity=index % 12))
    order = {"critical": 0, "warn": 1, None: 3}
    athletes.sort(key=lambda a: order[a.open_severity])
    return SquadWeek(week="2026-W48", first_day=MONDAY, last_day=SUNDAY,
                     athletes=tuple(athletes), inactive_after_days=7)


def _images_ok(mail: DigestMail) -> None:
    """Each image: one `cid:` reference with its width, height and alt; PNG at twice the size."""
    assert len({image.cid for image in mail.images}) == len(mail.images)
    for image in mail.images:
        assert " " not in image.cid and image.cid.endswith("@strideguard")
        assert mail.html.count(f"cid:{image.cid}") == 1
        tag = re.search(rf'<img src="cid:{re.escape(image.cid)}"[^>]*>', mail.html)
        assert tag is not None
        assert f'width="{image.width_px}"' in tag.group(0)
        assert f'height="{image.height_px}"' in tag.group(0)
        assert re.search(r'alt="[^"]{20,}"', tag.group(0))
        with Image.open(BytesIO(image.png)) as png:
            assert png.format == "PNG"
            assert png.size == (2 * image.width_px, 2 * image.height_px)
    assert "svg" not in mail.html.lower()


def _as_email(mail: DigestMail) -> bytes:
    """The message as notify sends it: text, then HTML with its images (multipart/related)."""
    message = EmailMessage()
    message["Subject"] = mail.subject
    message.set_content(mail.text, cte="quoted-printable")
    message.add_alternative(mail.html, subtype="html", cte="quoted-printable")
    html_part = message.get_payload()[1]
    for image in mail.images:
        html_part.add_related(image.png, "image", "png", cid=f"<{image.cid}>",
                              filename=image.filename)
    return message.as_bytes(policy=SMTP)


def test_runner_digest_text_holds_every_number() -> None:
    mail = render_athlete_digest(runner_week(), {"athlete": "ana"})
    assert mail.kind == "digest" and mail.athlete_id == "ana" and mail.week == "2026-W48"
    assert mail.subject == "Your week 2026-W48: 31 km in 4 runs — 2 nudges"
    text = " ".join(mail.text.split())  # prose is wrapped at 78 columns
    assert text.index("A solid week") < text.index("YOUR WEEK")  # the verdict first
    for number in ("31.0 km", "28.3 km", "27.1 km", "2 h 58 min", "2 h 43 min", "3.8",
                   "+14 %", "14.2 km on Sat 28 Nov", "12.5 km", "1.14x", "15.6 km", "169 spm",
                   "-3.4 spm", "-5.1 to -1.6", "53.1 % left",
                   "1 strength session this week, against 2"):
        assert number in text, number
    week_lines = [line.split() for line in mail.text.splitlines()
                  if re.match(r"W\d\d\s", line)]
    assert [line[0] for line in week_lines] == [f"W{n}" for n in range(37, 49)]
    assert [float(line[1]) for line in week_lines] == DISTANCES_KM
    assert [int(line[4]) for line in week_lines] == STRENGTH
    for line in (*ALERTS, *NUDGES):
        assert line.description in text and line.summary in text
        assert line.advice_title in text
    assert "silenced: holiday until 30 Nov" in text
    assert ("STILL OPEN (shown before) - [info] Ground-contact imbalance, since 25 Nov 2026 "
            "-> Strength work, twice a week") in text
    assert "Book two 25-minute sessions" in text
    assert "not medical advice" in text and "not medical advice" in mail.html
    assert mail.data == {"athlete": "ana"}


def test_runner_digest_html_shows_each_chart_once() -> None:
    mail = render_athlete_digest(runner_week(), {})
    assert [image.filename for image in mail.images] == [
        "weekly-load-ana-2026-W48.png", "cadence-ana-2026-W48.png"]
    _images_ok(mail)
    assert "<style" not in mail.html
    assert "31 km this week, 14 % above your 4-week average" in mail.images[0].alt
    assert len(_as_email(mail)) < 1_000_000


def test_html_escapes_names_and_texts() -> None:
    mail = render_athlete_digest(runner_week(athlete_name="<b>Zoë & Co</b>"), {})
    assert "&lt;b&gt;Zoë &amp; Co&lt;/b&gt;" in mail.html and "<b>Zoë" not in mail.html
    assert "Hi <b>Zoë & Co</b>," in mail.text  # the text part is not HTML


def test_nothing_recorded_says_so_honestly() -> None:
    mail = render_athlete_digest(quiet_week(), {})
    assert mail.subject == "Your week 2026-W48: nothing recorded — nothing to worry about"
    text = " ".join(mail.text.split())
    honest = "Your watch recorded nothing from 23 Nov to 29 Nov"
    assert honest in text and honest in mail.html
    assert "17 days before Sunday" in text
    assert "No run this week." in text
    assert "Keep next week's long run under 13.2 km" in text
    assert "Your watch does not record running cadence" in text
    assert "does not record ground-contact balance" in text
    assert [image.filename for image in mail.images] == ["weekly-load-ben-2026-W48.png"]
    assert "No runs this week" in mail.images[0].alt
    _images_ok(mail)


def test_first_week_back_has_no_comparison_and_no_trend_yet() -> None:
    """Back after a break: no run in the 30 days before, too few runs for a cadence trend."""
    mail = render_athlete_digest(runner_week(
        longest_run_km=8.0, longest_30d_before_km=None, longest_ratio=None,
        longest_30d_km=None, next_long_run_ceiling_km=None, cadence=None, cadence_spm=165.0,
        gct_balance_left_pct=50.4, strength_this_week=2), {})
    text = " ".join(mail.text.split())
    assert "Longest run: 8.0 km on Sat 28 Nov (no run in the 30 days before it to compare" in text
    assert "no long-run ceiling: start short and build up" in text
    assert "Median steady cadence this week: 165 spm. Not enough runs" in text
    assert "50.4 % left, balanced (inside 47.8–52.2 %)" in text
    assert "2 strength sessions this week, against 2 a week." in text
    assert [image.filename for image in mail.images] == ["weekly-load-ana-2026-W48.png"]


def test_young_history_averages_the_weeks_there_are() -> None:
    """Two weeks behind the average, and a shorter run that was the bigger step up."""
    mail = render_athlete_digest(runner_week(
        average_4w_weeks=2, average_4w=WeekTotals(distance_km=25.0, moving_min=150.0, runs=3),
        longest_ratio=1.05, spike_ratio=1.4), {})
    text = " ".join(mail.text.split())
    assert "2-week avg" in mail.text and "(2-week average: the 2 weeks before this one.)" in text
    assert "Strength 1 1 1.5 target 2" in text  # W46 and W47: 2 and 1 sessions
    assert "a shorter run: 1.40x the longest of the 30 days before it" in text
    assert "24 % above your 2-week average" in mail.images[0].alt
    first = render_athlete_digest(runner_week(average_4w_weeks=0), {})
    assert "(No earlier weeks yet to average.)" in first.text
    assert "Distance 31.0 km 28.3 km – –" in " ".join(first.text.split())


def test_empty_squad_renders_without_a_chart() -> None:
    mail = render_squad_digest(SquadWeek(week="2026-W48", first_day=MONDAY, last_day=SUNDAY,
                                         athletes=()), {})
    assert mail.subject == "Squad week 2026-W48: all quiet"
    assert mail.images == () and "No athletes in this digest." in mail.text
    assert "not medical advice" in mail.html


def test_squad_digest_lists_runners_in_risk_order() -> None:
    team = squad(8)
    mail = render_squad_digest(team, {"week": "2026-W48"})
    assert mail.kind == "squad-digest" and mail.athlete_id is None
    assert mail.subject == "Squad week 2026-W48: 2 need a look"
    names = [a.athlete_name for a in team.athletes]
    assert names[:2] == ["Runner 0000", "Runner 0007"]
    positions = [mail.text.index(name) for name in names]
    assert positions == sorted(positions)
    html_positions = [mail.html.index(name) for name in names]
    assert html_positions == sorted(html_positions)
    row = next(line for line in mail.text.splitlines() if line.startswith("Runner 0007"))
    assert row.split()[2:7] == ["27.0", "27.1", "0", "%", "1.14x"]
    assert "⚠ 7 d" in row and "warn weekly_progression" in row
    assert "critical" in mail.text.split("Runner 0000")[1].splitlines()[0]
    _images_ok(mail)
    assert "quiet runners" not in mail.html


def test_squad_of_a_thousand_stays_small() -> None:
    mail = render_squad_digest(squad(1000), {})
    assert len(mail.html.encode("utf-8")) < 100_000
    for index in range(1000):
        assert f"Runner {index:04d}" in mail.text
    at_risk = sum(1 for a in squad(1000).athletes if a.open_severity)
    assert all(f"Runner {i:04d}" in mail.html for i in range(0, 1000, 7))
    assert f"and {1000 - at_risk - 30} quiet runners" in mail.html
    assert "976 are not drawn" in mail.text and "976 are not drawn" in mail.html
    assert "976 more athletes not shown" in " ".join(mail.text.split())  # the chart's alt
    _images_ok(mail)
    assert len(_as_email(mail)) < 1_000_000


def test_preview_writes_html_beside_its_pngs(tmp_path: Path) -> None:
    mail = render_athlete_digest(runner_week(), {})
    written = write_preview(mail, tmp_path / "out", "../ana 2026-W48")
    assert all(path.parent == (tmp_path / "out").resolve() for path in written)
    html_path = written[0]
    assert html_path.name == "ana-2026-W48.html"
    html = html_path.read_text(encoding="utf-8")
    assert "cid:" not in html
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert len(sources) == 2
    for source in sources:
        with Image.open(html_path.parent / source) as png:
            assert png.format == "PNG"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        p.name for p in written)
    assert not (tmp_path / "ana 2026-W48.html").exists()


def test_squad_html_fits_when_everyone_needs_a_look() -> None:
    """Long names and five open alerts each: the HTML drops rows, never the 100 KB limit."""
    alerts = tuple(dataclasses.replace(line, severity="critical", state="fired",
                                       rule=f"{line.rule}_with_a_long_custom_name")
                   for line in (*ALERTS, *NUDGES, *STILL_OPEN))
    alerts = tuple(dataclasses.replace(line, is_open=True) for line in alerts)
    team = squad(1000)
    team = dataclasses.replace(team, athletes=tuple(
        dataclasses.replace(a, open_severity="critical", alerts=alerts,
                            athlete_name=f"Maximiliane Oberhuber-Schmidt {a.athlete_name}")
        for a in team.athletes))
    mail = render_squad_digest(team, {})
    assert len(mail.html.encode("utf-8")) < 100_000
    shown = mail.html.count("<b>Maximiliane Oberhuber-Schmidt Runner")
    assert 50 < shown < 1000
    assert f"and {1000 - shown} more runners with an open warn or critical alert" in mail.html
    assert "+2 more" in mail.html
    rows = [line for line in mail.text.splitlines() if line.startswith("Maximiliane")]
    assert len(rows) == 1000 and all("+2 more" not in row for row in rows)
    assert mail.subject == "Squad week 2026-W48: 1000 need a look"


@pytest.mark.parametrize("stem", ["", "..", "/etc/passwd"])
def test_preview_stem_cannot_leave_the_folder(tmp_path: Path, stem: str) -> None:
    mail = render_squad_digest(squad(3), {})
    written = write_preview(mail, tmp_path, stem)
    assert all(path.parent == tmp_path.resolve() for path in written)
