"""Load charts: the runner's 12 weeks of distance and form, and one week against its limit."""

from __future__ import annotations

import math
from collections.abc import Sequence

from matplotlib.axes import Axes

from charts import scales, series, style
from charts.encode import to_png
from charts.png import Png

_LOAD_SIZE_PX = (600, 360)
_WIDE_SIZE_PX = (600, 280)
_LEFT_PX = 54.0
_BOTTOM_PX = 24.0
_RIGHT_PX = 14.0
_FORM_PX = 72.0  # height of the CTL/ATL panel
_BAR_WIDTH = 0.68  # of one week's slot
_DASH = (0, (5, 3))


def weekly_load(weeks: Sequence[str], distance_km: Sequence[float],
                average_4w_km: Sequence[float | None], long_run_km: Sequence[float | None],
                ctl_km: Sequence[float | None] | None = None,
                atl_km: Sequence[float | None] | None = None, *, title: str) -> Png:
    """Weekly distance bars with the 4-week average and each week's long run; CTL/ATL below.

    The last week is the one the digest is about and is drawn darker. CTL and ATL (km/day,
    "fitness" and "fatigue") get a smaller panel on the same weeks when either is given.
    """
    labels = [str(week) for week in weeks]
    count = len(labels)
    distances = series.amounts(distance_km, count)
    averages = series.amounts(average_4w_km, count)
    long_runs = series.amounts(long_run_km, count)
    with_form = ctl_km is not None or atl_km is not None
    ctl, atl = series.amounts(ctl_km, count), series.amounts(atl_km, count)

    fig = style.new_figure(*_LOAD_SIZE_PX)
    top_px = style.draw_title(fig, title)
    entries = [("box", style.SKY, "km per week"), ("line", style.ORANGE, "4-week average"),
               ("diamond", style.INK, "long run")]
    if with_form:
        entries += [("line", style.BLUE, "fitness (CTL)"), ("dash", style.PURPLE, "fatigue (ATL)")]
    top_px += style.legend_row(fig, entries, top=top_px) + 4
    form_px = _FORM_PX + 14 if with_form else 0.0
    ax = style.add_axes(fig, left=_LEFT_PX, top=top_px, right=_RIGHT_PX,
                        bottom=_BOTTOM_PX + form_px)
    slots = range(count)
    scales.value_axis(ax, 0, series.top_of(distances + averages + long_runs, floor=10),
                     label="km per week", numbers=bool(series.present(distances)))
    _distance_bars(ax, distances, highlight=style.BLUE, label_inside=True)
    ax.plot(slots, averages, color=style.ORANGE, linewidth=2, solid_capstyle="round", zorder=3)
    ax.plot(slots, long_runs, linestyle="none", marker="D", markersize=5.5, color=style.INK,
            markeredgecolor="white", markeredgewidth=0.8, zorder=4)
    scales.category_axis(ax, labels, show=not with_form)
    if not any(series.present(distances)):  # nothing, or only zeros
        style.note(ax, "No runs recorded in these weeks")
    if with_form:
        form = style.add_axes(fig, left=_LEFT_PX, top=_LOAD_SIZE_PX[1] - _BOTTOM_PX - _FORM_PX,
                              right=_RIGHT_PX, bottom=_BOTTOM_PX)
        form.plot(slots, ctl, color=style.BLUE, linewidth=1.8)
        form.plot(slots, atl, color=style.PURPLE, linewidth=1.8, linestyle=(0, (4, 2)))
        scales.value_axis(form, 0, series.top_of(ctl + atl, floor=2), label="km/day", nbins=2,
                         numbers=bool(series.present(ctl + atl)))
        scales.category_axis(form, labels)
        if not series.present(ctl + atl):
            style.note(form, "Not enough history for fitness and fatigue yet")
    return to_png(fig, _load_alt(title, labels, distances, averages, long_runs, ctl, atl))


def weekly_distance(weeks: Sequence[str], distance_km: Sequence[float], *,
                    limit_km: float | None = None, limit_label: str = "",
                    title: str) -> Png:
    """Weekly distance bars, this week (the last) highlighted, against a dashed limit line.

    This week is drawn in the warning colour when it is above `limit_km`, else darker blue.
    """
    labels = [str(week) for week in weeks]
    distances = series.amounts(distance_km, len(labels))
    limit = series.amounts([limit_km], 1)[0]
    this_week = distances[-1] if distances else math.nan
    highlight = style.VERMILLION if this_week > limit else style.BLUE  # False for NaN

    fig = style.new_figure(*_WIDE_SIZE_PX)
    top_px = style.draw_title(fig, title)
    entries = [("box", style.SKY, "earlier weeks"), ("box", highlight, "this week")]
    top_px += style.legend_row(fig, entries, top=top_px) + 4
    limit_text = series.km_label(limit_label, limit) if not math.isnan(limit) else ""
    ax = style.add_axes(fig, left=_LEFT_PX, top=top_px, bottom=_BOTTOM_PX,
                        right=max(style.label_width([limit_text]), _RIGHT_PX))
    scales.value_axis(ax, 0, series.top_of([*distances, limit], floor=10), label="km per week",
                     numbers=bool(series.present([*distances, limit])))
    _distance_bars(ax, distances, highlight=highlight)
    scales.category_axis(ax, labels)
    if not math.isnan(limit):
        ax.axhline(limit, color=style.VERMILLION, linewidth=1.4, linestyle=_DASH, zorder=3)
        style.right_labels(ax, [(limit, limit_text, style.VERMILLION)])
    if not any(series.present(distances)):
        style.note(ax, "No runs recorded in these weeks")
    return to_png(fig, _distance_alt(title, labels, distances, limit, limit_label))


def _distance_bars(ax: Axes, distances: list[float], *, highlight: str,
                   label_inside: bool = False) -> None:
    """One bar per week, the last one in `highlight` and labelled with its km.

    `label_inside` writes the km in white inside the top of the bar, clear of a line drawn
    across the bar tops (the 4-week average); short bars keep the label above.
    """
    if not distances:
        return
    colours = [style.SKY] * (len(distances) - 1) + [highlight]
    scales.bars(ax, [slot - _BAR_WIDTH / 2 for slot in range(len(distances))], distances,
               [_BAR_WIDTH] * len(distances), colours)
    last = distances[-1]
    if math.isnan(last):
        return
    inside = label_inside and last > 0.2 * ax.get_ylim()[1]
    place = scales.offset(ax, y=-3 if inside else 2)
    style.put(ax, len(distances) - 1, last, series.fmt(last), transform=place, ha="center",
              va="top" if inside else "bottom", fontsize=style.SMALL_PX, fontweight="bold",
              color="white" if inside else style.INK, zorder=5)


def _load_alt(title: str, weeks: list[str], distances: list[float], averages: list[float],
              long_runs: list[float], ctl: list[float], atl: list[float]) -> str:
    done = series.present(distances)
    if not any(done):  # nothing, or only zeros
        return f"{title}. Weekly distance chart: no runs recorded in these weeks."
    parts = [f"{title}. Weekly distance for {series.count(len(weeks), 'week')} "
             f"({series.span(weeks)}), "
             f"from {series.fmt(min(done))} to {series.fmt(max(done))} km."]
    sentence = f"{weeks[-1]}: {_km(distances[-1])}"
    if not math.isnan(averages[-1]):
        sentence += f" against a 4-week average of {_km(averages[-1])}"
    if not math.isnan(long_runs[-1]):
        sentence += f", long run {_km(long_runs[-1])}"
    parts.append(sentence + ".")
    if series.present([ctl[-1], atl[-1]]):
        parts.append(f"Fitness (CTL) {_per_day(ctl[-1])}, fatigue (ATL) {_per_day(atl[-1])}.")
    return " ".join(parts)


def _distance_alt(title: str, weeks: list[str], distances: list[float], limit: float,
                  limit_label: str) -> str:
    if not any(series.present(distances)):
        return f"{title}. Weekly distance chart: no runs recorded in these weeks."
    text = (f"{title}. Weekly distance for {series.count(len(weeks), 'week')} "
            f"({series.span(weeks)}); "
            f"this week {_km(distances[-1])}")
    if len(distances) > 1:
        text += f", the week before {_km(distances[-2])}"
    if not math.isnan(limit):
        text += f"; limit {series.fmt(limit)} km" + (f" ({limit_label})" if limit_label else "")
    return text + "."


def _km(value: float) -> str:
    return "no data" if math.isnan(value) else f"{series.fmt(value)} km"


def _per_day(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{series.fmt(value)} km/day"
