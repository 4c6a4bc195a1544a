"""Writing an export in the analyst's format: CSV, Excel, Parquet, SPSS and Stata.

Every writer takes the same flat batches (entry/export_columns.py) and the same `Codebook`
(each column's label, type in words, and value labels in the reader's language), so the
files hold one table and the labels survive into the analyst's tool.

- CSV streams: each batch becomes bytes as soon as it is read, so a million rows never sit
  in memory at once (`csv_chunks`).
- Parquet (pyarrow's ParquetWriter, one row group per batch) and Excel (xlsxwriter's
  `constant_memory` mode, row by row) are written batch by batch to a temporary file,
  which is then streamed; memory stays at one batch.
- SPSS `.sav` and Stata `.dta` (pyreadstat, which takes polars frames through narwhals)
  need the whole table at once: the chosen columns are held in memory while pyreadstat
  writes the temporary file. The codebook's variable and value labels go into the file.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import polars as pl
import pyarrow.parquet as pq
import pyreadstat
import xlsxwriter

from entry.export_columns import ExportColumn
from portal.i18n import translate

Format = Literal["csv", "xlsx", "parquet", "sav", "dta"]
FORMATS: Final[tuple[Format, ...]] = ("csv", "xlsx", "parquet", "sav", "dta")
MEDIA_TYPES: Final[dict[Format, str]] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "parquet": "application/vnd.apache.parquet",
    "sav": "application/x-spss-sav",
    "dta": "application/x-stata-dta",
}
XLSX_MAX_ROWS: Final = 1_048_575
"""Excel's sheet holds 1,048,576 rows, one of which is the header."""
STATA_LABEL_LENGTH: Final = 80
DATETIME_TEXT: Final = "%Y-%m-%dT%H:%M:%S"


class ExportTooLarge(ValueError):  # noqa: N818 - a refusal, not a fault
    """The rows do not fit the format (Excel's row limit)."""


@dataclass(frozen=True)
class CodebookEntry:
    """One column as the codebook sheet and the SPSS/Stata labels describe it."""

    name: str
    label: str
    type: str
    value_labels: tuple[tuple[int, str], ...] = ()

    @property
    def choices_text(self) -> str:
        return "\n".join(f"{code} = {label}" for code, label in self.value_labels)


def codebook(columns: Sequence[ExportColumn], language: str) -> tuple[CodebookEntry, ...]:
    """The columns in words: labels from the dictionary, the registration's own columns and
    the words for yes and no from the catalogue."""
    yes, no = translate("export.yes", language), translate("export.no", language)
    entries = []
    for column in columns:
        if column.label is None:
            label = translate(f"export.column.{column.name}", language)
        else:
            label = column.label.in_language(language)
        values: tuple[tuple[int, str], ...] = ()
        if column.yes_no or column.kind == "checked":
            values = ((1, yes), (0, no))
        elif column.choices:
            values = tuple((code, text.in_language(language)) for code, text in column.choices)
        if column.choice is not None:
            label = f"{label}: {column.choice[1].in_language(language)}"
        entries.append(
            CodebookEntry(
                column.name, label, translate(f"export.kind.{column.kind}", language), values
            )
        )
    return tuple(entries)


# ---- CSV: streamed ---------------------------------------------------------------------------


def csv_chunks(batches: Iterable[pl.DataFrame]) -> Iterator[bytes]:
    """UTF-8 CSV, header first, one chunk per batch; dates and times in ISO 8601."""
    header = True
    for batch in batches:
        buffer = io.BytesIO()
        batch.write_csv(
            buffer,
            include_header=header,
            date_format="%Y-%m-%d",
            datetime_format=DATETIME_TEXT,
            time_format="%H:%M:%S",
        )
        header = False
        yield buffer.getvalue()


# ---- files: written to a temporary path, then streamed ---------------------------------------


Writer = Callable[[Iterable[pl.DataFrame], Sequence[CodebookEntry], Path, str], int]


def write_parquet(
    batches: Iterable[pl.DataFrame], entries: Sequence[CodebookEntry], path: Path, language: str
) -> int:
    """One row group per batch; the codebook rides along as JSON in the file's metadata."""
    rows = 0
    writer: pq.ParquetWriter | None = None
    metadata = {
        "codebook": json.dumps(
            [
                {"name": e.name, "label": e.label, "type": e.type, "values": e.value_labels}
                for e in entries
            ],
            ensure_ascii=False,
        )
    }
    try:
        for batch in batches:
            table = batch.to_arrow()
            if writer is None:
                schema = table.schema.with_metadata(metadata)
                writer = pq.ParquetWriter(path, schema)
            writer.write_table(table.cast(writer.schema))
            rows += batch.height
    finally:
        if writer is not None:
            writer.close()
    return rows


def write_xlsx(
    batches: Iterable[pl.DataFrame], entries: Sequence[CodebookEntry], path: Path, language: str
) -> int:
    """The data sheet row by row (constant memory), then the codebook sheet.

    Text is always written as text, never as a formula or a link, whatever it starts with.
    """
    workbook = xlsxwriter.Workbook(
        str(path),
        {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False},
    )
    try:
        bold = workbook.add_format({"bold": True})
        formats = {
            "date": workbook.add_format({"num_format": "yyyy-mm-dd"}),
            "datetime": workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
            "time": workbook.add_format({"num_format": "hh:mm:ss"}),
        }
        data = workbook.add_worksheet(translate("export.sheet.data", language))
        sheet_codebook = workbook.add_worksheet(translate("export.sheet.codebook", language))
        for column, entry in enumerate(entries):
            data.write_string(0, column, entry.name, bold)
        rows = 0
        for batch in batches:
            if rows + batch.height > XLSX_MAX_ROWS:
                raise ExportTooLarge(f"Excel holds at most {XLSX_MAX_ROWS:,} rows")
            writers = [_cell_writer(data, batch.schema[name], formats) for name in batch.columns]
            for values in batch.iter_rows():
                rows += 1
                for column, (value, write) in enumerate(zip(values, writers, strict=True)):
                    if value is not None:
                        write(rows, column, value)
        headers = ("variable", "label", "type", "choices")
        for column, key in enumerate(headers):
            sheet_codebook.write_string(
                0, column, translate(f"export.codebook.{key}", language), bold
            )
        for row, entry in enumerate(entries, start=1):
            for column, text in enumerate(
                (entry.name, entry.label, entry.type, entry.choices_text)
            ):
                sheet_codebook.write_string(row, column, text)
        data.freeze_panes(1, 0)
    finally:
        workbook.close()
    return rows


def _cell_writer(
    sheet: Any, dtype: pl.DataType, formats: dict[str, Any]
) -> Callable[[int, int, Any], Any]:
    if dtype == pl.String:
        return sheet.write_string  # type: ignore[no-any-return]
    if dtype.is_numeric():
        return sheet.write_number  # type: ignore[no-any-return]
    kind = _temporal_kind(dtype)
    if kind is not None:
        cell_format = formats[kind]
        return lambda row, column, value: sheet.write_datetime(row, column, value, cell_format)
    return lambda row, column, value: sheet.write_string(row, column, str(value))


def _temporal_kind(dtype: pl.DataType) -> str | None:
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    if dtype == pl.Date:
        return "date"
    if dtype == pl.Time:
        return "time"
    return None


def write_sav(
    batches: Iterable[pl.DataFrame], entries: Sequence[CodebookEntry], path: Path, language: str
) -> int:
    """SPSS: variable labels, value labels, and measure levels for coded columns."""
    frame = _whole(batches)
    pyreadstat.write_sav(
        frame,
        str(path),
        column_labels={e.name: e.label for e in entries},
        variable_value_labels=_value_labels(entries),
        variable_measure={e.name: "nominal" for e in entries if e.value_labels},
    )
    return frame.height


def write_dta(
    batches: Iterable[pl.DataFrame], entries: Sequence[CodebookEntry], path: Path, language: str
) -> int:
    """Stata: variable labels (Stata allows 80 characters) and value labels."""
    frame = _whole(batches)
    pyreadstat.write_dta(
        frame,
        str(path),
        column_labels={e.name: e.label[:STATA_LABEL_LENGTH] for e in entries},
        variable_value_labels=_value_labels(entries),
    )
    return frame.height


def _whole(batches: Iterable[pl.DataFrame]) -> pl.DataFrame:
    return pl.concat(list(batches), how="vertical")


def _value_labels(entries: Sequence[CodebookEntry]) -> dict[str, dict[int | float, str]]:
    return {e.name: dict(e.value_labels) for e in entries if e.value_labels}


FILE_WRITERS: Final[dict[Format, Writer]] = {
    "xlsx": write_xlsx,
    "parquet": write_parquet,
    "sav": write_sav,
    "dta": write_dta,
}
