"""The API's views: each reads already-parsed input and returns a response model.

Access is decided twice, as everywhere in the portal: the guard checks the route's
requirement, and every read or write of patient-level data goes through `data_access`,
which takes the caller's scope (`current_scope`, from the session or the API token). Public
results come only from `portal.public_data.public_frame`; a caller's own units' full
results only from the results cache, filtered to the units the scope covers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import date
from typing import Any

import flask
import polars as pl

from data_access import keyed_drafts, record_commands, registrations
from data_access.access import AccessDenied, AccessScope, Role
from data_access.keyed_drafts import HiddenValues, KeyConflict
from data_access.record_commands import IdentityKeys, RecordRejected, StaleRecord
from data_access.reference_data import unit_for_org_number
from data_access.registrations import MAX_LIST_ROWS
from entry.fhir_bundle import SOURCE, BundleDraft, UnitReference, problem_at, read_bundle
from entry.fhir_mapping import FhirMapping
from entry.fhir_resources import BundleProblem, FhirBundleError
from entry.national_id import InvalidNationalId
from entry.record_rules import RecordCheck, read_document, skipped_of
from entry.registry_folder import RegistryFolder
from portal.api import schemas
from portal.api.docs import docs_page
from portal.api.errors import ApiError, issue_list, issues_of
from portal.api.spec import PREFIX, openapi_document
from portal.auth.identity import current_scope, database, settings
from portal.catalogue import find_registry, installed_registries
from portal.i18n import Language
from portal.public_data import find_indicator, public_frame, units
from portal.results_cache import cached_results

RESULT_ROLES: tuple[Role, ...] = ("clinician", "registrar", "analyst")
"""Grants whose units' results a caller sees unsuppressed (they may read those records)."""


def openapi(language: Language, **_: object) -> flask.Response:
    return flask.jsonify(openapi_document())


def docs(language: Language, **_: object) -> flask.Response:
    return docs_page(language)


def list_registries(language: Language, **_: object) -> schemas.RegistryList:
    return schemas.RegistryList(registries=[_registry_out(r) for r in installed_registries()])


def list_indicators(language: Language, registry: str, **_: object) -> schemas.IndicatorList:
    folder = _registry(registry)
    return schemas.IndicatorList(registry=folder.key, indicators=list(folder.indicators))


def codebook(language: Language, registry: str, **_: object) -> schemas.Codebook:
    folder = _registry(registry)
    version = folder.dictionary_version
    return schemas.Codebook(
        registry=folder.key,
        dictionary_version=None if version is None else str(getattr(version, "version", version)),
        variables=[
            schemas.VariableOut(
                name=v.name,
                form=v.form,
                type=str(v.type),
                label=schemas.Texts(nb=v.label.nb, en=v.label.en),
                unit=v.unit,
                choices=[
                    schemas.ChoiceOut(
                        code=c.code, label=schemas.Texts(nb=c.label.nb, en=c.label.en)
                    )
                    for c in v.choices
                ],
                minimum=None if v.minimum is None else str(v.minimum),
                maximum=None if v.maximum is None else str(v.maximum),
                required=v.required,
                shown_when=v.show_if_text,
                calculation=v.calculation_text,
                validations=[
                    schemas.ValidationOut(
                        expression=rule.text,
                        severity=rule.severity,
                        message=schemas.Texts(nb=rule.message.nb, en=rule.message.en),
                    )
                    for rule in v.validations
                ],
                identifier=v.identifier,
            )
            for v in folder.dictionary.variables
        ],
    )


def list_results(
    language: Language, registry: str, query: schemas.ResultsQuery, **_: object
) -> schemas.ResultList:
    folder = _registry(registry)
    if query.indicator is not None and find_indicator(folder, query.indicator) is None:
        raise ApiError(404, "unknown", "api.error.unknown_indicator", "indicator")
    filters = [
        pl.col(column) == value
        for column, value in (
            ("indicator", query.indicator),
            ("period", query.period),
            ("level", query.level),
            ("unit_id", query.unit),
        )
        if value is not None
    ]
    own = current_scope().units(folder.key, *RESULT_ROLES)
    public = _filtered(public_frame(folder), filters).with_columns(confidential=pl.lit(False))
    frame = public
    if own:
        # The caller's units, as the engine computed them: their records are the caller's
        # to read anyway, so their numbers tell nothing the caller could not count.
        full = (
            _filtered(cached_results(settings(), database(), folder), filters)
            .filter(pl.col("unit_id").is_in(sorted(own)))
            .join(units().drop("level"), on="unit_id", how="left")
            .with_columns(note=pl.lit(None, pl.String), confidential=pl.col("suppressed"))
        )
        frame = pl.concat(
            [public.filter(~pl.col("unit_id").is_in(sorted(own))), full], how="diagonal_relaxed"
        )
    frame = frame.sort("indicator", "period", "unit_id")
    page = frame.slice(query.offset, query.limit).rename(
        {"name": "unit_name", "short_name": "unit_short_name"}, strict=False
    )
    rows = [_json_numbers(row) for row in page.to_dicts()]
    return schemas.ResultList(
        registry=folder.key,
        total=frame.height,
        offset=query.offset,
        limit=query.limit,
        results=[schemas.ResultRow.model_validate(row) for row in rows],
    )


def list_registrations(
    language: Language, registry: str, query: schemas.RegistrationsQuery, **_: object
) -> schemas.RegistrationList:
    folder = _registry(registry)
    if query.offset + query.limit > MAX_LIST_ROWS:
        raise ApiError(400, "invalid", "api.error.page_too_far", "offset", most=MAX_LIST_ROWS)
    if query.from_ and query.to and query.from_ > query.to:
        raise ApiError(400, "invalid", "api.error.period", "from")
    period = (query.from_ or date(1, 1, 1), query.to or date(9999, 12, 31))
    wanted = min(query.offset + query.limit + 1, MAX_LIST_ROWS)
    frame = registrations.list_registrations(
        database(),
        current_scope(),
        folder.key,
        national_id_key=settings().national_id_key,
        unit_ids=None if query.unit is None else [query.unit],
        statuses=None if query.status is None else [query.status],
        period=period if (query.from_ or query.to) else None,
        limit=wanted,
    )
    page = frame.slice(query.offset, query.limit)
    more = frame.height > query.offset + query.limit
    return schemas.RegistrationList(
        registry=folder.key,
        offset=query.offset,
        limit=query.limit,
        next_offset=query.offset + query.limit if more else None,
        registrations=[
            _registration_out(row, json.loads(row["values"])) for row in page.to_dicts()
        ],
    )


def get_registration(
    language: Language, registry: str, registration_id: int, **_: object
) -> schemas.RegistrationDetail:
    record = _registration_in(registry, registration_id, current_scope())
    base = _registration_out(
        {
            "id": record.id,
            "unit_id": record.unit_id,
            "event_date": record.event_date,
            "status": record.status,
            "version": record.version,
            "national_id_masked": record.national_id_masked,
        },
        dict(record.values),
    )
    return schemas.RegistrationDetail(
        **base.model_dump(),
        registry=record.registry_key,
        editable=record.editable,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def create_registration(
    language: Language, registry: str, body: schemas.RegistrationCreate, **_: object
) -> tuple[schemas.SaveOut, dict[str, str]]:
    folder = _registry(registry)
    keys = IdentityKeys(settings().national_id_key, settings().pseudonym_key)
    try:
        saved = record_commands.create_registration(
            database(),
            current_scope(),
            folder.key,
            body.unit_id,
            body.national_id,
            body.values,
            folder.dictionary,
            keys,
            event_date_variable=folder.event_date_variable,
            status=body.status,
            acknowledged=body.acknowledged,
        )
    except AccessDenied:
        raise ApiError(403, "forbidden", "api.error.not_registrar", "unit_id") from None
    except InvalidNationalId:
        raise ApiError(400, "invalid", "api.error.national_id", "national_id") from None
    except RecordRejected as error:
        raise _rejected(error, folder, language) from None
    location = registration_location(folder.key, saved.registration_id)
    return _saved(
        saved.registration_id, saved.version, saved.status, True, saved.check, language
    ), {"Location": location}


def update_registration(
    language: Language,
    registry: str,
    registration_id: int,
    body: schemas.RegistrationUpdate,
    **_: object,
) -> schemas.SaveOut:
    scope = current_scope()
    # Read first, through the scoped door: a record the caller may not read is "not found",
    # exactly like one that does not exist, so ids cannot be probed by writing.
    record = _registration_in(registry, registration_id, scope)
    folder = _registry(record.registry_key)
    try:
        saved = record_commands.update_registration(
            database(),
            scope,
            registration_id,
            body.version,
            body.values,
            folder.dictionary,
            event_date_variable=folder.event_date_variable,
            status=body.status,
            reason=body.reason,
            acknowledged=body.acknowledged,
        )
    except AccessDenied:
        raise ApiError(403, "forbidden", "api.error.not_editable", "registration_id") from None
    except StaleRecord as error:
        raise ApiError(
            409, "stale", "api.error.stale", "version", current_version=error.current_version
        ) from None
    except RecordRejected as error:
        raise _rejected(error, folder, language) from None
    return _saved(
        registration_id, saved.version, saved.status, saved.changed, saved.check, language
    )


def import_fhir_bundle(
    language: Language, query: schemas.FhirQuery, body: schemas.FhirBundle, **_: object
) -> tuple[schemas.FhirSaveOut, dict[str, str], int]:
    """Glue only: `entry.fhir_bundle` reads the bundle, `keyed_drafts` saves the draft."""
    folder, mapping = _fhir_registry(query.registry)
    try:
        draft = read_bundle(body.resource(), mapping, folder.dictionary)
    except FhirBundleError as error:
        raise _bundle_refused(error.problems, language) from None
    unit_id = _fhir_unit(draft.unit, language)
    keys = IdentityKeys(settings().national_id_key, settings().pseudonym_key)
    bundle_id = (body.model_extra or {}).get("id")
    try:
        keyed = keyed_drafts.save_keyed_draft(
            database(), current_scope(), folder.key, SOURCE, draft.source_key, unit_id,
            draft.national_id, draft.values, folder.dictionary, keys,
            event_date_variable=folder.event_date_variable,
            about={"bundle_id": bundle_id if isinstance(bundle_id, str) else None},
        )  # fmt: skip
    except AccessDenied:
        field = draft.unit.origin.path
        raise ApiError(403, "forbidden", "api.error.not_registrar", field) from None
    except HiddenValues as error:
        problems = [
            problem_at(
                draft.sources[name],
                "hidden",
                variable=name,
                shown_when=folder.dictionary.variable(name).show_if_text,
            )
            for name in error.variables
        ]
        raise _bundle_refused(problems, language) from None
    except KeyConflict as error:
        raise _key_conflict(error, draft, language) from None
    except RecordRejected as error:
        raise _rejected(error, folder, language) from None
    saved = keyed.saved
    changed = keyed.created or saved.changed
    out = schemas.FhirSaveOut(
        **_saved(
            saved.registration_id, saved.version, saved.status, changed, saved.check, language
        ).model_dump(),
        registry=folder.key,
        created=keyed.created,
        source_key=draft.source_key,
    )
    location = registration_location(folder.key, saved.registration_id)
    return out, {"Location": location}, 201 if keyed.created else 200


def _fhir_registry(key: str | None) -> tuple[RegistryFolder, FhirMapping]:
    """The registry named, or the only one with a FHIR mapping when none is named."""
    mapped = [r for r in installed_registries() if r.fhir_mapping is not None]
    if key is None and len(mapped) > 1:
        raise ApiError(400, "invalid", "api.error.fhir_registry", "registry")
    folder = _registry(key) if key is not None else next(iter(mapped), None)
    if folder is None or folder.fhir_mapping is None:
        raise ApiError(404, "not_found", "api.error.no_fhir_mapping", "registry")
    return folder, folder.fhir_mapping


def _fhir_unit(unit: UnitReference, language: Language) -> int:
    if unit.kind == "unit_id":
        return unit.number
    found = unit_for_org_number(database(), unit.number)
    if found is None:
        raise _bundle_refused([problem_at(unit.origin, "unknown_unit")], language)
    return found


def _key_conflict(error: KeyConflict, draft: BundleDraft, language: Language) -> ApiError:
    """Another patient or unit is the sender's fault in the bundle (422); a record that moved
    on, or a simultaneous save, is a conflict with the stored state (409)."""
    if error.reason == "patient":
        return _bundle_refused([problem_at(draft.national_id_origin, "key_patient")], language)
    if error.reason == "unit":
        return _bundle_refused([problem_at(draft.unit.origin, "key_unit")], language)
    code, key = (
        ("not_draft", "api.error.fhir_not_draft")
        if error.reason == "status"
        else ("concurrent", "api.error.fhir_concurrent")
    )
    return ApiError(409, code, key, draft.source_key_origin.path)


def _bundle_refused(problems: Sequence[BundleProblem], language: Language) -> ApiError:
    issues = [
        schemas.IssueOut(
            field=problem.path,
            rule=problem.rule,
            severity="error",
            message=f"{problem.resource}: {problem.message.in_language(language)}",
        )
        for problem in problems
    ]
    return ApiError(
        422, "invalid_bundle", "api.error.fhir_bundle", issues[0].field, issues=issues,
        count=len(issues),
    )  # fmt: skip


def registration_location(registry_key: str, registration_id: int) -> str:
    """Where a registration lives in the API: every path names its registry."""
    return f"{PREFIX}/registries/{registry_key}/registrations/{registration_id}"


def _registration_in(
    registry: str, registration_id: int, scope: AccessScope
) -> registrations.RegistrationRecord:
    """The record through the scoped door; one of another registry is as absent as one out of
    scope or missing, so a path cannot read a record by naming the wrong registry."""
    record = registrations.get_registration(
        database(), scope, registration_id, settings().national_id_key
    )
    if record is None or record.registry_key != _registry(registry).key:
        raise ApiError(404, "not_found", "api.error.no_registration", "registration_id")
    return record


def _registry(key: str) -> RegistryFolder:
    folder = find_registry(key) if key else None
    if folder is None:
        raise ApiError(404, "not_found", "api.error.no_registry", "registry")
    return folder


def _registry_out(registry: RegistryFolder) -> schemas.RegistryOut:
    version = registry.dictionary_version
    return schemas.RegistryOut(
        key=registry.key,
        name=schemas.Texts(nb=registry.name.nb, en=registry.name.en),
        description=schemas.Texts(nb=registry.description.nb, en=registry.description.en),
        forms=[form.key for form in registry.forms],
        event_date_variable=registry.event_date_variable,
        indicators=[indicator.key for indicator in registry.indicators],
        dictionary_version=None if version is None else str(getattr(version, "version", version)),
    )


def _filtered(frame: pl.DataFrame, filters: list[pl.Expr]) -> pl.DataFrame:
    return frame.filter(*filters) if filters else frame


def _json_numbers(row: dict[str, Any]) -> dict[str, Any]:
    """NaN and infinities are not JSON: they become null (no estimate)."""
    return {
        key: None if isinstance(value, float) and not math.isfinite(value) else value
        for key, value in row.items()
    }


def _registration_out(row: dict[str, Any], document: dict[str, Any]) -> schemas.RegistrationOut:
    values, acknowledged = read_document(document)
    return schemas.RegistrationOut(
        id=row["id"],
        unit_id=row["unit_id"],
        event_date=row["event_date"],
        status=row["status"],
        version=row["version"],
        national_id_masked=row["national_id_masked"],
        values=values,
        skipped=sorted(skipped_of(document)),
        acknowledged=sorted(acknowledged),
    )


def _saved(
    registration_id: int,
    version: int,
    status: str,
    changed: bool,
    check: RecordCheck,
    language: Language,
) -> schemas.SaveOut:
    return schemas.SaveOut(
        id=registration_id,
        version=version,
        status=status,  # type: ignore[arg-type]
        changed=changed,
        errors=issue_list(check.errors, language),
        warnings=issue_list(check.warnings, language),
    )


def _rejected(error: RecordRejected, registry: RegistryFolder, language: Language) -> ApiError:
    """The refusal with the field at fault: the first blocking finding, else the rule broken."""
    issues = issues_of(error.check, language)
    text = str(error)
    if issues:
        return ApiError(422, "rejected", "api.error.rejected", issues[0].field, issues=issues)
    if "event date" in text:
        field = f"values.{registry.event_date_variable}"
        return ApiError(422, "rejected", "api.error.event_date", field)
    if "needs a reason" in text:
        return ApiError(422, "reason_required", "api.error.reason", "reason")
    if "cannot become" in text:
        return ApiError(422, "invalid_transition", "api.error.transition", "status")
    return ApiError(422, "rejected", "api.error.rejected", None)
