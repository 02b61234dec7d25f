"""WCAG contrast and the nearest passing shade (app/colour.py), against known values."""

from __future__ import annotations

import pytest

from app import colour


@pytest.mark.parametrize("a, b, expected", [
    ("#000000", "#ffffff", 21.0),
    ("#ffffff", "#000000", 21.0),  # the order does not matter
    ("#777777", "#ffffff", 4.48),  # the classic "just fails AA" grey
    ("#767676", "#ffffff", 4.54),  # the lightest grey that passes on white
    ("#0000ff", "#ffffff", 8.59),
    ("#ff0000", "#ffffff", 4.00),
    ("#123456", "#123456", 1.0),
])
def test_contrast_ratios_match_known_values(a, b, expected):
    assert colour.contrast_ratio(a, b) == pytest.approx(expected, abs=0.005)


def test_relative_luminance_of_black_white_and_the_primaries():
    assert colour.relative_luminance("#000") == 0
    assert colour.relative_luminance("#fff") == pytest.approx(1)
    assert colour.relative_luminance("#ff0000") == pytest.approx(0.2126)
    assert colour.relative_luminance("#00ff00") == pytest.approx(0.7152)
    assert colour.relative_luminance("#0000ff") == pytest.approx(0.0722)


@pytest.mark.parametrize("given, expected", [("#ABC", "#aabbcc"), ("abc", "#aabbcc"), (" #0B5CAD ", "#0b5cad")])
def test_hex_colours_are_normalised(given, expected):
    assert colour.normalise_hex(given) == expected


@pytest.mark.parametrize("bad", ["", "blue", "#12345", "#ggg000", "#1234567", "rgb(0,0,0)", "#fff;}body{"])
def test_anything_but_a_hex_colour_is_refused(bad):
    with pytest.raises(ValueError):
        colour.normalise_hex(bad)


def test_a_colour_that_passes_is_its_own_suggestion():
    assert colour.nearest_passing_shade("#0b5cad", ["#ffffff"]) == "#0b5cad"


def test_the_suggested_shade_is_the_nearest_that_passes():
    assert colour.nearest_passing_shade("#777777", ["#ffffff"]) == "#767676"
    orange = colour.nearest_passing_shade("#ff9900", ["#ffffff"])
    assert colour.contrast_ratio(orange, "#ffffff") >= 4.5
    # One step lighter would fail: it is the nearest, not just any darker shade.
    assert colour.contrast_ratio(colour.shade(orange, 0.002), "#ffffff") < 4.5
    # It keeps the hue: still an orange (red above green above blue).
    r, g, b = colour.to_rgb(orange)
    assert r > g > b


def test_against_a_dark_background_the_suggestion_is_lighter():
    suggestion = colour.nearest_passing_shade("#333366", ["#1b1f24"])
    assert colour.relative_luminance(suggestion) > colour.relative_luminance("#333366")
    assert colour.contrast_ratio(suggestion, "#1b1f24") >= 4.5


def test_the_suggestion_passes_against_every_background_given():
    backgrounds = ["#ffffff", "#f6f7f9", "#eaf2fb"]
    suggestion = colour.nearest_passing_shade("#3399ff", backgrounds)
    assert colour.worst_contrast(suggestion, backgrounds)[0] >= 4.5
    assert colour.worst_contrast("#3399ff", backgrounds)[1] == "#eaf2fb"  # the darkest is the worst


def test_no_suggestion_when_no_shade_can_pass():
    assert colour.nearest_passing_shade("#777777", ["#000000", "#ffffff"], minimum=7) is None


def test_shades_move_lightness_only():
    assert colour.shade("#808080", -0.5) == "#000000"
    assert colour.shade("#808080", +0.5) == "#ffffff"
    assert colour.relative_luminance(colour.shade("#0b5cad", -0.08)) < colour.relative_luminance("#0b5cad")
