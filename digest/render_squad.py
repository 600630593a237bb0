"""The coach's squad digest as an email's parts: every runner in risk order, one small-multiples
chart; the HTML shows those needing a look, the text part lists everyone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import charts
from digest.model import AthleteWeek, SquadWeek
from digest.render import (
    DISCLAIMER,
    NEED_A_LOOK,
    DigestMail,
    InlineImage,
    _image,
    _render,
    change_pct,
    day,
    num,
    plural,
    text_table,
)

SQUAD_AT_RISK_ROWS = 200  # HTML rows for runners with open critical/warn alerts, at most
SQUAD_QUIET_ROWS = 30  # HTML rows for the other runners; the text part lists every one
SQUAD_ROW_ALERTS = 3  # open alerts named in an HTML row, then "+N more"
SQUAD_HTML_BYTES = 95_000  # rows beyond this are left to the text part: HTML under 100 KB
SQUAD_PANELS = 24  # small multiples drawn; the rest are named in a line under the chart


def _squad_row(week: AthleteWeek, inactive_after_days: int) -> dict[str, Any]:
    days = week.days_since_last_activity
    flagged = days is None or days >= inactive_after_days
    since = "never" if days is None else f"{days} d"
    ratio = week.spike_ratio if week.spike_ratio is not None else week.longest_ratio
    alerts = list(dict.fromkeys((line.severity, line.rule) for line in week.open_alerts))
    return {
        "name": week.athlete_name, "severity": week.open_severity,
        "at_risk": week.open_severity in NEED_A_LOOK,
        "km": num(week.this_week.distance_km), "avg": num(week.average_4w.distance_km),
        "change": change_pct(week.this_week.distance_km, week.average_4w.distance_km),
        "ratio": "–" if ratio is None else f"{ratio:.2f}x",
        "alerts": alerts[:SQUAD_ROW_ALERTS], "alerts_more": len(alerts[SQUAD_ROW_ALERTS:]),
        "alerts_text": ", ".join(f"{severity} {rule}" for severity, rule in alerts) or "–",
        "since": f"⚠ {since}" if flagged else since, "flagged": flagged,
        "strength": str(week.strength_this_week),
    }


def needing_a_look(squad: SquadWeek) -> int:
    """Runners with an open critical or warn alert."""
    return sum(1 for a in squad.athletes if a.open_severity in NEED_A_LOOK)


def squad_subject(squad: SquadWeek) -> str:
    """ "Squad week 2026-W48: 2 need a look" (open critical or warn alerts), else all quiet."""
    look = needing_a_look(squad)
    if look == 0:
        return f"Squad week {squad.week}: all quiet"
    return f"Squad week {squad.week}: {look} {'needs' if look == 1 else 'need'} a look"


def _squad_html(context: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """The HTML's table: runners needing a look (up to a cap) then a few others, as many as fit
    in SQUAD_HTML_BYTES; a line counts the rest, which the text part lists."""
    at_risk = [row for row in rows if row["at_risk"]]
    quiet = [row for row in rows if not row["at_risk"]]
    candidates = at_risk[:SQUAD_AT_RISK_ROWS] + quiet[:SQUAD_QUIET_ROWS]
    keep = len(candidates)
    while True:
        shown = candidates[:keep]
        shown_risk = sum(1 for row in shown if row["at_risk"])
        html = _render("squad_digest.html.j2", {
            **context, "rows": shown, "hidden_risk": len(at_risk) - shown_risk,
            "hidden_quiet": len(quiet) - (len(shown) - shown_risk)})
        size = len(html.encode("utf-8"))
        if size <= SQUAD_HTML_BYTES or keep == 0:
            return html
        keep = min(keep - 1, int(keep * SQUAD_HTML_BYTES / size * 0.95))  # long names, many alerts


def _squad_chart(squad: SquadWeek) -> InlineImage | None:
    """Small multiples of weekly distance; the chart draws the first SQUAD_PANELS runners."""
    athletes = squad.athletes
    if not athletes:
        return None
    weeks = sorted({bar.week for a in athletes for bar in a.weeks})[-12:]
    labels = {bar.week: bar.label for a in athletes for bar in a.weeks}
    matrix = []
    for a in athletes:
        by_week = {bar.week: bar.distance_km for bar in a.weeks}
        matrix.append([by_week.get(w, 0.0) for w in weeks])
    look = needing_a_look(squad)
    title = (f"Weekly distance over {len(weeks)} weeks: {look} of "
             f"{plural(len(athletes), 'runner')} {'needs' if look == 1 else 'need'} a look")
    png = charts.squad_weekly_distance([a.athlete_name for a in athletes],
                                       [labels[w] for w in weeks], matrix,
                                       severities=[a.open_severity for a in athletes],
                                       title=title, max_panels=SQUAD_PANELS)
    return _image(png, "squad-weekly-distance", "squad", squad.week)


def render_squad_digest(squad: SquadWeek, data: Mapping[str, Any]) -> DigestMail:
    """The coach's email: every runner in risk order (the HTML shows those needing a look)."""
    rows = [_squad_row(a, squad.inactive_after_days) for a in squad.athletes]
    chart = _squad_chart(squad)
    inactive = sum(1 for row in rows if row["flagged"])
    total_km = sum(a.this_week.distance_km for a in squad.athletes)
    header = ["Runner", "km", "4-wk avg", "vs avg", "Longest", "Last activity", "Strength",
              "Open alerts"]
    table = [header] + [[r["name"], r["km"], r["avg"], r["change"], r["ratio"], r["since"],
                         r["strength"], r["alerts_text"]] for r in rows]
    context = {
        "s": squad, "subject": squad_subject(squad), "chart": chart,
        "period": f"{day(squad.first_day)} – {day(squad.last_day)} {squad.last_day.year}",
        "summary": (f"{plural(len(rows), 'runner')} · {needing_a_look(squad)} with an open warn "
                    f"or critical alert · {inactive} without activity for "
                    f"{squad.inactive_after_days}+ days · {total_km:.0f} km run together"),
        "table_text": text_table(table, "lrrrrrrl"),
        "panels": min(len(rows), SQUAD_PANELS), "not_drawn": max(len(rows) - SQUAD_PANELS, 0),
        "disclaimer": squad.athletes[0].disclaimer if squad.athletes else DISCLAIMER,
    }
    return DigestMail(kind="squad-digest", athlete_id=None, week=squad.week,
                      subject=context["subject"], text=_render("squad_digest.txt.j2", context),
                      html=_squad_html(context, rows), images=(chart,) if chart else (),
                      data=data)
