"""A unit's report as a PDF: every indicator against the region and the nation, then one
chart and one table per indicator over the years.

Data in (`unit_report_data.UnitReport`), bytes out, drawn with ReportLab's own layout and
graphics, so no browser or image service is needed on the server. Texts come from the
catalogue in the reader's language, numbers through `portal.i18n` (by way of the result
figures' `value_text` and `interval_text`, so a number reads the same as on the pages). The
charts repeat their numbers in the table below them, which is what a screen reader or a
reader of a printed grey copy relies on; the achievement level is written out in words.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from indicators import Indicator
from portal.components import result_figures as rfig
from portal.components.achievement_marks import COLOURS, achievement_words
from portal.components.my_unit_views import counts_cell, lead_column
from portal.i18n import date_text, number, percent, translate
from portal.reports.unit_report_data import IndicatorFigures, Row, UnitReport

MARGIN = 18 * mm
WIDTH = A4[0] - 2 * MARGIN
CHART_HEIGHT = 46 * mm
OWN_COLOUR = colors.HexColor(rfig.LINE_COLOURS[0])
NATION_COLOUR = colors.HexColor(rfig.NATION_COLOUR)
TARGET_COLOUR = colors.HexColor(COLOURS["high"])
GRID_COLOUR = colors.HexColor("#d0d0d0")
HEADER_BACKGROUND = colors.HexColor("#eef1f5")
FONT, BOLD = "Helvetica", "Helvetica-Bold"


def render_unit_report(report: UnitReport, language: str) -> bytes:
    """The report as PDF bytes; the same report and language always give the same bytes."""
    buffer = io.BytesIO()
    unit_name = str(report.unit["name"])
    registry_name = report.registry.name.in_language(language)
    title = translate("subscriptions.report.title", language, unit=unit_name)
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN + 4 * mm,
        title=title,
        author=registry_name,
        subject=translate("subscriptions.report.subject_line", language, unit=unit_name),
        lang="nb-NO" if language == "nb" else "en-GB",
        displayDocTitle=True,
        invariant=True,
    )

    def number_page(canvas: Canvas, _document: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 8)
        canvas.setFillColor(colors.HexColor("#555555"))
        page = translate("subscriptions.report.page", language, n=canvas.getPageNumber())
        canvas.drawString(MARGIN, MARGIN - 2 * mm, f"{registry_name} – {unit_name}")
        canvas.drawRightString(A4[0] - MARGIN, MARGIN - 2 * mm, page)
        canvas.restoreState()

    story = _story(report, title, registry_name, language)
    document.build(story, onFirstPage=number_page, onLaterPages=number_page)
    return buffer.getvalue()


class _Styles:
    """The few paragraph styles of the report, on the built-in Helvetica (Latin-1 covers
    bokmål's æ, ø and å)."""

    def __init__(self) -> None:
        sheet = getSampleStyleSheet()
        self.title = ParagraphStyle("title", parent=sheet["Title"], alignment=TA_LEFT, fontSize=18)
        self.heading = ParagraphStyle("heading", parent=sheet["Heading2"], spaceBefore=10)
        self.body = ParagraphStyle("body", parent=sheet["BodyText"], fontSize=9.5, leading=12)
        self.note = ParagraphStyle(
            "note", parent=self.body, fontSize=8.5, textColor=colors.HexColor("#444444")
        )
        self.cell = ParagraphStyle("cell", parent=self.body, fontSize=8.5, leading=10.5)
        self.head = ParagraphStyle("head", parent=self.cell, fontName=BOLD)


def _story(report: UnitReport, title: str, registry_name: str, language: str) -> list[Flowable]:
    styles = _Styles()
    story: list[Flowable] = [
        Paragraph(escape(title), styles.title),
        Paragraph(
            escape(
                translate(
                    "subscriptions.report.made",
                    language,
                    registry=registry_name,
                    date=date_text(report.made_on, language),
                )
            ),
            styles.body,
        ),
    ]
    if report.region is not None and report.region["unit_id"] != report.unit["unit_id"]:
        region = translate("subscriptions.report.region", language, region=report.region["name"])
        story.append(Paragraph(escape(region), styles.body))
    if report.year is None:
        story.append(Paragraph(escape(translate("myunit.no_results", language)), styles.body))
        return story
    story += [
        Paragraph(
            escape(translate("subscriptions.report.summary_heading", language, year=report.year)),
            styles.heading,
        ),
        Paragraph(escape(translate("subscriptions.report.own_note", language)), styles.note),
    ]
    if report.preliminary:
        note = translate("overview.preliminary_note", language, year=report.year)
        story.append(Paragraph(escape(note), styles.note))
    story += [Spacer(0, 3 * mm), _summary_table(report, styles, language), Spacer(0, 3 * mm)]
    charts = translate("subscriptions.report.charts_note", language, unit=report.unit["name"])
    story.append(Paragraph(escape(charts), styles.note))
    for figures in report.indicators:
        story.append(_indicator_section(report, figures, styles, language))
    return story


def _summary_table(report: UnitReport, styles: _Styles, language: str) -> Table:
    region_name = report.region["name"] if report.region else "–"
    headers = [
        translate("myunit.column.indicator", language),
        translate("myunit.column.own", language, unit=report.unit["name"]),
        translate("myunit.column.patients", language),
        translate("myunit.column.achievement", language),
        translate("myunit.column.region", language, region=region_name),
        translate("myunit.column.nation", language),
    ]
    rows = [[Paragraph(escape(h), styles.head) for h in headers]]
    for figures in report.indicators:
        indicator = figures.indicator
        rows.append(
            [
                Paragraph(escape(indicator.title.in_language(language)), styles.cell),
                _value(figures.own, indicator, styles, language),
                Paragraph(escape(counts_cell(figures.own, indicator, language)), styles.cell),
                _achievement(figures.own, styles, language),
                _value(figures.region, indicator, styles, language),
                _value(figures.nation, indicator, styles, language),
            ]
        )
    widths = [0.26, 0.17, 0.13, 0.14, 0.15, 0.15]
    return _table(rows, [WIDTH * w for w in widths])


def _indicator_section(
    report: UnitReport, figures: IndicatorFigures, styles: _Styles, language: str
) -> KeepTogether:
    indicator = figures.indicator
    title = indicator.title.in_language(language)
    parts: list[Flowable] = [
        Paragraph(escape(title), styles.heading),
        Paragraph(escape(indicator.description.in_language(language)), styles.body),
    ]
    chart = trend_chart(figures, str(report.unit["name"]), language)
    if chart is not None:
        parts += [Spacer(0, 1 * mm), chart]
    parts += [Spacer(0, 2 * mm), _years_table(report, figures, styles, language)]
    return KeepTogether(parts)


def _years_table(
    report: UnitReport, figures: IndicatorFigures, styles: _Styles, language: str
) -> Table:
    indicator = figures.indicator
    headers = [
        translate("subscriptions.report.column.year", language),
        translate("myunit.column.own", language, unit=report.unit["name"]),
        translate("myunit.column.patients", language),
        translate("myunit.column.achievement", language),
        translate("myunit.column.nation", language),
    ]
    nation = {int(r["period"]): r for r in figures.nation_years}
    own = {int(r["period"]): r for r in figures.own_years}
    rows = [[Paragraph(escape(h), styles.head) for h in headers]]
    for year in sorted(own.keys() | nation.keys()):
        mine = own.get(year)
        rows.append(
            [
                Paragraph(str(year), styles.cell),
                _value(mine, indicator, styles, language, inline=True),
                Paragraph(escape(counts_cell(mine, indicator, language)), styles.cell),
                _achievement(mine, styles, language),
                _value(nation.get(year), indicator, styles, language, inline=True),
            ]
        )
    widths = [0.08, 0.3, 0.14, 0.18, 0.3]
    return _table(rows, [WIDTH * w for w in widths])


def _table(rows: list[list[Flowable]], widths: Sequence[float]) -> Table:
    table = Table(rows, colWidths=list(widths), repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), HEADER_BACKGROUND),
                ("LINEBELOW", (0, 0), (-1, -1), 0.4, GRID_COLOUR),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 2.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
            ]
        )
    )
    return table


def _value(
    row: Row | None, indicator: Indicator, styles: _Styles, language: str, *, inline: bool = False
) -> Paragraph:
    """The lead value (risk-standardised where adjusted) with its interval below it (or
    beside it, `inline`), or why there is none."""
    if row is None:
        return Paragraph(escape(translate("resultfilter.no_result", language)), styles.cell)
    if row.get("note"):
        return Paragraph(escape(rfig.note_text(str(row["note"]), language)), styles.cell)
    column = lead_column(indicator)
    low, high = (row.get(c) for c in rfig.interval_columns(column))
    text = escape(rfig.value_text(row.get(column), indicator, language))
    if column == "risk_standardised" and row.get(column) is not None:
        text += f" ({escape(translate('myunit.adjusted', language))})"
    interval = rfig.interval_text(low, high, indicator, language)
    if interval:
        text += f"{' ' if inline else '<br/>'}<font size=7.5>({escape(interval)})</font>"
    return Paragraph(text, styles.cell)


def _achievement(row: Row | None, styles: _Styles, language: str) -> Paragraph:
    level = (row or {}).get("achievement")
    words = escape(achievement_words(level, language))
    colour = COLOURS.get(str(level))
    return Paragraph(f'<font color="{colour}">{words}</font>' if colour else words, styles.cell)


def trend_chart(figures: IndicatorFigures, unit_name: str, language: str) -> Drawing | None:
    """The unit's value per year with its 95% interval, the nation's beside it, and the
    target for high achievement as a dashed line; None when there is nothing to draw."""
    indicator = figures.indicator
    column = lead_column(indicator)
    low_column, high_column = rfig.interval_columns(column)
    own = _points(figures.own_years, column)
    nation = _points(figures.nation_years, column)
    if not own and not nation:
        return None
    years = sorted({int(x) for x, _ in own + nation})
    series: list[list[tuple[float, float]]] = []
    styles: list[tuple[colors.Color, float, tuple[float, ...] | None, bool]] = []
    for points, colour, dash in ((own, OWN_COLOUR, None), (nation, NATION_COLOUR, (3, 2))):
        if points:
            series.append(points)
            styles.append((colour, 1.6, dash, True))
    top = 1.0 if indicator.type == "proportion" else float("inf")  # a share's axis ends at 100 %
    for row in figures.own_years:
        low, high = row.get(low_column), row.get(high_column)
        if low is not None and high is not None:
            year = float(row["period"])
            series.append([(year, max(float(low), 0.0)), (year, min(float(high), top))])
            styles.append((OWN_COLOUR, 0.8, None, False))
    if indicator.targets is not None:
        target = float(indicator.targets.high)
        series.append([(years[0] - 0.4, target), (years[-1] + 0.4, target)])
        styles.append((TARGET_COLOUR, 0.8, (1, 2), False))
    drawing = Drawing(WIDTH, CHART_HEIGHT)
    plot = LinePlot()
    plot.x, plot.y = 48, 34
    plot.width, plot.height = WIDTH - 60, CHART_HEIGHT - 46
    plot.data = series
    for index, (colour, width, dashes, marked) in enumerate(styles):
        plot.lines[index].strokeColor = colour
        plot.lines[index].strokeWidth = width
        if dashes is not None:
            plot.lines[index].strokeDashArray = dashes
        if marked:
            plot.lines[index].symbol = makeMarker("FilledCircle", size=4, fillColor=colour)
    _x_axis(plot, years)
    _y_axis(plot, indicator, [y for points in series for _, y in points], language)
    drawing.add(plot)
    drawing.add(_legend(figures, unit_name, language))
    return drawing


def _points(rows: Sequence[Row], column: str) -> list[tuple[float, float]]:
    return [(float(r["period"]), float(r[column])) for r in rows if r.get(column) is not None]


def _x_axis(plot: LinePlot, years: Sequence[int]) -> None:
    axis = plot.xValueAxis
    axis.valueMin, axis.valueMax = years[0] - 0.5, years[-1] + 0.5
    axis.valueSteps = list(years)
    axis.labelTextFormat = "%d"
    axis.labels.fontName, axis.labels.fontSize = FONT, 7.5


def _y_axis(plot: LinePlot, indicator: Indicator, values: Sequence[float], language: str) -> None:
    axis = plot.yValueAxis
    axis.labels.fontName, axis.labels.fontSize = FONT, 7.5
    axis.visibleGrid, axis.gridStrokeColor, axis.gridStrokeWidth = True, GRID_COLOUR, 0.3
    if indicator.type == "proportion":
        axis.valueMin, axis.valueMax = 0.0, 1.0
        axis.valueSteps = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
        axis.labelTextFormat = lambda value: percent(value, language)
        return
    axis.valueMin, axis.valueMax = 0.0, max([*values, 1.0]) * 1.1
    axis.labelTextFormat = lambda value: number(value, language, 0)


def _legend(figures: IndicatorFigures, unit_name: str, language: str) -> Legend:
    pairs = [(OWN_COLOUR, unit_name), (NATION_COLOUR, translate("myunit.column.nation", language))]
    if figures.indicator.targets is not None:
        high = figures.indicator.targets.high
        target = (
            percent(high, language)
            if figures.indicator.type == "proportion"
            else number(high, language, figures.indicator.decimals)
        )
        pairs.append(
            (TARGET_COLOUR, translate("subscriptions.report.target", language, target=target))
        )
    legend = Legend()
    legend.x, legend.y = 48, 8
    legend.alignment = "right"
    legend.columnMaximum = 1
    legend.variColumn = 1
    legend.deltax = 20
    legend.fontName, legend.fontSize = FONT, 7.5
    legend.dx, legend.dy = 8, 2
    legend.colorNamePairs = pairs
    return legend
