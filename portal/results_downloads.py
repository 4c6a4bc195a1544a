"""Public results as CSV or Excel: the downloadable twin of the indicator and overview pages.

A plain Flask route, so the address is permanent and a script can fetch it:
`/results/<registry>/<indicator>.csv|.xlsx`, or `all.csv|.xlsx` for every indicator. It
serves the rows of `public_frame` (suppressed numbers already removed, `note` saying why)
and nothing else; `?year=` and `?level=` (one level or several, comma-separated) narrow the
rows, as on the pages. Numbers are written as numbers (a decimal point in CSV, for
machines; Excel shows them in the reader's own locale).
"""

from __future__ import annotations

import io

import flask
import polars as pl

from portal.auth.guard import route_access
from portal.catalogue import find_registry
from portal.public_data import find_indicator, public_frame

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
EVERY_INDICATOR = "all"
LEVELS = ("nation", "region", "trust", "hospital", "department")
COLUMNS = (
    "indicator", "period", "level", "unit_id", "parent_id", "name", "numerator", "denominator",
    "estimate", "lower", "upper", "achievement", "coverage", "observed", "expected",
    "oe_ratio", "oe_lower", "oe_upper", "risk_standardised", "funnel_lower_95",
    "funnel_upper_95", "funnel_lower_998", "funnel_upper_998", "funnel_position", "note",
)  # fmt: skip

blueprint = flask.Blueprint("results_downloads", __name__)


@blueprint.get("/results/<string:registry_key>/<string:filename>")
@route_access("public")
def results_file(registry_key: str, filename: str) -> flask.Response:
    """`/results/stroke/thrombolysis.csv?year=2025&level=hospital`, `/results/stroke/all.xlsx`."""
    name, _, kind = filename.rpartition(".")
    registry = find_registry(registry_key)
    if kind not in MEDIA_TYPES or registry is None or registry.key != registry_key:
        flask.abort(404)
    rows = public_frame(registry)
    if name != EVERY_INDICATOR:
        indicator = find_indicator(registry, name)
        if indicator is None:
            flask.abort(404)
        rows = rows.filter(pl.col("indicator") == indicator.key)
    year = flask.request.args.get("year", "")
    if year:
        if not year.isdigit():
            flask.abort(400)
        rows = rows.filter(pl.col("period") == int(year))
    levels = [lv for lv in flask.request.args.get("level", "").split(",") if lv]
    if any(lv not in LEVELS for lv in levels):
        flask.abort(400)
    if levels:
        rows = rows.filter(pl.col("level").cast(pl.String).is_in(levels))
    table = (
        rows.sort("indicator", "period", "level", "name")
        .with_columns(pl.col("level").cast(pl.String))
        .select(COLUMNS)
    )
    response = flask.Response(_written(table, kind), mimetype=MEDIA_TYPES[kind])
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{registry.key}-{name}{"-" + year if year else ""}.{kind}"'
    )
    return response


def _written(table: pl.DataFrame, kind: str) -> bytes:
    if kind == "csv":
        return table.write_csv().encode("utf-8")
    buffer = io.BytesIO()
    table.write_excel(buffer, worksheet="results", autofit=True)
    return buffer.getvalue()
