"""The coach's small multiples: one mini bar chart of weekly distance per athlete.

All panels share one km scale, so a glance compares athletes' volumes (a per-panel scale would
make 15 km and 60 km weeks look alike). The panels are drawn in one axes whose data units are
CSS px, which is many times faster than one matplotlib axes per athlete.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.ticker import MaxNLocator

from charts import scales, series, style
from charts.encode import to_png
from charts.png import Png
from charts.text import text_width_px, wrap

_WIDTH_PX = 600
_LEFT_PX = 44.0
_RIGHT_PX = 10.0
_GAP_PX = 14.0  # between panels, across
_ROW_PX = 100.0  # one row of panels: name, accent, bars, gap
_HEAD_PX = 32.0  # of a row: the name, the accent rule and room for the bar label
_NAME_PX = 10.0
_COLUMNS = 4


def squad_weekly_distance(athletes: Sequence[str], weeks: Sequence[str],
                          distance_km: Sequence[Sequence[float]], *,
                          severities: Sequence[str | None], title: str,
                          max_panels: int = 24) -> Png:
    """Weekly km per athlete as small multiples on one shared scale, in the order given.

    Each panel's accent line is the colour of the athlete's worst open alert (critical, warn,
    info, or grey when quiet) and the word is written beside the name, so colour is never the
    only cue. This week (the last) is the darker bar, labelled with its km.
    """
    names = [str(name) for name in athletes]
    shown = names[: max(max_panels, 0)]
    count_weeks = len(weeks)
    rows_km = [series.amounts(list(distance_km[index] or []) if index < len(distance_km) else [],
                             count_weeks) for index in range(len(shown))]
    levels = [_level(severities[index] if index < len(severities) else None)
              for index in range(len(shown))]
    columns = min(_COLUMNS, max(len(shown), 1))
    rows = math.ceil(len(shown) / columns) if shown else 0

    header_px = _header_height(title)
    height_px = round(header_px + max(rows, 1) * _ROW_PX + 6)
    fig = style.new_figure(_WIDTH_PX, height_px)
    top_px = style.draw_title(fig, title)
    keys = [("box", style.SEVERITY_COLOUR[level], level) for level in ("critical", "warn", "info")]
    top_px += style.legend_row(fig, [*keys, ("box", style.LIGHT, "quiet")], top=top_px)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(0, _WIDTH_PX)
    ax.set_ylim(0, height_px)
    top_km = series.top_of([km for row in rows_km for km in row], floor=10)
    if shown:
        style.put(ax, 12, height_px - top_px - 2, _scale_note(weeks, top_km), ha="left", va="top",
                  fontsize=style.SMALL_PX, color=style.MUTED)
    else:
        style.put(ax, _WIDTH_PX / 2, (height_px - header_px) / 2, "No athletes to show",
                  ha="center", va="center", fontsize=style.TEXT_PX + 1, color=style.MUTED)
    panel_px = (_WIDTH_PX - _LEFT_PX - _RIGHT_PX - (columns - 1) * _GAP_PX) / columns
    ticks = [tick for tick in MaxNLocator(nbins=2, steps=[1, 2, 2.5, 5, 10]).tick_values(0, top_km)
             if tick <= top_km]
    lines: list[tuple[list[tuple[float, float]], str, float]] = []
    bars: list[tuple[float, float, float, float, str]] = []
    for index, (name, row_km, level) in enumerate(zip(shown, rows_km, levels, strict=True)):
        left = _LEFT_PX + (index % columns) * (panel_px + _GAP_PX)
        top = height_px - header_px - (index // columns) * _ROW_PX
        _panel(ax, name, row_km, level, left=left, top=top, width=panel_px, top_km=top_km,
               ticks=ticks, tick_labels=index % columns == 0, lines=lines, bars=bars)
    if lines:  # one collection for every rule: far cheaper than a Line2D each
        segments, colours, widths = zip(*lines, strict=True)
        ax.add_collection(LineCollection(segments, colors=colours, linewidths=widths,
                                         capstyle="butt", zorder=1))
    if bars:
        x, bottom, width, height, colour = zip(*bars, strict=True)
        scales.bars(ax, x, height, width, colour, bottoms=bottom)
    if rows:
        style.put(fig, 10 / _WIDTH_PX, (rows * _ROW_PX / 2 + 6) / height_px, "km per week",
                  rotation=90, ha="left", va="center", fontsize=style.TEXT_PX, color=style.MUTED)
    left_out = len(names) - len(shown)
    return to_png(fig, _alt(title, weeks, shown, rows_km, levels, top_km, left_out))


def _panel(ax: Axes, name: str, row_km: list[float], level: str, *, left: float, top: float,
           width: float, top_km: float, ticks: list[float], tick_labels: bool,
           lines: list[tuple[list[tuple[float, float]], str, float]],
           bars: list[tuple[float, float, float, float, str]]) -> None:
    """One athlete's panel: texts drawn now, rules and bars added to `lines` and `bars`.

    Rows top down: the name and the severity word, the accent rule, the bars on their grid.
    """
    accent = style.SEVERITY_COLOUR.get(level, style.LIGHT)
    word_px = text_width_px(level, style.SMALL_PX) + 6
    style.put(ax, left, top - 2, _fit(name, width - word_px), ha="left", va="top",
              fontsize=_NAME_PX, fontweight="bold", color=style.INK)
    style.put(ax, left + width, top - 2, level, ha="right", va="top", fontsize=style.SMALL_PX,
              color=style.INK if level != "quiet" else style.MUTED)
    lines.append(([(left, top - 18), (left + width, top - 18)], accent,
                  3.0 if level != "quiet" else 1.5))
    base = top - _ROW_PX + _GAP_PX
    scale = (_ROW_PX - _GAP_PX - _HEAD_PX) / top_km
    for tick in ticks:
        y = base + tick * scale
        lines.append(([(left, y), (left + width, y)], style.LIGHT if tick == 0 else style.GRID,
                      0.8))
        if tick_labels:
            style.put(ax, left - 5, y, series.fmt(tick, 0), ha="right", va="center",
                      fontsize=style.SMALL_PX, color=style.INK)
    slot = width / max(len(row_km), 1)
    for index, km in enumerate(row_km):
        if not math.isnan(km):
            colour = style.BLUE if index == len(row_km) - 1 else style.SKY
            bars.append((left + slot * (index + 0.15), base, slot * 0.7, km * scale, colour))
    if not any(series.present(row_km)):
        style.put(ax, left + width / 2, base + (_ROW_PX - _GAP_PX - _HEAD_PX) / 2, "no runs",
                  ha="center", va="center", fontsize=style.SMALL_PX, color=style.MUTED)
    elif not math.isnan(row_km[-1]):
        style.put(ax, left + slot * (len(row_km) - 0.5), base + row_km[-1] * scale + 1.5,
                  series.fmt(row_km[-1], 0), ha="center", va="bottom", fontsize=style.SMALL_PX,
                  fontweight="bold", color=style.INK, zorder=3)


def _header_height(title: str) -> float:
    """The height in px above the panels: title lines, legend row, scale note and a gap."""
    if not title.strip():
        return 8.0 + style.LEGEND_PX + 18 + 8
    lines = len(wrap(title, _WIDTH_PX - 30, style.TITLE_PX, bold=True))
    title_px = 9 + lines * style.TITLE_PX * 1.25 + 6
    return title_px + style.LEGEND_PX + 18 + 8


def _scale_note(weeks: Sequence[str], top_km: float) -> str:
    span = f"{weeks[0]} to {weeks[-1]}, " if weeks else ""
    return (f"Weekly km, {span}this week darker and labelled; every panel on the same scale "
            f"(0 to {series.fmt(top_km, 0)} km).")


def _fit(text: str, width_px: float) -> str:
    """`text` cut with an ellipsis to fit `width_px` in the panel-name font."""
    if text_width_px(text, _NAME_PX, bold=True) <= width_px:
        return text
    while text and text_width_px(text + "…", _NAME_PX, bold=True) > width_px:
        text = text[:-1]
    return text.rstrip() + "…"


def _level(severity: str | None) -> str:
    word = str(severity or "").strip().lower()
    return word if word in style.SEVERITY_COLOUR else "quiet"


def _alt(title: str, weeks: Sequence[str], names: list[str], rows_km: list[list[float]],
         levels: list[str], top_km: float, left_out: int) -> str:
    if not names:
        text = f"{title}. No athletes to show"
    else:
        each = "; ".join(f"{name} {_this_week(row_km)} ({level})"
                         for name, row_km, level in zip(names, rows_km, levels, strict=True))
        text = f"{title}. Weekly distance for {series.count(len(names), 'athlete')}"
        if weeks:
            text += f" over {series.count(len(weeks), 'week')} ({series.span(weeks)})"
        text += f", on one scale from 0 to {series.fmt(top_km, 0)} km, in risk order: {each}"
    if left_out:
        text += f". {series.count(left_out, 'more athlete')} not shown"
    return text + "."


def _this_week(row_km: list[float]) -> str:
    if not row_km or math.isnan(row_km[-1]):
        return "no data this week"
    return f"{series.fmt(row_km[-1])} km this week"
