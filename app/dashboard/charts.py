"""Charts drawn on the server: a Figure's numbers become SVG shapes.

The functions here only do geometry and return plain shapes (rectangles, text, lines,
markers); ``templates/dashboard/_chart.html`` writes them out as inline SVG. No script
and no style attribute is needed (the CSP forbids both): shapes carry a CSS class from
careloop.css, and "needs attention" is shown by a hatch pattern and a word as well as a
colour, so the charts read without colour too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .queries import Figure, _days_text

WIDTH = 560  # the desktop drawing, shown at 1:1 in a dashboard card
NARROW = 340  # the phone drawing: labels above the bars, fewer month names


@dataclass
class Rect:
    x: float
    y: float
    w: float
    h: float
    cls: str = "bar"
    hatch: bool = False  # filled with the chart's hatch pattern: "needs attention"


@dataclass
class Text:
    x: float
    y: float
    text: str
    anchor: str = "start"
    cls: str = ""


@dataclass
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    cls: str = "grid"


@dataclass
class Polyline:
    points: list[tuple[float, float]]
    cls: str = "series"

    @property
    def svg_points(self) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in self.points)


@dataclass
class Marker:
    x: float
    y: float
    shape: str = "circle"  # or "square"
    cls: str = "marker"


@dataclass
class Chart:
    id: str
    title: str
    desc: str
    height: float
    width: float = WIDTH
    rects: list[Rect] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    polylines: list[Polyline] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)


def _short(label: str, width: float) -> str:
    """A label cut to fit ``width`` units (about 6.8 per character at 13 px)."""
    limit = max(int(width / 6.8), 4)
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5, 10, 20, 50 … that is at least ``value`` (1 for nothing)."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def axis_ticks(peak: float) -> list[float]:
    """Gridline values from 0 to ``peak`` (a nice_ceiling) in round steps."""
    lead = int(f"{peak:e}"[0])
    parts = 5 if lead in (1, 5) else 4
    return [peak * i / parts for i in range(parts + 1)]


def _legend(chart: Chart, items: list[tuple[str, str]], y: float = 14) -> None:
    """A row of swatches with words at the top: (kind, label); kind is bar, hatch, median, p90."""
    x = 0.0
    for kind, label in items:
        if kind in ("bar", "hatch"):
            chart.rects.append(Rect(x, y - 10, 14, 12, "swatch bar-alert" if kind == "hatch" else "swatch bar", hatch=kind == "hatch"))
        else:
            chart.lines.append(Line(x, y - 4, x + 22, y - 4, f"series series-{kind}"))
            chart.markers.append(Marker(x + 11, y - 4, "circle" if kind == "median" else "square", f"marker marker-{kind}"))
            x += 8
        chart.texts.append(Text(x + 20, y, label))
        x += 20 + len(label) * 7.2 + 18


@dataclass
class HBar:
    label: str
    segments: list[tuple[float, bool]]  # (value, needs attention)
    note: str  # the number(s) written after the bar


def hbars(id: str, title: str, desc: str, items: list[HBar], legend: list[tuple[str, str]] | None = None,
          label_width: float = 175, note_width: float = 130, narrow: bool = False) -> Chart:
    """Horizontal bars, one row per item, with the figure written at the end of each.
    Narrow: each label sits on its own line above its bar."""
    width = NARROW if narrow else WIDTH
    top = 26 if legend else 4
    if narrow:
        label_width, row, bar_h, bar_top = 0, 46, 18, 20
    else:
        row, bar_h, bar_top = 30, 20, 0
    chart = Chart(id, title, desc, height=top + max(len(items), 1) * row + 4, width=width)
    if legend:
        _legend(chart, legend)
    scale_max = max((sum(v for v, _ in item.segments) for item in items), default=0) or 1
    span = width - label_width - note_width
    for i, item in enumerate(items):
        y = top + i * row
        if narrow:
            chart.texts.append(Text(0, y + 14, _short(item.label, width)))
        else:
            chart.texts.append(Text(label_width - 8, y + bar_h - 5, _short(item.label, label_width - 8), "end"))
        x = label_width
        for value, alert in item.segments:
            if value <= 0:
                continue
            w = max(span * value / scale_max, 2)
            chart.rects.append(Rect(x, y + bar_top, w, bar_h, "bar-alert" if alert else "bar", hatch=alert))
            x += w
        chart.texts.append(Text(x + 6, y + bar_top + bar_h - 5, item.note, cls="value"))
    if not items:
        chart.texts.append(Text(width / 2, top + 18, "Nothing to show yet.", "middle", "empty-note"))
    return chart


def columns(id: str, title: str, desc: str, items: list[tuple[str, float, bool]], sublabels: list[str] | None = None,
            legend: list[tuple[str, str]] | None = None, height: float = 200, narrow: bool = False) -> Chart:
    """Vertical columns with the number on top of each and the label underneath."""
    width = NARROW if narrow else WIDTH
    top = 30 if legend else 12
    bottom = 40 if sublabels else 24
    chart = Chart(id, title, desc, height=height + top + bottom, width=width)
    if legend:
        _legend(chart, legend)
    peak = max((v for _, v, _ in items), default=0) or 1
    slot = width / max(len(items), 1)
    bar_w = min(slot * 0.62, 90)
    base = top + height
    chart.lines.append(Line(0, base, width, base, "axis"))
    for i, (label, value, alert) in enumerate(items):
        cx = slot * i + slot / 2
        h = (height - 22) * value / peak
        if value > 0:
            chart.rects.append(Rect(cx - bar_w / 2, base - h, bar_w, h, "bar-alert" if alert else "bar", hatch=alert))
        chart.texts.append(Text(cx, base - h - 6, f"{value:,}", "middle", "value"))
        chart.texts.append(Text(cx, base + 17, _short(label, slot + 6) if narrow else label, "middle",
                                "sublabel" if narrow else ""))
        if sublabels and sublabels[i]:
            chart.texts.append(Text(cx, base + 33, sublabels[i], "middle", "sublabel"))
    return chart


def line_chart(id: str, title: str, desc: str, months: list[str], series: list[tuple[str, list[float | None]]],
               height: float = 170, narrow: bool = False) -> Chart:
    """Lines over months (median solid with circles, 90th percentile dashed with squares),
    each labelled with its latest value at its end."""
    width = NARROW if narrow else WIDTH
    top, left, right, bottom = 30, 40, 112, 40
    chart = Chart(id, title, desc, height=top + height + bottom, width=width)
    _legend(chart, [("median", "Median"), ("p90", "90th percentile")])
    values = [v for _, vs in series for v in vs if v is not None]
    peak = nice_ceiling(max(values, default=0))
    plot_w = width - left - right
    step = plot_w / max(len(months) - 1, 1)
    base = top + height

    def y_of(v: float) -> float:
        return base - height * v / peak

    for i, v in enumerate(axis_ticks(peak)):
        y = y_of(v)
        chart.lines.append(Line(left, y, left + plot_w, y, "axis" if i == 0 else "grid"))
        chart.texts.append(Text(left - 6, y + 4, f"{v:g}", "end", "sublabel"))
    every = 3 if narrow else 1
    for i, month in enumerate(months):
        name, _, year = month.partition(" ")
        x = left + step * i
        if (len(months) - 1 - i) % every == 0:
            chart.texts.append(Text(x, base + 16, name, "middle", "sublabel"))
            if i < every or name in ("Jan", "Feb", "Mar")[:every]:
                chart.texts.append(Text(x, base + 31, year, "middle", "sublabel"))
    if not values:
        chart.texts.append(Text(left + plot_w / 2, top + height / 2, "No data in the last 12 months.", "middle", "empty-note"))
        return chart
    ends = []
    for kind, vs in series:
        segment: list[tuple[float, float]] = []
        last = None
        for i, v in enumerate(vs):
            if v is None:
                if len(segment) > 1:
                    chart.polylines.append(Polyline(segment, f"series series-{kind}"))
                segment = []
                continue
            point = (left + step * i, y_of(v))
            segment.append(point)
            chart.markers.append(Marker(*point, "circle" if kind == "median" else "square", f"marker marker-{kind}"))
            last = (point, v)
        if len(segment) > 1:
            chart.polylines.append(Polyline(segment, f"series series-{kind}"))
        if last is not None:
            ends.append((kind, last))
    # Each line's latest value is written at its end; the 90th percentile's above the median's.
    if len(ends) == 2 and abs(ends[0][1][0][1] - ends[1][1][0][1]) < 16:
        (_, ((x1, y1), v1)), (_, ((x2, y2), v2)) = ends
        mid = (y1 + y2) / 2
        chart.texts.append(Text(max(x1, x2) + 10, mid - 4, f"90%: {_days_text(v2)}", cls="value"))
        chart.texts.append(Text(max(x1, x2) + 10, mid + 12, f"median: {_days_text(v1)}", cls="value"))
    else:
        for kind, ((x, y), v) in ends:
            prefix = "90%" if kind == "p90" else "median"
            chart.texts.append(Text(x + 10, y + 4, f"{prefix}: {_days_text(v)}", cls="value"))
    return chart


# --- one chart per figure -------------------------------------------------------------------


def owners_chart(f: Figure, narrow: bool = False, limit: int = 12) -> Chart:
    rows = [r for r in f.rows if r[1]][:limit] or f.rows[:limit]
    items = [HBar(name, [(overdue, True), (rest, False)],
                  f"{open_} open" + (f", {overdue} overdue" if overdue else ""))
             for name, open_, overdue, rest in rows]
    more = len([r for r in f.rows if r[1]]) - len(items)
    desc = f.takeaway + (f" The {more} other owners are in the table." if more > 0 else "")
    return hbars("chart-owners", f.title, desc, items, legend=[("hatch", "Overdue"), ("bar", "Not overdue")],
                 narrow=narrow)


def waiting_chart(f: Figure, narrow: bool = False) -> Chart:
    alert_from = f.extra["alert_from"]
    items = [HBar(label, [(n, i >= alert_from)], f"{n}") for i, (label, n) in enumerate(f.rows)]
    return hbars("chart-waiting", f.title, f.takeaway, items,
                 legend=[("bar", "Waiting"), ("hatch", "Waiting over a month")], label_width=130, narrow=narrow)


def time_charts(f: Figure, narrow: bool = False) -> list[Chart]:
    months = f.extra["months"]
    charts = []
    for label, kind in (("To an owner", "owner"), ("To a change", "change")):
        rows = [r for r in f.rows if r[0] == label]
        count, median, p90 = f.extra["overall"][kind]
        desc = (f"{label}, by month: median and 90th percentile in days. Over 12 months, median "
                f"{_days_text(median)}, 90th percentile {_days_text(p90)}, from {count} problems.")
        charts.append(line_chart(f"chart-time-{kind}", f"{label}: days from first report", desc, months,
                                 [("median", [r[3] for r in rows]), ("p90", [r[4] for r in rows])], narrow=narrow))
    return charts


def people_chart(f: Figure, narrow: bool = False) -> Chart:
    alert = set(f.extra["alert_keys"])
    items = [HBar(label, [(n, i in alert)], f"{n:,}") for i, (label, n) in enumerate(f.rows)]
    return hbars("chart-people", f.title, f.takeaway, items, label_width=200, note_width=80, narrow=narrow)


def handoffs_chart(f: Figure, narrow: bool = False) -> Chart:
    alert_from = f.extra["alert_from"]
    items = [(label, n, i >= alert_from) for i, (label, n) in enumerate(f.rows)]
    if narrow:
        items[-1] = ("3 or more", *items[-1][1:])
    subs = ["" if i < alert_from else "stands out" for i in range(len(items))]
    return columns("chart-handoffs", f.title, f.takeaway, items, sublabels=subs,
                   legend=[("bar", "Problems"), ("hatch", "Passed along more than twice")], height=170,
                   narrow=narrow)


def changes_chart(f: Figure, narrow: bool = False) -> Chart:
    items, subs = [], []
    for i, (label, n) in enumerate(f.rows):
        name, _, year = label.partition(" ")
        items.append((name[0] if narrow else name, n, False))
        subs.append(year[-2:] if narrow and (i == 0 or name == "Jan") else year if i == 0 or name == "Jan" else "")
    return columns("chart-changes", f.title, f.takeaway, items, sublabels=subs, height=170, narrow=narrow)


def channels_chart(f: Figure, narrow: bool = False) -> Chart:
    total = f.extra["total"] or 1
    items = [HBar(label, [(n, False)], f"{n:,} ({round(100 * n / total)}%)") for label, n in f.rows]
    return hbars("chart-channels", f.title, f.takeaway, items, label_width=150, note_width=120, narrow=narrow)


CHARTS = {
    "owners": owners_chart,
    "waiting-for-owner": waiting_chart,
    "time-to-owner-and-change": time_charts,
    "people-waiting": people_chart,
    "handoffs": handoffs_chart,
    "changes-per-month": changes_chart,
    "channels": channels_chart,
}


@dataclass
class ChartPair:
    """A chart drawn twice: for a wide screen, and narrower for a phone (the page shows one)."""

    wide: Chart
    narrow: Chart


def charts_for(f: Figure) -> list[ChartPair]:
    wide, narrow = CHARTS[f.key](f), CHARTS[f.key](f, narrow=True)
    if not isinstance(wide, list):
        wide, narrow = [wide], [narrow]
    for chart in narrow:
        chart.id += "-narrow"
    return [ChartPair(w, n) for w, n in zip(wide, narrow)]
