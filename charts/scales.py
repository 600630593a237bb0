"""Axes scales drawn as plain lines and texts: values with a grid, week slots, calendar days.

matplotlib's Tick objects cost about 10 ms a chart, so tick labels and grid lines are placed
directly; bars are one PolyCollection for the same reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta

from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import Transform, blended_transform_factory, offset_copy

from charts import style
from charts.series import day_label, fmt
from charts.text import text_width_px


def value_axis(ax: Axes, low: float, high: float, *, label: str, nbins: int = 5,
               numbers: bool = True) -> None:
    """Y limits, light grid lines with their values left of the axes, and the unit label.

    `numbers=False` leaves the grid unlabelled: a chart with no data has no scale to read.
    """
    ax.set_ylim(low, high)
    ticks = [tick for tick in MaxNLocator(nbins=nbins, steps=[1, 2, 2.5, 5, 10])
             .tick_values(low, high) if low - 1e-9 <= tick <= high + 1e-9]
    across = blended_transform_factory(ax.transAxes, ax.transData)
    ax.hlines(ticks, 0, 1, transform=across, color=style.GRID, linewidth=0.8, zorder=0.5)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    # as few decimals as show the step exactly: 20, 2.5, 0.05
    places = next((d for d in range(4) if abs(round(step, d) - step) < 1e-6 * step), 4)
    texts = [fmt(tick, places) for tick in ticks] if numbers else []
    _make_room_left(ax, max((text_width_px(text, style.TEXT_PX) for text in texts), default=0.0))
    left_of = offset_copy(across, fig=ax.figure, x=-5, units="points")
    for tick, text in zip(ticks, texts, strict=False):
        style.put(ax, 0, tick, text, transform=left_of, ha="right", va="center",
                  fontsize=style.TEXT_PX, color=style.INK)
    fig = ax.figure
    at_left = blended_transform_factory(style.css_px(fig), ax.transAxes)
    style.put(fig, 10, 0.5, label, transform=at_left, rotation=90, ha="left", va="center",
              fontsize=style.TEXT_PX, color=style.MUTED)


def _make_room_left(ax: Axes, labels_px: float) -> None:
    """Move the axes' left edge right when its value labels would run into the unit label.

    From the figure's left: 10 px, the rotated unit label (about 1.3 em), 4 px, the values,
    5 px, the axes.
    """
    width_px = style.size_px(ax.figure)[0]
    needed_px = 10 + style.TEXT_PX * 1.3 + 4 + labels_px + 5
    box = ax.get_position()
    if box.x0 * width_px < needed_px:
        right = box.x1
        left = min(needed_px / width_px, right - 0.2)
        ax.set_position((left, box.y0, right - left, box.height))


def category_axis(ax: Axes, labels: Sequence[str], *, show: bool = True) -> None:
    """Slots 0..n-1 along x, each labelled below (every k-th when there are many).

    Fewer than six slots are centred in the width of six, so one week is not one huge bar.
    """
    pad = max(6 - len(labels), 0) / 2
    ax.set_xlim(-0.6 - pad, len(labels) - 0.4 + pad)
    if show:
        step = 1 if len(labels) <= 16 else math.ceil(len(labels) / 12)
        for slot in range(0, len(labels), step):
            _x_label(ax, slot, labels[slot])


def date_axis(ax: Axes, first_day: date, last_day: date, max_ticks: int = 7) -> None:
    """Day ordinals along x from `first_day` to `last_day`, with days, Mondays or months."""
    ax.set_xlim(first_day.toordinal() - 0.7, last_day.toordinal() + 0.7)
    span_days = (last_day - first_day).days
    if span_days >= 14 * max_ticks:
        ticks = _month_starts(first_day, last_day, max_ticks)
        labels = [f"{day:%b}" if day.month != 1 else f"{day:%b %Y}" for day in ticks]
    else:
        step_days = next(step for step in (1, 2, 7, 14) if span_days / step < max_ticks)
        start = first_day
        if step_days >= 7:  # weeks start on Monday, as the digest's ISO weeks do
            start += timedelta(days=(7 - first_day.weekday()) % 7)
        ticks = [start + timedelta(days=k) for k in range(0, span_days + 1, step_days)
                 if start + timedelta(days=k) <= last_day]
        labels = [day_label(day) for day in ticks]
    below = blended_transform_factory(ax.transData, ax.transAxes)
    ax.vlines([day.toordinal() for day in ticks], -0.025, 0, transform=below, color=style.LIGHT,
              linewidth=0.8, clip_on=False)
    for day, label in zip(ticks, labels, strict=True):
        _x_label(ax, day.toordinal(), label)


def bars(ax: Axes, lefts: Sequence[float], heights: Sequence[float], widths: Sequence[float],
         colours: Sequence[str], *, bottoms: Sequence[float] | None = None) -> None:
    """Bars as one PolyCollection (ax.bar makes a Rectangle artist per bar: slower). NaN: none."""
    boxes, fills = [], []
    for index, (left, height, width) in enumerate(zip(lefts, heights, widths, strict=True)):
        if not math.isnan(height):
            low = bottoms[index] if bottoms is not None else 0.0
            boxes.append([(left, low), (left + width, low), (left + width, low + height),
                          (left, low + height)])
            fills.append(colours[index])
    if boxes:
        ax.add_collection(PolyCollection(boxes, facecolors=fills, linewidths=0, zorder=2),
                          autolim=False)


def offset(ax: Axes, *, x: float = 0.0, y: float = 0.0) -> Transform:
    """Data coordinates shifted by (x, y) CSS px: labels a little off the point they name."""
    return offset_copy(ax.transData, fig=ax.figure, x=x, y=y, units="points")


def _x_label(ax: Axes, x: float, text: str) -> None:
    below = offset_copy(blended_transform_factory(ax.transData, ax.transAxes), fig=ax.figure,
                        y=-5, units="points")
    style.put(ax, x, 0, text, transform=below, ha="center", va="top", fontsize=style.TEXT_PX,
              color=style.INK, clip_on=False)


def _month_starts(first_day: date, last_day: date, max_ticks: int) -> list[date]:
    months = []
    year, month = first_day.year, first_day.month
    while date(year, month, 1) <= last_day:
        if date(year, month, 1) >= first_day:
            months.append(date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months[:: max(math.ceil(len(months) / max_ticks), 1)]
