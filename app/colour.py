"""Colour maths for the organisation's look: WCAG 2.x contrast and the nearest passing shade.

Pure functions on ``#rrggbb`` strings, no Flask. Relative luminance and contrast ratio
follow WCAG 2.2 (https://www.w3.org/TR/WCAG22/#dfn-relative-luminance); shades are
found by moving the colour's HSL lightness, keeping its hue and saturation.
"""

from __future__ import annotations

import colorsys
import re

AA_NORMAL_TEXT = 4.5  # WCAG 2.x level AA for normal-size text

_HEX = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


def normalise_hex(value: str) -> str:
    """``"#ABC"``, ``"abc"`` or ``"#aabbcc"`` as ``"#aabbcc"``; ValueError for anything else."""
    match = _HEX.match((value or "").strip())
    if not match:
        raise ValueError(f"not a hex colour: {value!r}")
    digits = match.group(1).lower()
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return "#" + digits


def to_rgb(colour: str) -> tuple[int, int, int]:
    digits = normalise_hex(colour)[1:]
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def to_hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{max(0, min(255, round(c))):02x}" for c in rgb)


def _linear(channel: int) -> float:
    c = channel / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(colour: str) -> float:
    r, g, b = to_rgb(colour)
    return 0.2126 * _linear(r) + 0.7152 * _linear(g) + 0.0722 * _linear(b)


def contrast_ratio(a: str, b: str) -> float:
    """WCAG contrast ratio of two colours, from 1 (same) to 21 (black on white)."""
    la, lb = relative_luminance(a), relative_luminance(b)
    lighter, darker = max(la, lb), min(la, lb)
    return (lighter + 0.05) / (darker + 0.05)


def worst_contrast(colour: str, others: list[str] | tuple[str, ...]) -> tuple[float, str]:
    """The lowest ratio of ``colour`` against any of ``others``, and which one it was."""
    return min((contrast_ratio(colour, other), other) for other in others)


def passes(colour: str, others, minimum: float = AA_NORMAL_TEXT) -> bool:
    return worst_contrast(colour, others)[0] >= minimum


def _hls(colour: str) -> tuple[float, float, float]:
    r, g, b = to_rgb(colour)
    return colorsys.rgb_to_hls(r / 255, g / 255, b / 255)


def with_lightness(colour: str, lightness: float) -> str:
    h, _, s = _hls(colour)
    r, g, b = colorsys.hls_to_rgb(h, max(0.0, min(1.0, lightness)), s)
    return to_hex((r * 255, g * 255, b * 255))


def shade(colour: str, delta: float) -> str:
    """The colour made lighter (``delta`` > 0) or darker (< 0) by ``delta`` of HSL lightness."""
    return with_lightness(colour, _hls(colour)[1] + delta)


def nearest_passing_shade(colour: str, others, minimum: float = AA_NORMAL_TEXT, step: float = 0.001) -> str | None:
    """The shade of ``colour`` closest in HSL lightness (darker or lighter) whose contrast
    with every one of ``others`` is at least ``minimum``; the colour itself when it already
    passes, None when no lightness passes (for example against both black and white)."""
    colour = normalise_hex(colour)
    if passes(colour, others, minimum):
        return colour
    lightness = _hls(colour)[1]
    steps = int(1 / step) + 1
    for i in range(1, steps + 1):
        candidates = []
        for target in (lightness - i * step, lightness + i * step):
            if 0.0 <= target <= 1.0:
                candidates.append(with_lightness(colour, target))
        # Of the two at the same distance, the one nearer the original colour wins.
        for candidate in sorted(candidates, key=lambda c: abs(relative_luminance(c) - relative_luminance(colour))):
            if passes(candidate, others, minimum):
                return candidate
        if lightness - i * step < 0 and lightness + i * step > 1:
            break
    return None
