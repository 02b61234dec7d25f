"""CSV downloads: the filtered backlog and the figures behind each chart."""

from __future__ import annotations

import csv
import io
from typing import Iterable

from flask import Response

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> object:
    """Text that a spreadsheet would run as a formula is written with a leading quote."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_response(columns: list[str], rows: Iterable[Iterable], filename: str) -> Response:
    """A CSV download, written row by row as it streams."""

    def generate():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(v) for v in row])
            if buffer.tell() > 32_000:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return Response(generate(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    })
