"""The weekly digest as an email's parts: subject, text, HTML with `cid:` charts, inline PNGs."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import charts
from config.jinja import email_templates
from digest.model import AlertLine, AthleteWeek, SilenceLine
from rules.payload import LONG_RUN_STEP

if TYPE_CHECKING:
    pass

DISCLAIMER = "This is not medical advice and no alert can promise to prevent injury."
BALANCE_RANGE_PCT = (47.8, 52.2)  # Garmin's "good" ground-contact balance
NEED_A_LOOK = ("critical", "warn")  # open alerts a runner (or coach) should act on


@dataclass(frozen=True)
class InlineImage:
    """A PNG the HTML shows as `<img src="cid:CID">`, drawn at twice its display size."""

    cid: str
    png: bytes
    alt: str
    width_px: int
    height_px: int
    filename: str


@dataclass(frozen=True)
class DigestMail:
    """One rendered digest: what notify needs to build and send the message (its DigestContent)."""

    kind: str  # "digest" | "squad-digest"
    athlete_id: str | None  # None for the squad
    week: str
    subject: str
    text: str
    html: str  # images as <img src="cid:CID" width=W height=H alt="...">
    images: tuple[InlineImage, ...]
    data: Mapping[str, Any]  # the digest.weekly webhook data


def _render(name: str, context: Mapping[str, Any]) -> str:
    return email_templates(trim_blocks=True).get_template(name).render(context)


# --- numbers as words --------------------------------------------------------------------------


def num(value: float | None, digits: int = 1) -> str:
    """A number for a table cell, `–` when there is none."""
    return "–" if value is None else f"{value:.{digits}f}"


def km(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} km"


def short_km(value: float) -> str:
    """Whole km from 10 km on, one decimal below (a subject line: "31 km", "8.5 km")."""
    return f"{value:.0f} km" if value >= 10 else f"{value:.1f} km"


def duration(minutes: float | None) -> str:
    """Moving time as "2 h 58 min" or "48 min"."""
    if minutes is None:
        return "–"
    hours, rest = divmod(round(minutes), 60)
    return f"{hours} h {rest:02d} min" if hours else f"{rest} min"


def count(value: float | None) -> str:
    """Runs or sessions: whole numbers plain, means of weeks with one decimal."""
    if value is None:
        return "–"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def change_pct(value: float, base: float | None) -> str:
    """(value / base - 1) x 100 as "+12 %"; `–` without a base to compare with."""
    if base is None or base <= 0:
        return "–"
    change = round((value / base - 1) * 100)
    return f"{change:+d} %" if change else "0 %"


def day(value: date) -> str:
    return f"{value.day} {value:%b}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def text_table(rows: Sequence[Sequence[str]], align: str) -> str:
    """Plain columns for the text part: `align` holds one `l` or `r` per column."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(align))]
    lines = []
    for row in rows:
        cells = [cell.ljust(w) if a == "l" else cell.rjust(w)
                 for cell, w, a in zip(row, widths, align, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def token(text: str) -> str:
    """`text` reduced to letters, digits, `.`, `_` and `-`: safe in a Content-ID or file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "x"


def _image(png: charts.Png, name: str, owner: str, week: str) -> InlineImage:
    stem = f"{name}-{token(owner)}-{token(week)}"
    return InlineImage(cid=f"{stem}@strideguard", png=png.data, alt=png.alt,
                       width_px=png.width_px, height_px=png.height_px, filename=f"{stem}.png")


# --- the runner's digest -----------------------------------------------------------------------


def render_athlete_digest(week: AthleteWeek, data: Mapping[str, Any]) -> DigestMail:
    """One runner's week as text + HTML, with the 12-week load chart and the cadence trend."""
    load_chart = _load_chart(week)
    cadence_chart = _cadence_chart(week)
    context = {
        "w": week,
        "subject": athlete_subject(week),
        "period": f"{day(week.first_day)} – {day(week.last_day)} {week.last_day.year}",
        "nothing_recorded": _nothing_recorded(week),
        "totals": _totals_rows(week),
        "average_note": _average_note(week),
        "long_run": _long_run_lines(week),
        "weeks": _week_rows(week),
        "load_chart": load_chart,
        "cadence": _cadence_lines(week),
        "cadence_runs": _cadence_runs(week),
        "cadence_chart": cadence_chart,
        "balance": _balance_line(week),
        "strength": (f"{plural(week.strength_this_week, 'strength session')} this week, "
                     f"against {week.strength_target_per_week} a week."),
        "alerts": [_alert_row(line) for line in week.alerts],
        "nudges": [_alert_row(line) for line in week.nudges],
        "still_open": [_alert_row(line) for line in week.still_open],
        "silences": [_silence_row(line) for line in week.silences],
    }
    context["totals_text"] = text_table(context["totals"], "lrrrr")
    context["weeks_text"] = text_table(context["weeks"], "lrrrrrr")
    images = tuple(image for image in (load_chart, cadence_chart) if image is not None)
    return DigestMail(kind="digest", athlete_id=week.athlete_id, week=week.week,
                      subject=context["subject"], text=_render("digest.txt.j2", context),
                      html=_render("digest.html.j2", context), images=images, data=data)


def athlete_subject(week: AthleteWeek) -> str:
    """ "Your week 2026-W48: 31 km in 4 runs — nothing to worry about"."""
    totals = week.this_week
    done = (f"{short_km(totals.distance_km)} in {plural(int(totals.runs), 'run')}"
            if week.recorded else "nothing recorded")
    risks = {a.alert_id: a for a in week.open_alerts if a.severity in NEED_A_LOOK}
    concerns = []
    if risks:
        worst = "critical" if any(a.severity == "critical" for a in risks.values()) else "warn"
        concerns.append(f"{plural(len(risks), 'alert')} open"
                        + (" (critical)" if worst == "critical" else ""))
    if week.nudges:
        concerns.append(plural(len(week.nudges), "nudge"))
    return f"Your week {week.week}: {done} — {' and '.join(concerns) or 'nothing to worry about'}"


def _nothing_recorded(week: AthleteWeek) -> str | None:
    if week.recorded:
        return None
    if week.last_activity_day is None:
        last = "StrideGuard has no activity from you yet."
    else:
        last = (f"Your last activity was on {day(week.last_activity_day)} "
                f"{week.last_activity_day.year}, "
                f"{plural(week.days_since_last_activity or 0, 'day')} before Sunday.")
    return (f"Your watch recorded nothing from {day(week.first_day)} to {day(week.last_day)}: "
            f"no runs and no strength sessions. {last} If you did train, check that your watch "
            "synced and its files reached StrideGuard's inbox.")


def _totals_rows(week: AthleteWeek) -> list[list[str]]:
    """[label, this week, last week, 4-week average, change against the average]."""
    this, last, bars, n = week.this_week, week.last_week, week.weeks, week.average_4w_weeks
    average = week.average_4w if n > 0 else None
    strength_last = bars[-2].strength_sessions if len(bars) >= 2 else None
    before = [bar.strength_sessions for bar in bars[:-1]][-n:] if n > 0 else []
    strength_avg = sum(before) / len(before) if before else None
    return [
        ["", "This week", "Last week", f"{n}-week avg" if n > 0 else "Average", "vs avg"],
        ["Distance", km(this.distance_km), km(last.distance_km),
         km(average and average.distance_km), change_pct(this.distance_km,
                                                         average and average.distance_km)],
        ["Moving time", duration(this.moving_min), duration(last.moving_min),
         duration(average and average.moving_min),
         change_pct(this.moving_min, average and average.moving_min)],
        ["Runs", count(this.runs), count(last.runs), count(average and average.runs),
         change_pct(this.runs, average and average.runs)],
        ["Strength", count(week.strength_this_week), count(strength_last), count(strength_avg),
         f"target {week.strength_target_per_week}"],
    ]


def _average_note(week: AthleteWeek) -> str:
    n = week.average_4w_weeks
    if n <= 0:
        return "(No earlier weeks yet to average.)"
    return f"({n}-week average: the {plural(n, 'week')} before this one.)"


def _long_run_lines(week: AthleteWeek) -> list[str]:
    lines = []
    if week.longest_run_km is None:
        lines.append("No run this week.")
    else:
        when = f" on {week.longest_run_day:%a} {day(week.longest_run_day)}" \
            if week.longest_run_day else ""
        longest = f"Longest run: {km(week.longest_run_km)}{when}"
        if week.longest_ratio is None or week.longest_30d_before_km is None:
            lines.append(f"{longest} (no run in the 30 days before it to compare with).")
        else:
            lines.append(f"{longest}, {week.longest_ratio:.2f}x the longest of the 30 days "
                         f"before it ({km(week.longest_30d_before_km)}).")
    if week.spike_ratio is not None and week.spike_ratio > (week.longest_ratio or 0) + 0.005:
        lines.append(f"Your biggest step up this week was a shorter run: {week.spike_ratio:.2f}x "
                     "the longest of the 30 days before it.")
    if week.next_long_run_ceiling_km is None or week.longest_30d_km is None:
        lines.append("No run in the last 30 days, so there is no long-run ceiling: "
                     "start short and build up.")
    elif abs(week.next_long_run_ceiling_km - LONG_RUN_STEP * week.longest_30d_km) > 0.05:
        # after a spike the ceiling comes from the run before it (rules.payload.advice_context)
        base_km = week.next_long_run_ceiling_km / LONG_RUN_STEP
        lines.append(f"Keep next week's long run under {km(week.next_long_run_ceiling_km)}: "
                     f"1.1x {km(base_km)}, your longest run before this step up (a spike does "
                     "not raise the ceiling).")
    else:
        lines.append(f"Keep next week's long run under {km(week.next_long_run_ceiling_km)}: "
                     f"1.1x your longest of the last 30 days ({km(week.longest_30d_km)}).")
    return lines


def _week_rows(week: AthleteWeek) -> list[list[str]]:
    rows = [["Week", "km", "4-wk avg", "Long run", "Strength", "CTL km/d", "ATL km/d"]]
    for bar in week.weeks:
        rows.append([bar.label, num(bar.distance_km), num(bar.average_4w_km),
                     num(bar.long_run_km), count(bar.strength_sessions), num(bar.ctl_km),
                     num(bar.atl_km)])
    return rows


def _load_title(week: AthleteWeek) -> str:
    """The chart's finding: "31 km this week, 12 % above your 4-week average"."""
    this, average = week.this_week.distance_km, week.average_4w.distance_km
    if not week.recorded or this <= 0:
        return "No runs this week"
    head = f"{short_km(this)} this week"
    if week.average_4w_weeks <= 0 or average <= 0:
        return head
    change = (this / average - 1) * 100
    if abs(change) < 3:
        return f"{head}, in line with your {week.average_4w_weeks}-week average"
    side = "above" if change > 0 else "below"
    return f"{head}, {abs(change):.0f} % {side} your {week.average_4w_weeks}-week average"


def _load_chart(week: AthleteWeek) -> InlineImage | None:
    bars = week.weeks
    if not bars:
        return None
    png = charts.weekly_load(
        [bar.label for bar in bars], [bar.distance_km for bar in bars],
        [bar.average_4w_km for bar in bars], [bar.long_run_km for bar in bars],
        [bar.ctl_km for bar in bars], [bar.atl_km for bar in bars], title=_load_title(week))
    return _image(png, "weekly-load", week.athlete_id, week.week)


def _cadence_verdict(change: float, low: float, high: float) -> str:
    if high < 0:
        return f"falling by {abs(change):.1f} spm over 8 weeks"
    if low > 0:
        return f"rising by {change:.1f} spm over 8 weeks"
    return "steady over 8 weeks (no clear change)"


def _cadence_lines(week: AthleteWeek) -> list[str]:
    """The trend's numbers in words, or why there is none."""
    view = week.cadence
    if week.cadence_spm is None and view is None:
        return ["Your watch does not record running cadence (or recorded none in these weeks), "
                "so there is no cadence trend to show."]
    lines = ([] if week.cadence_spm is None
             else [f"Median steady cadence this week: {week.cadence_spm:.0f} spm."])
    if view is None:
        return [*lines, "Not enough runs with cadence and speed for a trend yet (it needs 10 "
                "runs over at least 4 weeks)."]
    speed = view.reference_speed_mps
    pace_s = 1000 / speed if speed > 0 else 0
    lines.append(
        f"Speed-adjusted cadence (at {speed:.1f} m/s, {int(pace_s // 60)}:{int(pace_s % 60):02d}"
        f" /km): {_cadence_verdict(view.change_spm_8w, view.low_spm_8w, view.high_spm_8w)}; "
        f"change {view.change_spm_8w:+.1f} spm, 95 % interval {view.low_spm_8w:+.1f} to "
        f"{view.high_spm_8w:+.1f} spm, from {plural(len(view.run_days), 'run')}.")
    if len(view.fit_days) >= 2:
        lines.append(f"Fitted line: {view.fit_spm[0]:.1f} spm on {day(view.fit_days[0])} to "
                     f"{view.fit_spm[-1]:.1f} spm on {day(view.fit_days[-1])} (interval "
                     f"{view.low_spm[-1]:.1f}–{view.high_spm[-1]:.1f} spm at the end).")
    return lines


def _cadence_runs(week: AthleteWeek) -> str | None:
    """Each run's speed-adjusted cadence, for the text part (the chart's points in numbers)."""
    view = week.cadence
    if view is None:
        return None
    per_run = " · ".join(f"{day(d)} {spm:.0f}"
                         for d, spm in zip(view.run_days, view.adjusted_spm, strict=False))
    return f"Each run, speed-adjusted (spm): {per_run}."


def _cadence_chart(week: AthleteWeek) -> InlineImage | None:
    view = week.cadence
    if view is None:
        return None
    title = (f"Cadence at {view.reference_speed_mps:.1f} m/s: "
             f"{_cadence_verdict(view.change_spm_8w, view.low_spm_8w, view.high_spm_8w)}")
    png = charts.cadence_trend(view.run_days, view.adjusted_spm, fit_days=view.fit_days,
                               fit_spm=view.fit_spm, low_spm=view.low_spm,
                               high_spm=view.high_spm, title=title)
    return _image(png, "cadence", week.athlete_id, week.week)


def _balance_line(week: AthleteWeek) -> str:
    balance = week.gct_balance_left_pct
    if balance is None:
        return ("Your watch does not record ground-contact balance (it takes a running-dynamics "
                "sensor), so there is nothing to say about it.")
    low, high = BALANCE_RANGE_PCT
    if low <= balance <= high:
        where = f"balanced (inside {low}–{high} %)"
    else:
        side = "left" if balance > high else "right"
        where = f"outside {low}–{high} %: more time on your {side} foot"
    return (f"Ground-contact balance: {balance:.1f} % left, {where} "
            "(median of your last 5 runs that recorded it).")


def _alert_row(line: AlertLine) -> dict[str, str | None]:
    return {"severity": line.severity, "state": line.state,
            "title": (line.description or line.rule).rstrip(". "), "summary": line.summary,
            "advice": line.advice_title, "note": line.held_back_reason,
            "since": f"{day(line.since)} {line.since.year}"}


def _silence_row(line: SilenceLine) -> dict[str, str | None]:
    """ "Muted until Sun 6 Dec: strength nudges, run_streak — holiday: on holiday", and, for
    one ending within the week, "Ends tomorrow: from Mon 7 Dec you hear about these again."."""
    ends = line.ends_local
    at_midnight = ends.hour == 0 and ends.minute == 0 and ends.second == 0
    until = f"{line.last_day:%a} {day(line.last_day)}" + ("" if at_midnight
                                                          else f" {ends:%H:%M}")
    why = f"{line.preset}: {line.reason}" if line.preset else line.reason
    by = f" (by {line.created_by})" if line.created_by else ""
    soon = None
    if line.ends_in_days is not None:
        when = {0: "Ends today", 1: "Ends tomorrow"}.get(line.ends_in_days,
                                                        f"Ends in {line.ends_in_days} days")
        back = f"{ends:%a} {day(ends.date())}" + ("" if at_midnight else f" {ends:%H:%M}")
        soon = f"{when}: from {back} you hear about these again."
    return {"text": f"Muted until {until}: {', '.join(line.labels)} — {why}{by}",
            "soon": soon, "silence_id": line.silence_id}
