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

from flask_babel import gettext as _

from app.queries.dashboard import Figure, _days_text, month_label
from app.templating import format_number

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


def _label_every(labels: list[str], space: float) -> int:
    """Label every n-th slot so the longest label fits (month names are longer in some
    languages: "Sep" but "سبتمبر")."""
    longest = max((len(label) for label in labels), default=0) * 8.5  # generous: Arabic letters are wide
    return max(math.ceil(longest / space), 1) if space > 0 else 1


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
        chart.texts.append(Text(width / 2, top + 18, _("Nothing to show yet."), "middle", "empty-note"))
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
        chart.texts.append(Text(cx, base - h - 6, format_number(value), "middle", "value"))
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
    _legend(chart, [("median", _("Median")), ("p90", _("90th percentile"))])
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
    every = max(3 if narrow else 1, _label_every([m.rpartition(" ")[0] for m in months], step))
    year_shown = None
    for i, month in enumerate(months):
        name, _sep, year = month.rpartition(" ")  # "Mar 2026", "März 2026", "مارس 2026"
        x = left + step * i
        if (len(months) - 1 - i) % every == 0:
            chart.texts.append(Text(x, base + 16, name, "middle", "sublabel"))
            if year != year_shown:  # the first month shown, and the first shown of each new year
                chart.texts.append(Text(x, base + 31, year, "middle", "sublabel"))
                year_shown = year
    if not values:
        chart.texts.append(Text(left + plot_w / 2, top + height / 2, _("No data in the last 12 months."), "middle", "empty-note"))
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
        (_k1, ((x1, y1), v1)), (_k2, ((x2, y2), v2)) = ends
        mid = (y1 + y2) / 2
        chart.texts.append(Text(max(x1, x2) + 10, mid - 4, _end_label("p90", v2), cls="value"))
        chart.texts.append(Text(max(x1, x2) + 10, mid + 12, _end_label("median", v1), cls="value"))
    else:
        for kind, ((x, y), v) in ends:
            chart.texts.append(Text(x + 10, y + 4, _end_label(kind, v), cls="value"))
    return chart


def _end_label(kind: str, days: float) -> str:
    """The latest value written at a line's end: "median: 3 days", "90%: 8 days"."""
    if kind == "p90":
        return _("90%%: %(days)s", days=_days_text(days))
    return _("median: %(days)s", days=_days_text(days))


# --- one chart per figure -------------------------------------------------------------------


def owners_chart(f: Figure, narrow: bool = False, limit: int = 12) -> Chart:
    rows = [r for r in f.rows if r[1]][:limit] or f.rows[:limit]
    items = [HBar(name, [(overdue, True), (rest, False)],
                  _("%(open)d open, %(overdue)d overdue", open=open_, overdue=overdue) if overdue
                  else _("%(open)d open", open=open_))
             for name, open_, overdue, rest in rows]
    more = len([r for r in f.rows if r[1]]) - len(items)
    desc = f.takeaway + (" " + _("The %(num)d other owners are in the table.", num=more) if more > 0 else "")
    return hbars("chart-owners", f.title, desc, items, legend=[("hatch", _("Overdue")), ("bar", _("Not overdue"))],
                 narrow=narrow)


def waiting_chart(f: Figure, narrow: bool = False) -> Chart:
    alert_from = f.extra["alert_from"]
    items = [HBar(label, [(n, i >= alert_from)], f"{n}") for i, (label, n) in enumerate(f.rows)]
    return hbars("chart-waiting", f.title, f.takeaway, items,
                 legend=[("bar", _("Waiting")), ("hatch", _("Waiting over a month"))], label_width=130, narrow=narrow)


def time_charts(f: Figure, narrow: bool = False) -> list[Chart]:
    months = f.extra["months"]
    charts = []
    for kind in ("owner", "change"):
        label = f.extra["labels"][kind]
        rows = [r for r, measure in zip(f.rows, f.extra["measures"]) if measure == kind]
        count, median, p90 = f.extra["overall"][kind]
        desc = _("%(measure)s, by month: median and 90th percentile in days. Over 12 months, median "
                 "%(median)s, 90th percentile %(p90)s, from %(count)d problems.",
                 measure=label, median=_days_text(median), p90=_days_text(p90), count=count)
        charts.append(line_chart(f"chart-time-{kind}", _("%(measure)s: days from first report", measure=label), desc, months,
                                 [("median", [r[3] for r in rows]), ("p90", [r[4] for r in rows])], narrow=narrow))
    return charts


def people_chart(f: Figure, narrow: bool = False) -> Chart:
    alert = set(f.extra["alert_keys"])
    items = [HBar(label, [(n, i in alert)], format_number(n)) for i, (label, n) in enumerate(f.rows)]
    return hbars("chart-people", f.title, f.takeaway, items, label_width=200, note_width=80, narrow=narrow)


def handoffs_chart(f: Figure, narrow: bool = False) -> Chart:
    alert_from = f.extra["alert_from"]
    items = [(label, n, i >= alert_from) for i, (label, n) in enumerate(f.rows)]
    if narrow:
        items[-1] = (_("3 or more"), *items[-1][1:])
    subs = ["" if i < alert_from else _("stands out") for i in range(len(items))]
    return columns("chart-handoffs", f.title, f.takeaway, items, sublabels=subs,
                   legend=[("bar", _("Problems")), ("hatch", _("Passed along more than twice"))], height=170,
                   narrow=narrow)


def changes_chart(f: Figure, narrow: bool = False) -> Chart:
    items, subs = [], []
    keys = f.extra.get("months") or [None] * len(f.rows)  # 'YYYY-MM' of each row
    year_shown = None
    names = [label.rpartition(" ")[0] for label, _n in f.rows]
    every = 1 if narrow else _label_every(names, WIDTH / max(len(f.rows), 1))
    for i, ((label, n), key) in enumerate(zip(f.rows, keys)):
        name, _sep, year = label.rpartition(" ")
        if narrow:
            name = month_label(key, "MMMMM") if key else name[0]  # the narrow form: "M", "م"
        elif (len(f.rows) - 1 - i) % every:
            name = ""  # too long to write under every column: every other one, this month's included
        items.append((name, n, False))
        subs.append("" if year == year_shown or not name else year[-2:] if narrow else year)
        if name:
            year_shown = year
    return columns("chart-changes", f.title, f.takeaway, items, sublabels=subs, height=170, narrow=narrow)


def channels_chart(f: Figure, narrow: bool = False) -> Chart:
    total = f.extra["total"] or 1
    items = [HBar(label, [(n, False)], _("%(num)s (%(percent)d%%)", num=format_number(n), percent=round(100 * n / total)))
             for label, n in f.rows]
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
