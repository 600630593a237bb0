"""The one value every chart returns: PNG bytes with their display size and alt text."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Png:
    """A chart as a PNG drawn at twice its display size (crisp on high-density screens).

    `width_px` x `height_px` is the size to show it at, in CSS px (the `<img>` width/height);
    the PNG itself is `2 * width_px` x `2 * height_px` pixels. `alt` says what the chart shows,
    in words, with its key numbers, for readers who cannot see it.
    """

    data: bytes
    width_px: int
    height_px: int
    alt: str
