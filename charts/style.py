"""One look for every chart: Okabe–Ito colours, fixed-margin figures, titles, legends, labels.

Sizes are in CSS px: a figure is `width_px / 72` inches drawn at 144 dpi, so one point of font
size is one CSS px on screen and the PNG has twice the display size in pixels. Styles go to the
artist that needs them (never matplotlib's global settings or figure manager): each chart owns
its Figure, so charts can be drawn in threads and in worker processes. The legend is drawn as plain
texts and keys (matplotlib's Legend costs a few ms a chart); the axes scales are in scales.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from matplotlib.transforms import Affine2D, Transform, offset_copy

from charts.text import clean, text_width_px, wrap

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision
# deficiency; the warning hues (orange, vermillion) never carry meaning on their own.
ORANGE = "#E69F00"
SKY = "#56B4E9"
GREEN = "#009E73"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
PURPLE = "#CC79A7"
INK = "#222222"
MUTED = "#5A5A5A"
LIGHT = "#9A9A9A"
GRID = "#E4E4E4"
SEVERITY_COLOUR = {"critical": VERMILLION, "warn": ORANGE, "info": BLUE}
# Text in a line's colour: the light hues darkened to a contrast of at least 4.5:1 on white
_TEXT_SHADE = {ORANGE: "#8C5F00", VERMILLION: "#A94A00", GREEN: "#00735A", SKY: BLUE,
               PURPLE: "#9E4F80"}

TITLE_PX = 13.0
TEXT_PX = 10.5
SMALL_PX = 9.5
LEGEND_PX = 20.0  # height of the legend row under the title
_DPI = 144  # 2 device px per CSS px at 72 pt per inch


def new_figure(width_px: int, height_px: int) -> Figure:
    """A white figure of the display size, with its own Agg canvas (no global state)."""
    fig = Figure(figsize=(width_px / 72, height_px / 72), dpi=_DPI, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def size_px(fig: Figure) -> tuple[float, float]:
    return fig.get_figwidth() * 72, fig.get_figheight() * 72


def css_px(fig: Figure) -> Transform:
    """Figure coordinates in CSS px from the bottom-left corner."""
    return Affine2D().scale(1 / 72) + fig.dpi_scale_trans


def add_axes(fig: Figure, *, left: float, top: float, right: float, bottom: float) -> Axes:
    """Bare axes placed by fixed margins in CSS px (faster and steadier than tight_layout)."""
    width_px, height_px = size_px(fig)
    box = (left / width_px, bottom / height_px, max(width_px - left - right, 1.0) / width_px,
           max(height_px - top - bottom, 1.0) / height_px)
    ax = fig.add_axes(box)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_color(LIGHT)
    ax.spines["bottom"].set_linewidth(0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def draw_title(fig: Figure, title: str) -> float:
    """The finding as a left-aligned bold title, wrapped; returns the height it takes in px."""
    if not title.strip():
        return 8.0
    width_px, height_px = size_px(fig)
    lines = wrap(title, width_px - 30, TITLE_PX, bold=True, max_lines=3)
    put(fig, 12, height_px - 9, "\n".join(lines), transform=css_px(fig), ha="left", va="top",
        fontsize=TITLE_PX, fontweight="bold", color=INK, linespacing=1.25)
    return 9 + len(lines) * TITLE_PX * 1.25 + 6


def legend_row(fig: Figure, entries: Sequence[tuple[str, str, str]], *, top: float) -> float:
    """Legend keys (kind, colour, label) in one row under the title; returns the height used.

    Kinds: "box" (bars), "line", "dash", "diamond", "dot" (points), "band" (shaded range).
    """
    if not entries:
        return 0.0
    place = css_px(fig)
    y = size_px(fig)[1] - top - LEGEND_PX / 2
    x = 12.0
    for kind, colour, label in entries:
        if kind in ("box", "band"):
            fig.add_artist(Rectangle((x, y - 5), 16, 10, transform=place, facecolor=colour,
                                     alpha=0.3 if kind == "band" else 1.0, linewidth=0))
        elif kind in ("line", "dash"):
            fig.add_artist(Line2D([x, x + 18], [y, y], transform=place, color=colour,
                                  linewidth=2, linestyle=(0, (3, 2)) if kind == "dash" else "-"))
        else:
            fig.add_artist(Line2D([x + 8], [y], transform=place, color=colour, linestyle="none",
                                  marker="D" if kind == "diamond" else "o", markersize=5.5,
                                  markeredgecolor="white", markeredgewidth=0.8))
        put(fig, x + 23, y, label, transform=place, ha="left", va="center_baseline",
            fontsize=TEXT_PX, color=INK)
        x += 23 + text_width_px(label, TEXT_PX) + 16
    return LEGEND_PX


def label_width(texts: Sequence[str]) -> float:
    """Room in px for the longest of `texts` as direct labels in the right margin."""
    return max((text_width_px(text, SMALL_PX) + 16 for text in texts), default=0.0)


def right_labels(ax: Axes, labels: Sequence[tuple[float, str, str]]) -> None:
    """Direct labels (y in data units, text, colour) just right of the axes, pushed apart.

    Labels closer than one line are spread upwards, then the stack is shifted down again if it
    would leave the axes, so neighbouring lines (1.0x and 1.1x) stay readable.
    """
    y_low, y_high = ax.get_ylim()
    height_px = ax.get_position().height * size_px(ax.figure)[1]
    if not labels or y_high <= y_low or height_px <= 0:
        return
    gap = SMALL_PX * 1.25 / height_px  # one line, as a fraction of the axes height
    placed = sorted(((y - y_low) / (y_high - y_low), text, colour) for y, text, colour in labels)
    fractions = [min(max(fraction, 0.0), 1.0) for fraction, _, _ in placed]
    for index in range(1, len(fractions)):
        fractions[index] = max(fractions[index], fractions[index - 1] + gap)
    overflow = fractions[-1] - 1.0 - gap / 2
    if overflow > 0:
        fractions = [fraction - overflow for fraction in fractions]
    beside = offset_copy(ax.transAxes, fig=ax.figure, x=5, units="points")
    for fraction, (_, text, colour) in zip(fractions, placed, strict=True):
        put(ax, 1, fraction, text, transform=beside, ha="left", va="center", fontsize=SMALL_PX,
            color=_TEXT_SHADE.get(colour, colour), clip_on=False)


def put(target: Axes | Figure, x: float, y: float, text: str, **props: Any) -> Text:
    """`target.text` for any string: control characters dropped, `$` never starts mathtext."""
    return target.text(x, y, clean(text), parse_math=False, **props)


def note(ax: Axes, text: str) -> None:
    """A quiet sentence in the middle of the axes, for "no data" and the like."""
    put(ax, 0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=TEXT_PX + 1,
        color=MUTED)
