"""The dashboard's small pure pieces: percentiles, months, axis steps, chart geometry, CSV cells."""

from __future__ import annotations

from datetime import datetime

import pytest

from app.dashboard.charts import HBar, axis_ticks, columns, hbars, line_chart, nice_ceiling
from app.dashboard.exports import _cell
from app.queries.dashboard import last_months, month_label, percentile


@pytest.mark.parametrize("values, q, expected", [
    ([], 0.5, None),
    ([7], 0.5, 7),
    ([7], 0.9, 7),
    ([1, 2, 3, 4], 0.5, 2.5),
    ([4, 1, 3, 2], 0.5, 2.5),  # order does not matter
    ([2, 4, 5, 10, 10], 0.9, 10),
    ([2, 5], 0.9, 4.7),  # PostgreSQL's percentile_cont: 2 + 0.9 * (5 - 2)
    ([50, 55], 0.5, 52.5),
    ([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 0.9, 90),
])
def test_percentile_interpolates_like_percentile_cont(values, q, expected):
    result = percentile(values, q)
    assert result == pytest.approx(expected) if expected is not None else result is None


def test_last_months_runs_across_the_new_year():
    months = last_months(datetime(2026, 2, 10))
    assert months[0] == "2025-03" and months[-3:] == ["2025-12", "2026-01", "2026-02"] and len(months) == 12
    assert month_label("2026-01") == "Jan 2026"


@pytest.mark.parametrize("value, expected", [(0, 1), (0.4, 0.5), (1, 1), (3, 5), (37, 50), (50, 50), (51, 100),
                                             (120, 200), (999, 1000)])
def test_nice_ceiling(value, expected):
    assert nice_ceiling(value) == pytest.approx(expected)


@pytest.mark.parametrize("peak, ticks", [(50, [0, 10, 20, 30, 40, 50]), (20, [0, 5, 10, 15, 20]),
                                         (100, [0, 20, 40, 60, 80, 100]), (200, [0, 50, 100, 150, 200])])
def test_axis_ticks_are_round(peak, ticks):
    assert axis_ticks(peak) == pytest.approx(ticks)


def test_horizontal_bars_scale_to_the_largest_and_mark_attention_with_a_hatch():
    chart = hbars("c", "T", "D", [HBar("Alice", [(2, True), (2, False)], "4 open, 2 overdue"),
                                  HBar("Bruno", [(0, True), (1, False)], "1 open")])
    alice_overdue, alice_rest, bruno = chart.rects
    assert alice_overdue.hatch and not alice_rest.hatch and not bruno.hatch
    assert alice_overdue.w == pytest.approx(alice_rest.w) == pytest.approx(2 * bruno.w)
    assert alice_rest.x == pytest.approx(alice_overdue.x + alice_overdue.w)
    assert [t.text for t in chart.texts] == ["Alice", "4 open, 2 overdue", "Bruno", "1 open"]


def test_narrow_bars_put_the_label_above_the_bar():
    chart = hbars("c", "T", "D", [HBar("A long label that needs its own line", [(1, False)], "1")], narrow=True)
    label, note = chart.texts
    assert label.x == 0 and label.y < chart.rects[0].y
    assert chart.width == 340


def test_columns_write_each_number_on_its_column():
    chart = columns("c", "T", "D", [("Never", 6, False), ("3 or more", 1, True)])
    assert [t.text for t in chart.texts if t.cls == "value"] == ["6", "1"]
    assert chart.rects[1].hatch


def test_line_chart_breaks_where_a_month_has_no_data_and_labels_the_latest_values():
    chart = line_chart("c", "T", "D", ["Jan 2026", "Feb 2026", "Mar 2026", "Apr 2026"],
                       [("median", [4, None, 3, 2]), ("p90", [8, None, 6, 5])])
    assert [len(p.points) for p in chart.polylines] == [2, 2]  # Mar-Apr only: Jan stands alone
    assert len(chart.markers) == 2 + 6  # the legend's two, then one per value
    values = [t.text for t in chart.texts if t.cls == "value"]
    assert values == ["median: 2 days", "90%: 5 days"]


def test_line_chart_without_data_says_so():
    chart = line_chart("c", "T", "D", ["Jan 2026"], [("median", [None]), ("p90", [None])])
    assert any(t.text == "No data in the last 12 months." for t in chart.texts)


@pytest.mark.parametrize("value, expected", [("=1+1", "'=1+1"), ("+x", "'+x"), ("-3", "'-3"), ("@SUM(A1)", "'@SUM(A1)"),
                                             ("Refunds", "Refunds"), (-3, -3), (None, "")])
def test_csv_cells_that_a_spreadsheet_would_run_are_quoted(value, expected):
    assert _cell(value) == expected
