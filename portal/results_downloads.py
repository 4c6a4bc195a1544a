"""An indicator's public results as CSV: the machine-readable twin of the indicator page.

A plain Flask route, so the address is permanent and a script can fetch it. It serves the
rows of `public_frame` (suppressed numbers already removed, `note` saying why) and nothing
else; `?year=` and `?level=` (one level or several, comma-separated) narrow the rows, as on
the page. Numbers are written with a decimal point, for machines; the page is for people.
"""

from __future__ import annotations

import flask
import polars as pl

from portal.auth.guard import route_access
from portal.public_data import find_indicator, find_registry, public_frame

CSV_TYPE = "text/csv; charset=utf-8"
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
def indicator_csv(registry_key: str, filename: str) -> flask.Response:
    """`/results/stroke/thrombolysis.csv?year=2025&level=hospital`."""
    if not filename.endswith(".csv"):
        flask.abort(404)
    registry = find_registry(registry_key)
    if registry is None or registry.key != registry_key:
        flask.abort(404)
    indicator = find_indicator(registry, filename.removesuffix(".csv"))
    if indicator is None:
        flask.abort(404)
    rows = public_frame(registry).filter(pl.col("indicator") == indicator.key)
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
    body = (
        rows.sort("period", "level", "name")
        .with_columns(pl.col("level").cast(pl.String))
        .select(COLUMNS)
        .write_csv()
    )
    response = flask.Response(body.encode("utf-8"), mimetype=CSV_TYPE)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{registry.key}-{indicator.key}{"-" + year if year else ""}.csv"'
    )
    return response
