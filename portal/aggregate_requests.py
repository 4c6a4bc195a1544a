"""Aggregate upload as the page and the command line both run it: check, verify, publish.

`check_upload` reads the file, checks every row (`entry.aggregate_file`) and whether the
same file came before; a file with any problem is refused, logged, and changes nothing
else; a clean one is stored unpublished (`data_access.aggregate_uploads`). `verify_frame`
shows what publishing would put on the public pages: the upload's results through the
engine (`indicators.uploaded`) and the public door (`portal.public_data.published`), so
levels and suppression are those readers will see. Who may do this (a registry-wide admin,
`may_upload`) is settled here for both doors.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from data_access.access import AccessScope
from data_access.aggregate_uploads import (
    StoredUpload,
    UploadRefusedError,
    find_upload,
    record_refusal,
    store_checked,
    units_by_org_number,
    upload_counts,
)
from data_access.audit import Actor
from data_access.database import Database
from data_access.reference_data import read_units
from data_access.snapshot import read_coverage
from entry.aggregate_file import AggregateCheck, Problem, check_aggregate_file, content_hash
from entry.import_mapping import ImportFileError, read_table
from entry.registry_folder import RegistryFolder
from indicators.uploaded import uploaded_results
from portal.i18n import translate
from portal.public_data import UNIT_COLUMNS, published


@dataclass(frozen=True)
class CheckOutcome:
    """The file's rows and problems; `upload` is the stored upload when there were none."""

    rows: int
    problems: tuple[Problem, ...]
    upload: StoredUpload | None = None


def may_upload(scope: AccessScope, registry_key: str) -> bool:
    """Only an admin of the whole registry (a grant on the nation): an upload replaces the
    registry's published numbers for every unit at once."""
    nation = scope.nation_unit_id
    return nation is not None and scope.may_administer(registry_key, nation)


def check_upload(
    database: Database,
    actor: Actor,
    registry: RegistryFolder,
    filename: str,
    content: bytes,
    this_year: int,
) -> CheckOutcome:
    """Check the file; store it unpublished when clean, else log the refusal."""
    digest = content_hash(content)
    earlier = find_upload(database, registry.key, digest)
    same_file = () if earlier is None else (Problem(None, "same_file", str(earlier.id)),)
    check = _checked(database, registry, filename, content, this_year)
    problems = same_file + check.problems
    if not problems:
        try:
            stored = store_checked(
                database, actor, registry.key, filename, digest, check.rows, check.counts
            )
            return CheckOutcome(check.rows, (), stored)
        except UploadRefusedError:  # the same file, stored a moment ago by another request
            problems = (Problem(None, "same_file", ""),)
    details = {"filename": filename, "sha256": digest, "rows": check.rows}
    record_refusal(database, actor, registry.key, details | {"problems": len(problems)})
    return CheckOutcome(check.rows, problems)


def _checked(
    database: Database, registry: RegistryFolder, filename: str, content: bytes, this_year: int
) -> AggregateCheck:
    try:
        frame = read_table(content, filename)
    except ImportFileError as error:
        return AggregateCheck(0, (Problem(None, "unreadable", "; ".join(error.problems)),))
    return check_aggregate_file(
        frame, units_by_org_number(database), registry.indicators, this_year
    )


def problem_text(problem: Problem, language: str) -> str:
    return translate(f"aggregate.problem.{problem.code}", language, value=problem.value)


def verify_frame(database: Database, registry: RegistryFolder, upload_id: int) -> pl.DataFrame:
    """The upload's results as the public pages would show them once published: the public
    frame (numbers of suppressed rows removed, `note` set, unit names) of its (indicator,
    year) pairs, which publication replaces whole."""
    units = read_units(database)
    results = uploaded_results(
        upload_counts(database, upload_id),
        registry.indicators,
        units,
        coverage=read_coverage(database, registry.key),
    )
    return published(results, registry, units.select(UNIT_COLUMNS))
