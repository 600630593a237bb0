"""Form and alert charts: the cadence trend with its interval, and any metric day by day."""

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
_DASH = (0, (5, 3))


def cadence_trend(run_days: Sequence[date], cadence_spm: Sequence[float], *,
                  fit_days: Sequence[date], fit_spm: Sequence[float],
                  low_spm: Sequence[float], high_spm: Sequence[float], title: str) -> Png:
    """Speed-adjusted cadence per run (points), its Theil–Sen trend and the 95 % band.

    The band is the interval of the trend (low_spm..high_spm at fit_days), not of the runs.
    """
    days = list(run_days)
    cadence = series.finite(cadence_spm, len(days))
    fits = list(fit_days)
    trend = series.finite(fit_spm, len(fits))
    low, high = series.finite(low_spm, len(fits)), series.finite(high_spm, len(fits))
    runs = [(day, spm) for day, spm in zip(days, cadence, strict=True) if not math.isnan(spm)]

    fig = style.new_figure(*_SIZE_PX)
    top_px = style.draw_title(fig, title)
    entries = [("dot", style.BLUE, "run")]
    if series.present(trend):
        entries += [("line", style.ORANGE, "trend (Theil–Sen)"),
                    ("band", style.ORANGE, "95 % interval of the trend")]
    top_px += style.legend_row(fig, entries, top=top_px) + 4
    end_label = f"{series.fmt(trend[-1])} spm" if trend and not math.isnan(trend[-1]) else ""
    ax = style.add_axes(fig, left=_LEFT_PX, top=top_px, bottom=_BOTTOM_PX,
                        right=max(style.label_width([end_label]), 14))
    fit_x = [day.toordinal() for day in fits]
    ax.fill_between(fit_x, low, high, color=style.ORANGE, alpha=0.25, linewidth=0, zorder=1)
    ax.plot(fit_x, trend, color=style.ORANGE, linewidth=2.2, zorder=3)
    ax.plot([day.toordinal() for day, _ in runs], [spm for _, spm in runs], linestyle="none",
            marker="o", markersize=5, color=style.BLUE, markeredgecolor="white",
            markeredgewidth=0.6, zorder=2)
    low_y, high_y = _padded([spm for _, spm in runs] + trend + low + high, zero_base=False)
    scales.value_axis(ax, low_y, high_y, label="steps/min at the same pace", numbers=bool(runs))
    calendar = [day for day, _ in runs] + fits
    if calendar:
        scales.date_axis(ax, min(calendar), max(calendar))
    if end_label:
        style.right_labels(ax, [(trend[-1], end_label, style.INK)])
    if not runs:
        style.note(ax, "No cadence recorded in this period")
    return to_png(fig, _cadence_alt(title, runs, fits, trend, low, high))


def metric_days(days: Sequence[date], values: Sequence[float | None], *, unit: str,
                thresholds: Sequence[tuple[str, float]], title: str,
                band: tuple[float, float] | None = None) -> Png:
    """A metric day by day (line with markers, a gap for None) against its threshold lines.

    Threshold lines are dashed, labelled at the right, and coloured by the severity word their
    label starts with ("critical", "warn", "info"); `band` shades the normal range.
    """
    day_list = list(days)
    daily = series.finite(values, len(day_list))
    levels = series.finite([at for _, at in thresholds], len(thresholds))
    lines = [(at, str(label)) for (label, _), at in zip(thresholds, levels, strict=True)
             if not math.isnan(at)]
    band_range = tuple(sorted(series.finite(list(band), 2))) if band is not None else None
    if band_range is not None and any(math.isnan(edge) for edge in band_range):
        band_range = None
    shown = series.present(daily)
    digits = _digits(shown + [at for at, _ in lines])

    fig = style.new_figure(*_SIZE_PX)
    top_px = style.draw_title(fig, title) + 6
    labels = [(at, label, _severity_colour(label)) for at, label in lines]
    if band_range is not None:
        labels.append((sum(band_range) / 2, "normal range", style.MUTED))
    ax = style.add_axes(fig, left=_LEFT_PX, top=top_px, bottom=_BOTTOM_PX,
                        right=max(style.label_width([text for _, text, _ in labels]), 14))
    if band_range is not None:
        ax.axhspan(*band_range, color=style.GREEN, alpha=0.13, linewidth=0, zorder=0.6)
    for at, label in lines:
        ax.axhline(at, color=_severity_colour(label), linewidth=1.3, linestyle=_DASH, zorder=2)
    x = [day.toordinal() for day in day_list]
    ax.plot(x, daily, color=style.BLUE, linewidth=1.8, marker="o", markersize=3.8,
            markeredgecolor="white", markeredgewidth=0.5, zorder=3)
    extent = shown + [at for at, _ in lines] + list(band_range or ())
    low_y, high_y = _padded(extent, zero_base=True)
    scales.value_axis(ax, low_y, high_y, label=unit or "value", nbins=6, numbers=bool(shown))
    if day_list:
        scales.date_axis(ax, min(day_list), max(day_list))
    style.right_labels(ax, labels)
    points = [(day, value) for day, value in zip(day_list, daily, strict=True)
              if not math.isnan(value)]
    if points:
        style.put(ax, points[-1][0].toordinal(), points[-1][1], series.fmt(points[-1][1], digits),
                  transform=scales.offset(ax, y=6), ha="center", va="bottom", color=style.INK,
                  fontsize=style.SMALL_PX, fontweight="bold", zorder=5)
    else:
        style.note(ax, "No values in this period")
    return to_png(fig, _metric_alt(title, unit, day_list, daily, lines, band_range, digits))


def _padded(values: Sequence[float], *, zero_base: bool) -> tuple[float, float]:
    """Y limits around `values` with headroom; from zero when zero is near enough to matter."""
    shown = series.present(values)
    if not shown:
        return 0.0, 1.0
    low, high = min(shown), max(shown)
    span = high - low or max(abs(high) * 0.1, 1.0)
    low_y, high_y = low - 0.1 * span, high + 0.15 * span
    if zero_base and 0 <= low <= 0.4 * high:
        low_y = 0.0
    return low_y, high_y


def _digits(values: Sequence[float]) -> int:
    """Decimals for a metric's labels: 2 under 10 (ratios), 1 under 100, else 0."""
    largest = max((abs(value) for value in values), default=0.0)
    return 2 if largest < 10 else 1 if largest < 100 else 0


def _severity_colour(label: str) -> str:
    """Vermillion for a "critical ..." line, orange for "warn ...", else grey (info, other)."""
    words = label.split()
    word = words[0].lower() if words else ""
    return {"critical": style.VERMILLION, "warn": style.ORANGE}.get(word, style.MUTED)


def _cadence_alt(title: str, runs: list[tuple[date, float]], fits: list[date],
                 trend: list[float], low: list[float], high: list[float]) -> str:
    if not runs:
        return f"{title}. Speed-adjusted cadence: no runs with cadence in this period."
    values = [spm for _, spm in runs]
    text = (f"{title}. Speed-adjusted cadence for {series.count(len(runs), 'run')} from "
            f"{series.day_label(runs[0][0])} to {series.day_label(runs[-1][0])}, between "
            f"{series.fmt(min(values))} and {series.fmt(max(values))} steps/min.")
    if len(trend) >= 2 and not math.isnan(trend[0]) and not math.isnan(trend[-1]):
        change = trend[-1] - trend[0]
        text += (f" Trend (Theil–Sen) from {series.fmt(trend[0])} to {series.fmt(trend[-1])} "
                 f"steps/min ({'+' if change >= 0 else ''}{series.fmt(change)})")
        if not math.isnan(low[-1]) and not math.isnan(high[-1]):
            text += f", 95 % interval at the end {series.fmt(low[-1])} to {series.fmt(high[-1])}"
        text += "."
    return text


def _metric_alt(title: str, unit: str, days: list[date], daily: list[float],
                lines: list[tuple[float, str]], band: tuple[float, ...] | None,
                digits: int) -> str:
    points = [(day, value) for day, value in zip(days, daily, strict=True)
              if not math.isnan(value)]
    unit_text = f" {unit}" if unit else ""
    if not points:
        text = f"{title}. No values in this period"
    else:
        last_day, last = points[-1]
        top_day, top = max(points, key=lambda point: point[1])
        text = (f"{title}. {series.count(len(points), 'daily value')} from "
                f"{series.day_label(days[0])} to "
                f"{series.day_label(days[-1])}: latest {series.fmt(last, digits)}{unit_text} on "
                f"{series.day_label(last_day)}, highest {series.fmt(top, digits)} on "
                f"{series.day_label(top_day)}, lowest "
                f"{series.fmt(min(value for _, value in points), digits)}")
    if lines:
        text += "; thresholds: " + ", ".join(label for _, label in lines)
    if band is not None:
        text += f"; normal range {series.fmt(band[0], digits)} to {series.fmt(band[1], digits)}"
    return text + "."
