"""The spike chart: each run of the last weeks against the longest run before them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

from charts import scales, series, style
from charts.encode import to_png
from charts.png import Png

_SIZE_PX = (600, 280)
_LEFT_PX = 54.0
_BOTTOM_PX = 24.0
_BAR_WIDTH = 0.68  # of one day's slot
_DASH = (0, (5, 3))


def runs_against_longest(run_days: Sequence[date], run_km: Sequence[float], *,
                         first_day: date, last_day: date, reference_km: float | None,
                         ratio_lines: Sequence[tuple[str, float]],
                         highlight: Sequence[bool], title: str,
                         reference_label: str = "longest before") -> Png:
    """One bar per run on a calendar from `first_day` to `last_day`, flagged runs in vermillion.

    Solid line: `reference_km` (the longest run before); dashed lines at `reference_km * ratio`
    for each (label, ratio). Runs on the same day stand side by side in that day's slot; runs
    outside the window are left out.
    """
    last_day = max(last_day, first_day)
    given = list(run_days)
    marks = [bool(flag) for flag in list(highlight)[: len(given)]]
    marks += [False] * (len(given) - len(marks))
    window = [(day, km, mark) for day, km, mark in
              zip(given, series.amounts(run_km, len(given)), marks, strict=True)
              if first_day <= day <= last_day]
    days = [day for day, _, _ in window]
    distances = [km for _, km, _ in window]
    flagged = [mark for _, _, mark in window]
    reference = series.amounts([reference_km], 1)[0]
    lines = [] if math.isnan(reference) else _reference_lines(reference, reference_label,
                                                              ratio_lines)

    fig = style.new_figure(*_SIZE_PX)
    top_px = style.draw_title(fig, title)
    entries = [("box", style.SKY, "run")]
    if any(flagged):
        entries.append(("box", style.VERMILLION, "flagged run"))
    top_px += style.legend_row(fig, entries, top=top_px) + 4
    ax = style.add_axes(fig, left=_LEFT_PX, top=top_px, bottom=_BOTTOM_PX,
                        right=max(style.label_width([text for _, text, _ in lines]), 14))
    slots = _day_slots(days, distances, flagged)
    scales.bars(ax, [x - width / 2 for x, width, _, _ in slots], [km for _, _, km, _ in slots],
               [width for _, width, _, _ in slots],
               [style.VERMILLION if mark else style.SKY for _, _, _, mark in slots])
    for x, _, km, is_flagged in slots:
        if is_flagged:
            style.put(ax, x, km, f"{series.fmt(km)} km", transform=scales.offset(ax, y=2),
                      ha="center", va="bottom", color=style.INK, fontsize=style.SMALL_PX,
                      fontweight="bold", zorder=5)
    scales.value_axis(ax, 0, series.top_of(distances + [km for km, _, _ in lines], floor=5),
                     label="km per run", numbers=bool(series.present(distances) or lines))
    scales.date_axis(ax, first_day, last_day)
    for index, (km, _, colour) in enumerate(lines):
        ax.axhline(km, color=colour, linewidth=1.3 if index else 1.1,
                   linestyle=_DASH if index else "solid", zorder=3)
    style.right_labels(ax, lines)
    if not series.present(distances):
        style.note(ax, "No runs in this period")
    alt = _runs_alt(title, days, distances, flagged, first_day, last_day, reference, lines)
    return to_png(fig, alt)


def _reference_lines(reference_km: float, reference_label: str,
                     ratio_lines: Sequence[tuple[str, float]]) -> list[tuple[float, str, str]]:
    """(km, label, colour): the reference, then each ratio; a high last ratio in vermillion."""
    factors = series.amounts([ratio for _, ratio in ratio_lines], len(ratio_lines))
    labelled = zip(factors, (str(label) for label, _ in ratio_lines), strict=True)
    ratios = sorted((ratio, label) for ratio, label in labelled if not math.isnan(ratio))
    lines = [(reference_km, series.km_label(reference_label, reference_km), style.INK)]
    for index, (ratio, label) in enumerate(ratios):
        colour = style.VERMILLION if index == len(ratios) - 1 and ratio > 1.5 else style.ORANGE
        lines.append((reference_km * ratio, series.km_label(label, reference_km * ratio), colour))
    return lines


def _day_slots(days: list[date], distances: list[float],
               flagged: list[bool]) -> list[tuple[float, float, float, bool]]:
    """(x, width, km, flagged) per run: runs sharing a day split that day's slot."""
    per_day: dict[date, int] = {}
    for day in days:
        per_day[day] = per_day.get(day, 0) + 1
    seen: dict[date, int] = {}
    slots = []
    for day, km, is_flagged in zip(days, distances, flagged, strict=True):
        share, index = per_day[day], seen.get(day, 0)
        seen[day] = index + 1
        width = _BAR_WIDTH / share
        x = day.toordinal() - _BAR_WIDTH / 2 + width * (index + 0.5)
        if not math.isnan(km):
            slots.append((x, width, km, is_flagged))
    return slots


def _runs_alt(title: str, days: list[date], distances: list[float], flagged: list[bool],
              first_day: date, last_day: date, reference: float,
              lines: list[tuple[float, str, str]]) -> str:
    period = f"{series.day_label(first_day)} to {series.day_label(last_day)}"
    runs = [(day, km, flag) for day, km, flag in zip(days, distances, flagged, strict=True)
            if not math.isnan(km)]
    if not runs:
        return f"{title}. Runs from {period}: none recorded."
    text = f"{title}. {series.count(len(runs), 'run')} from {period}"
    if not math.isnan(reference):
        text += f", against a longest run before of {series.fmt(reference)} km"
    spikes = [f"{series.fmt(km)} km on {series.day_label(day)}"
              + (f" ({km / reference:.1f}x)" if reference > 0 else "")
              for day, km, flag in runs if flag]
    if spikes:
        text += "; flagged: " + ", ".join(spikes)
    if len(lines) > 1:
        text += "; lines at " + ", ".join(label for _, label, _ in lines[1:])
    return text + "."
