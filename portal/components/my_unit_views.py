"""What the "my unit" page shows: the switcher, every indicator at a glance, one in detail.

Pure functions from frames to components: own rows (unsuppressed, from
`my_unit_data.own_results`) and public rows (`public_frame`) go in, tables and charts come
out. The charts are the shared result figures (`portal.components.result_figures`), with
the own unit's row put among the public ones, so they read the same as the public pages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl
from dash import dcc, html
from dash.development.base_component import Component

from data_access.unit_records import DataQuality
from entry.registry_folder import RegistryFolder
from indicators import Indicator
from portal import urls
from portal.components import result_figures as rfig
from portal.components import result_filters as rf
from portal.components.achievement_marks import achievement_mark
from portal.components.my_unit_data import PeerGroup, peer_medians
from portal.components.scroll_table import scroll_table
from portal.i18n import number, percent, translate

PREFIX = "my-unit"
FILTER_IDS = (f"{PREFIX}-registry", f"{PREFIX}-unit", f"{PREFIX}-year", f"{PREFIX}-indicator")
LOCATION = f"{PREFIX}-location"


def lead_column(indicator: Indicator) -> str:
    """Risk-adjusted indicators lead with the risk-standardised value, others the estimate."""
    return "risk_standardised" if indicator.risk_model is not None else "estimate"


def filters(
    registries: Sequence[RegistryFolder],
    registry: RegistryFolder,
    units: Sequence[Mapping[str, Any]],
    unit_id: int | None,
    years: Sequence[int],
    year: int | None,
    indicator: Indicator | None,
    preliminary: int,
    language: str,
) -> html.Section:
    """Registry, unit, year and indicator: each only rewrites the address."""
    unit_options = [
        {
            "label": f"{u['name']} ({rf.level_name(str(u['level']), language, plural=False)})",
            "value": u["unit_id"],
        }
        for u in units
    ]
    controls: list[Component] = [
        rf.dropdown(
            FILTER_IDS[0],
            translate("myunit.registry", language),
            [{"label": r.name.in_language(language), "value": r.key} for r in registries],
            registry.key,
        ),
        rf.dropdown(
            FILTER_IDS[1],
            translate("myunit.unit", language),
            unit_options,
            unit_id,
            searchable=len(unit_options) > 8,
            placeholder=translate("myunit.unit_placeholder", language),
        ),
        rf.year_dropdown(FILTER_IDS[2], years, year, preliminary, language),
        rf.dropdown(
            FILTER_IDS[3],
            translate("myunit.indicator", language),
            [{"label": i.title.in_language(language), "value": i.key} for i in registry.indicators],
            indicator.key if indicator else None,
        ),
    ]
    return html.Section(
        className="result-filters",
        **{"aria-labelledby": f"{PREFIX}-filters-heading"},
        children=[
            html.H2(translate("myunit.filters", language), id=f"{PREFIX}-filters-heading"),
            html.Div(className="result-filter-row", children=controls),
        ],
    )


def _by_indicator(frame: pl.DataFrame) -> dict[str, dict[str, Any]]:
    """The rows of one unit and year, by indicator."""
    return {str(row["indicator"]): row for row in frame.to_dicts()}


def _nation_row(public: pl.DataFrame, indicator: str, year: int) -> dict[str, Any] | None:
    rows = public.filter(
        (pl.col("indicator") == indicator)
        & (pl.col("period") == year)
        & (pl.col("level") == "nation")
    ).to_dicts()
    return rows[0] if rows else None


def value_cell(
    row: Mapping[str, Any] | None, indicator: Indicator, language: str
) -> list[Component]:
    """A result with its interval, or why there is none (public notes in words)."""
    if row is None:
        return [translate("resultfilter.no_result", language)]
    column = lead_column(indicator)
    if row.get("note"):
        return [rfig.note_text(str(row["note"]), language)]
    value = row.get(column)
    cell: list[Component] = [rfig.value_text(value, indicator, language)]
    if column == "risk_standardised" and value is not None:
        cell.append(html.Span(f" ({translate('myunit.adjusted', language)})", className="hint"))
    low, high = (row.get("lower"), row.get("upper"))
    if column == "risk_standardised" and row.get("oe_ratio"):
        scale = value / row["oe_ratio"] if value is not None else None
        low = (
            row["oe_lower"] * scale
            if scale is not None and row.get("oe_lower") is not None
            else None
        )
        high = (
            row["oe_upper"] * scale
            if scale is not None and row.get("oe_upper") is not None
            else None
        )
    interval = rfig.interval_text(low, high, indicator, language)
    if interval:
        cell += [html.Br(), html.Span(interval, className="interval")]
    return cell


def counts_cell(row: Mapping[str, Any] | None, indicator: Indicator, language: str) -> str:
    if row is None or row.get("denominator") is None:
        return ""
    denominator = number(float(row["denominator"]), language, 0)
    if indicator.type == "proportion" and row.get("numerator") is not None:
        numerator = number(float(row["numerator"]), language, 0)
        return translate("myunit.counts", language, numerator=numerator, denominator=denominator)
    return translate("myunit.patients", language, n=denominator)


def overview_table(
    registry: RegistryFolder,
    own: pl.DataFrame,
    public: pl.DataFrame,
    unit: Mapping[str, Any],
    region: Mapping[str, Any] | None,
    peers: PeerGroup,
    year: int,
    preliminary: int,
    language: str,
) -> html.Div:
    """Every indicator: own result, patients, achievement, region, nation, peers, funnel,
    trend and the link to the patients behind it."""
    headers = [
        translate("myunit.column.indicator", language),
        translate("myunit.column.own", language, unit=unit["name"]),
        translate("myunit.column.patients", language),
        translate("myunit.column.achievement", language),
        translate("myunit.column.region", language, region=region["name"] if region else "–"),
        translate("myunit.column.nation", language),
        translate("myunit.column.peers", language, n=len(peers.unit_ids)),
        translate("myunit.column.funnel", language),
        translate("myunit.column.trend", language),
        translate("myunit.column.drill_down", language),
    ]
    trends: dict[str, list[dict[str, Any]]] = {}
    for row in own.sort("period", maintain_order=True).to_dicts():
        trends.setdefault(str(row["indicator"]), []).append(row)
    year_public = public.filter(pl.col("period") == year)
    nation = _by_indicator(year_public.filter(pl.col("level") == "nation"))
    region_rows = (
        _by_indicator(year_public.filter(pl.col("unit_id") == int(region["unit_id"])))
        if region
        else {}
    )
    medians = peer_medians(public, peers, year)
    body = []
    for indicator in registry.indicators:
        column = lead_column(indicator)
        history = trends.get(indicator.key, [])
        mine = next((r for r in history if r["period"] == year), None)  # `own` is the unit's
        region_row = region_rows.get(indicator.key)
        median = medians.get(indicator.key, {}).get(column)
        trend = [(int(r["period"]), r.get(column), None) for r in history]
        position = (mine or {}).get("funnel_position") if indicator.risk_model else None
        link: Component = (
            dcc.Link(
                [
                    translate("myunit.open_patients", language),
                    html.Span(
                        f" ({indicator.title.in_language(language)})", className="visually-hidden"
                    ),
                ],
                href=urls.drill_down(
                    registry.key, int(unit["unit_id"]), indicator.key, year, language
                ),
                id=f"{PREFIX}-patients-{indicator.key}",
            )
            if mine is not None
            else ""
        )
        body.append(
            html.Tr(
                id=f"{PREFIX}-row-{indicator.key}",
                children=[
                    html.Th(
                        dcc.Link(
                            indicator.title.in_language(language),
                            href=urls.my_unit(
                                registry.key,
                                language,
                                unit=unit["unit_id"],
                                year=year,
                                indicator=indicator.key,
                            ),
                        ),
                        scope="row",
                    ),
                    html.Td(value_cell(mine, indicator, language), className="unit-value"),
                    html.Td(counts_cell(mine, indicator, language)),
                    html.Td(achievement_mark((mine or {}).get("achievement"), language)),
                    html.Td(value_cell(region_row, indicator, language)),
                    html.Td(value_cell(nation.get(indicator.key), indicator, language)),
                    html.Td(
                        rfig.value_text(median, indicator, language)
                        if median is not None
                        else translate("resultfilter.no_result", language)
                    ),
                    html.Td(
                        translate(f"figures.position.{position}", language)
                        if position
                        else translate("myunit.not_adjusted", language)
                        if indicator.risk_model is None
                        else ""
                    ),
                    html.Td(rf.sparkline(trend, indicator, language, preliminary)),
                    html.Td(link),
                ],
            )
        )
    caption = translate("myunit.caption", language, unit=unit["name"], year=year)
    return scroll_table(
        f"{PREFIX}-table",
        "profile-table my-unit-table",
        caption,
        html.Tr([html.Th(h, scope="col") for h in headers]),
        body,
        caption_id=f"{PREFIX}-table-caption",
    )


def peer_text(peers: PeerGroup, tree: pl.DataFrame, language: str) -> html.P:
    """Who the peers are and by which rule, in words."""
    names = tree.filter(pl.col("unit_id").is_in(list(peers.unit_ids))).sort("name")["name"]
    listed = ", ".join(str(n) for n in names.to_list()) or translate("myunit.no_peers", language)
    if peers.rule == "configured" and peers.name is not None:
        rule = translate(
            "myunit.peers_configured", language, group=peers.name.in_language(language)
        )
    else:
        third = translate(f"myunit.tertile.{peers.tertile or 0}", language)
        rule = translate("myunit.peers_volume", language, third=third)
    return html.P(
        [rule, " ", translate("myunit.peers_are", language, names=listed)], id=f"{PREFIX}-peers"
    )


def _mark_own(frame: pl.DataFrame, unit_id: int, language: str) -> pl.DataFrame:
    return frame.with_columns(
        pl.when(pl.col("unit_id") == unit_id)
        .then(pl.format("{} ({})", pl.col("name"), pl.lit(translate("myunit.yours", language))))
        .otherwise(pl.col("name"))
        .alias("name")
    )


def detail(
    registry: RegistryFolder,
    indicator: Indicator,
    own: pl.DataFrame,
    public: pl.DataFrame,
    unit: Mapping[str, Any],
    region: Mapping[str, Any] | None,
    peers: PeerGroup,
    year: int,
    preliminary: int,
    language: str,
) -> list[Component]:
    """One indicator: bars (own, region, nation, peers), the trend and, if risk-adjusted,
    the funnel of the unit's level with the unit marked."""
    unit_id = int(unit["unit_id"])
    title = indicator.title.in_language(language)
    column = lead_column(indicator)
    own_rows = own.filter(pl.col("indicator") == indicator.key)
    others = public.filter(pl.col("indicator") == indicator.key)
    year_rows = others.filter(pl.col("period") == year)
    compared_ids = [*([int(region["unit_id"])] if region else []), *peers.unit_ids]
    head = pl.concat(
        [
            own_rows.filter(pl.col("period") == year),
            year_rows.filter(pl.col("level") == "nation"),
            year_rows.filter(pl.col("unit_id").is_in(compared_ids)),
        ],
        how="diagonal_relaxed",
    )
    head = _mark_own(head, unit_id, language)
    nation = _nation_row(public, indicator.key, year)
    national = (nation or {}).get(column)
    bars = rfig.chart_block(
        f"{PREFIX}-bars",
        rfig.unit_bars(head, indicator, language, value_column=column, national=national),
        caption=translate("myunit.bars_caption", language, indicator=title, year=year),
        summary=rfig.chart_summary(
            head.filter(pl.col("level") == unit["level"]),
            indicator,
            language,
            kind="bars",
            level=str(unit["level"]),
            national=national,
            value_column=column,
        ),
        language=language,
        table=rfig.results_grid(
            head,
            [
                "name",
                column,
                "interval" if column == "estimate" else "rs_interval",
                "denominator",
                "achievement",
            ],
            language,
            f"{PREFIX}-bars-table",
            indicator=indicator,
        ),
    )
    lines = pl.concat(
        [
            own_rows,
            others.filter(
                (pl.col("level") == "nation")
                | (pl.col("unit_id") == (int(region["unit_id"]) if region else -1))
            ),
        ],
        how="diagonal_relaxed",
    )
    lines = _mark_own(lines, unit_id, language)
    shown_preliminary = preliminary if preliminary in lines["period"].to_list() else None
    trend = rfig.chart_block(
        f"{PREFIX}-trend",
        rfig.trend_chart(lines, indicator, language, preliminary_period=shown_preliminary),
        caption=translate("myunit.trend_caption", language, indicator=title),
        summary=rfig.chart_summary(
            lines, indicator, language, kind="trend", preliminary_period=shown_preliminary
        ),
        language=language,
        table=rfig.results_grid(
            lines.sort("name", "period"),
            ["name", "period", "estimate", "interval", "denominator"],
            language,
            f"{PREFIX}-trend-table",
            indicator=indicator,
        ),
    )
    content: list[Component] = [bars, trend]
    if indicator.risk_model is not None:
        content.append(_funnel(indicator, own_rows, year_rows, unit, year, language))
    return content


def _funnel(
    indicator: Indicator,
    own_rows: pl.DataFrame,
    year_rows: pl.DataFrame,
    unit: Mapping[str, Any],
    year: int,
    language: str,
) -> Component:
    unit_id = int(unit["unit_id"])
    level = str(unit["level"])
    mine = own_rows.filter(pl.col("period") == year)
    frame = pl.concat(
        [mine, year_rows.filter((pl.col("level") == level) & (pl.col("unit_id") != unit_id))],
        how="diagonal_relaxed",
    )
    frame = _mark_own(frame, unit_id, language)
    figure = rfig.funnel_plot(frame, indicator, language)
    x_column, y_column = rfig.funnel_axes(indicator)
    position = None
    if mine.height and mine[y_column][0] is not None and mine[x_column][0] is not None:
        position = mine["funnel_position"][0]
        figure["data"].append(
            {
                "type": "scatter",
                "x": [mine[x_column][0]],
                "y": [mine[y_column][0]],
                "mode": "markers",
                "name": translate("myunit.yours_legend", language, unit=unit["name"]),
                "marker": {
                    "symbol": "star",
                    "size": 16,
                    "color": "#d55e00",
                    "line": {"color": "#1a1a1a", "width": 1},
                },
                "hoverinfo": "skip",
            }
        )
    where = (
        translate(f"figures.position.{position}", language)
        if position
        else translate("resultfilter.no_result", language)
    )
    summary = " ".join(
        [
            translate("myunit.funnel_position", language, unit=unit["name"], position=where),
            rfig.chart_summary(frame, indicator, language, kind="funnel", level=level),
        ]
    )
    return rfig.chart_block(
        f"{PREFIX}-funnel",
        figure,
        caption=translate(
            "myunit.funnel_caption",
            language,
            indicator=indicator.title.in_language(language),
            year=year,
        ),
        summary=summary,
        language=language,
        table=rfig.results_grid(
            frame.filter(pl.col(y_column).is_not_null()),
            ["name", "observed", "expected", "oe_ratio", "oe_interval", "funnel_position"],
            language,
            f"{PREFIX}-funnel-table",
            indicator=indicator,
        ),
    )


def quality_section(
    registry: RegistryFolder,
    quality: DataQuality,
    coverage: float | None,
    year: int,
    language: str,
) -> html.Section:
    """Registrations, drafts and coverage, then each form's variables by completeness."""
    share = quality.draft_share
    facts = html.Dl(
        className="my-unit-facts",
        id=f"{PREFIX}-quality-facts",
        children=[
            html.Dt(translate("myunit.quality.registrations", language)),
            html.Dd(number(quality.registrations, language, 0)),
            html.Dt(translate("myunit.quality.drafts", language)),
            html.Dd(
                translate(
                    "myunit.quality.drafts_value",
                    language,
                    n=number(quality.drafts, language, 0),
                    share=percent(share, language, 1) if share is not None else "–",
                )
            ),
            html.Dt(translate("myunit.quality.coverage", language)),
            html.Dd(
                percent(coverage, language, 1)
                if coverage is not None
                else translate("myunit.quality.coverage_unknown", language)
            ),
        ],
    )
    labels = {v.name: v.label.in_language(language) for v in registry.dictionary.variables}
    tables: list[Component] = []
    for form in registry.forms:
        rows = quality.completeness.filter(pl.col("form") == form.key)
        if rows.is_empty():
            continue
        caption_id = f"{PREFIX}-quality-{form.key}-caption"
        body = [
            html.Tr(
                [
                    html.Th(
                        [labels.get(r["variable"], r["variable"]), " ", html.Code(r["variable"])],
                        scope="row",
                    ),
                    html.Td(number(r["shown"], language, 0)),
                    html.Td(number(r["with_value"], language, 0)),
                    html.Td(
                        percent(r["share"], language, 1)
                        if r["share"] is not None
                        else translate("myunit.quality.not_shown", language),
                        className="low-completeness"
                        if r["share"] is not None and r["share"] < 0.9
                        else None,
                    ),
                ]
            )
            for r in rows.sort("share", nulls_last=True, maintain_order=True).to_dicts()
        ]
        caption = translate(
            "myunit.quality.caption", language, form=form.title.in_language(language), year=year
        )
        header = html.Tr(
            [
                html.Th(translate(f"myunit.quality.column.{c}", language), scope="col")
                for c in ("variable", "shown", "with_value", "share")
            ]
        )
        tables.append(
            scroll_table(
                f"{PREFIX}-quality-{form.key}",
                "admin-table",
                caption,
                header,
                body,
                caption_id=caption_id,
            )
        )
    return html.Section(
        id=f"{PREFIX}-quality",
        **{"aria-labelledby": f"{PREFIX}-quality-heading"},
        children=[
            html.H2(
                translate("myunit.quality.heading", language, year=year),
                id=f"{PREFIX}-quality-heading",
            ),
            html.P(translate("myunit.quality.intro", language)),
            facts,
            *tables,
        ],
    )
