"""A data-entry form (registreringsskjema): one form of one registration, for registrars.

The form is drawn from the data dictionary (`portal.components.form_fields`). While the
registrar types, `live_check` runs the registry's own rules (`entry.record_rules`) on the
form's values and the record's other forms: fields hidden by logic are hidden and cleared,
calculated fields update, each finding appears next to its field. Saves go through
`data_access.record_commands`, which check access, values, status, reason and version again
and write in one transaction; a stale version is refused and the typed input stays on screen.

The page and every callback check the user's scope themselves: the unit and registration in
the page's stores are only the browser's word (`portal.form_requests` reads them), so the
callbacks ask the scope, and the commands the database, before anything is written.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import ALL, ClientsideFunction, Input, Output, State, ctx, html, no_update
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate

from data_access.access import AccessDenied, AccessScope
from data_access.prom_responses import prom_records
from data_access.record_commands import (
    IdentityKeys,
    RecordRejected,
    StaleRecord,
    create_registration,
    update_registration,
)
from data_access.registrations import get_registration
from entry.national_id import mask_national_id
from entry.record_rules import read_document
from portal import urls
from portal.auth.guard import guarded_callback, guarded_clientside_callback
from portal.auth.identity import current_scope, database, now, settings
from portal.catalogue import find_registry
from portal.components import form_feedback as feedback
from portal.components.form_fields import (
    ACKNOWLEDGE,
    ACKNOWLEDGE_WRAP,
    CALCULATED,
    FIELD,
    MESSAGE,
    WRAP,
    field_box,
    messages,
)
from portal.components.form_layout import (
    ATTEMPT,
    CONTEXT,
    FORMS,
    LANGUAGE,
    LIVE,
    NATIONAL_ID,
    NATIONAL_ID_MESSAGE,
    OTHERS,
    PATIENT,
    PATIENT_INPUT,
    REASON,
    REASON_WRAP,
    RECORD,
    SAVE,
    STATUS,
    SUMMARY,
    VERSION,
    form_page,
    refusal,
    unit_chooser,
)
from portal.components.login_prompt import login_prompt
from portal.components.prom_answers import prom_panel
from portal.components.shell import page_frame
from portal.form_requests import (
    FormContext,
    acknowledged_rules,
    as_id,
    as_status,
    may_enter,
    named_values,
    national_id_problem,
    read_context,
)
from portal.form_values import form_state, raw_values
from portal.i18n import normalise_language, request_language, translate

PATH = "/registrations/form"

dash.register_page(  # type: ignore[no-untyped-call]
    __name__, path=PATH, title=lambda: translate("forms.title", request_language())
)


def layout(
    lang: str | None = None,
    registry: str | None = None,
    form: str | None = None,
    id: str | None = None,
    unit: str | None = None,
    **_query: str,
) -> html.Div:
    language = normalise_language(lang)
    query = {"registry": registry, "form": form, "id": id, "unit": unit}
    scope = current_scope()
    if not scope.authenticated:
        here = urls.page_url(PATH, language, **query)
        content = [html.H1(translate("forms.title", language)), login_prompt(language, here)]
    else:
        content = _content(language, scope, registry, form, id, unit)
    return page_frame(language, PATH, content, query)


def _content(
    language: str,
    scope: AccessScope,
    registry_key: str | None,
    form: str | None,
    registration: str | None,
    unit: str | None,
) -> list[Component]:
    heading = html.H1(translate("forms.title", language))
    folder = find_registry(registry_key) if registry_key else None
    if folder is None or form not in folder.dictionary.forms:
        return [heading, refusal("forms.unknown_form", language)]
    if registration is not None:
        record = get_registration(
            database(), scope, as_id(registration) or 0, settings().national_id_key
        )
        if record is None or record.registry_key != folder.key:
            return [heading, refusal("forms.not_found", language)]
        stored, acknowledged = read_document(record.values)
        admin = scope.may_administer(folder.key, record.unit_id)
        context = FormContext(folder, form, record.unit_id, record.id, as_status(record.status))
        editable = admin if record.status == "locked" else record.editable
        page = form_page(
            context,
            language,
            stored,
            acknowledged,
            record.version,
            editable=editable,
            admin=admin,
            patient=record.national_id_masked,
        )
        answers = prom_records(database(), scope, record.id, now())
        return [*page, prom_panel(folder, answers, language)]
    units = scope.units(folder.key, "registrar")
    unit_id = as_id(unit) if unit is not None else (min(units) if len(units) == 1 else None)
    if not units or (unit is not None and unit_id not in units):
        return [heading, refusal("forms.not_registrar", language)]
    if unit_id is None:
        return [heading, unit_chooser(folder.key, form, units, language)]
    context = FormContext(folder, form, unit_id, None, None)
    admin = scope.may_administer(folder.key, unit_id)
    return form_page(
        context, language, {}, frozenset(), None, editable=True, admin=admin, patient=None
    )


@guarded_callback(
    "authenticated",
    Output(LIVE, "data"),
    Input({"type": FIELD, "name": ALL}, "value"),
    Input(ATTEMPT, "data"),
    State({"type": ACKNOWLEDGE, "name": ALL}, "value"),
    State(CONTEXT, "data"),
    State(OTHERS, "data"),
    State(LANGUAGE, "data"),
    prevent_initial_call=True,
)
def live_check(
    _values: object,
    attempt: object,
    _acks: object,
    context_data: object,
    others: object,
    language: object,
) -> dict[str, Any]:
    """Hide, clear, calculate and check as the registrar types; nothing is read or written.

    The answer goes to a store, and `distribute` (in the browser) hands it to the fields:
    a server callback with pattern-matching outputs would fail on a malformed request.
    """
    context = read_context(context_data)
    if context is None or not may_enter(current_scope(), context):
        raise PreventUpdate
    lang = normalise_language(language)
    shown = named_values(ctx.inputs_list[0])
    raw = {**(others if isinstance(others, dict) else {}), **_raw(context, shown)}
    state = form_state(
        context.registry.dictionary,
        context.form,
        raw,
        language=lang,
        acknowledged=acknowledged_rules(ctx.states_list[0]),
        with_required=isinstance(attempt, dict) and attempt.get("required") is True,
    )
    variables = context.registry.dictionary.in_form(context.form)
    return {
        "hidden": sorted(state.hidden),
        "messages": {v.name: messages(state.issues.get(v.name, ()), lang) for v in variables},
        "calculated": dict(state.calculated),
        "warned": sorted({issue.variable for issue in state.check.warnings}),
        "cleared": {
            v.name: field_box(v, None, lang)
            for v in variables
            if v.name in state.hidden and shown.get(v.name) not in (None, "", [])
        },
    }


guarded_clientside_callback(
    "authenticated",
    ClientsideFunction(namespace="portal_forms", function_name="distribute"),
    Output({"type": WRAP, "name": ALL}, "hidden"),
    Output({"type": MESSAGE, "name": ALL}, "children"),
    Output({"type": CALCULATED, "name": ALL}, "children"),
    Output({"type": ACKNOWLEDGE_WRAP, "name": ALL}, "hidden"),
    Output({"type": WRAP, "name": ALL}, "children"),
    Input(LIVE, "data"),
    prevent_initial_call=True,
)


@guarded_callback(
    "authenticated",
    Output(NATIONAL_ID_MESSAGE, "children"),
    Input(NATIONAL_ID, "value"),
    State(CONTEXT, "data"),
    State(LANGUAGE, "data"),
    prevent_initial_call=True,
)
def check_national_id(value: object, context_data: object, language: object) -> Component | str:
    """Say at once whether the id is valid; the message names the rule, never the id."""
    context = read_context(context_data)
    if context is None or not may_enter(current_scope(), context):
        raise PreventUpdate
    problem = national_id_problem(value)
    return "" if problem is None else feedback.problem(problem, normalise_language(language))


SAVE_OUTPUTS = {
    "status": Output(STATUS, "children"),
    "summary": Output(SUMMARY, "children"),
    "version": Output(VERSION, "data"),
    "context": Output(CONTEXT, "data"),
    "attempt": Output(ATTEMPT, "data"),
    "reason_hidden": Output(REASON_WRAP, "hidden"),
    "reason": Output(REASON, "value"),
    "patient_hidden": Output(PATIENT_INPUT, "hidden"),
    "national_id": Output(NATIONAL_ID, "value"),
    "patient": Output(PATIENT, "children"),
    "record": Output(RECORD, "children"),
    "forms": Output(FORMS, "children"),
    "national_id_message": Output(NATIONAL_ID_MESSAGE, "children", allow_duplicate=True),
}


@guarded_callback(
    "authenticated",
    output=SAVE_OUTPUTS,
    inputs={
        "pressed": Input({"type": SAVE, "status": ALL}, "n_clicks"),
        "fields": State({"type": FIELD, "name": ALL}, "value"),
        "acks": State({"type": ACKNOWLEDGE, "name": ALL}, "value"),
        "national_id": State(NATIONAL_ID, "value"),
        "reason": State(REASON, "value"),
        "context_data": State(CONTEXT, "data"),
        "version": State(VERSION, "data"),
        "language": State(LANGUAGE, "data"),
    },
    prevent_initial_call=True,
)
def save(
    pressed: object,
    fields: object,
    acks: object,
    national_id: object,
    reason: object,
    context_data: object,
    version: object,
    language: object,
) -> dict[str, Any]:
    """Save the form with the status of the button pressed, through the record commands."""
    result: dict[str, Any] = dict.fromkeys(SAVE_OUTPUTS, no_update)
    lang = normalise_language(language)
    context, scope = read_context(context_data), current_scope()
    target = as_status(
        ctx.triggered_id.get("status") if isinstance(ctx.triggered_id, dict) else None
    )
    if not any(t.get("value") for t in ctx.triggered if isinstance(t, dict)):
        raise PreventUpdate  # the buttons were drawn, none pressed
    if context is None or target is None or not may_enter(scope, context):
        return result | {"status": feedback.outcome(translate("forms.not_allowed", lang), ok=False)}
    folder = context.registry
    grouping = ctx.args_grouping if isinstance(ctx.args_grouping, dict) else {}
    values = _raw(context, named_values(grouping.get("fields")))
    acknowledged = acknowledged_rules(grouping.get("acks"))
    problem = None
    if context.registration_id is None:  # an update's event date is checked on the stored record
        problem = national_id_problem(national_id)
        state = form_state(folder.dictionary, context.form, values, language=lang)
        if problem is None and folder.event_date_variable not in state.check.values:
            problem = "forms.need_event_date"
    if problem is not None:
        message = feedback.problem(problem, lang, folder)
        about_id = problem.startswith("forms.national_id")
        return result | {
            "status": message,
            "national_id_message": message if about_id else no_update,
        }
    text = reason if isinstance(reason, str) else None
    try:
        if context.registration_id is None:
            keys = IdentityKeys(settings().national_id_key, settings().pseudonym_key)
            saved = create_registration(
                database(),
                scope,
                folder.key,
                context.unit_id,
                str(national_id),
                values,
                folder.dictionary,
                keys,
                event_date_variable=folder.event_date_variable,
                status="draft" if target == "draft" else "complete",
                acknowledged=acknowledged,
            )
        else:
            saved = update_registration(
                database(),
                scope,
                context.registration_id,
                as_id(version) or 0,
                values,
                folder.dictionary,
                event_date_variable=folder.event_date_variable,
                status=target,
                reason=text,
                acknowledged=acknowledged,
            )
    except StaleRecord:
        latest = urls.registration_form(folder.key, context.form, lang, context.registration_id)
        link = html.A(translate("forms.open_latest", lang), href=latest, target="_blank")
        return result | {
            "status": feedback.outcome(translate("forms.stale", lang), ok=False, extra=link)
        }
    except AccessDenied:
        return result | {"status": feedback.outcome(translate("forms.not_allowed", lang), ok=False)}
    except RecordRejected as refusal:
        return result | feedback.refused(refusal, context, lang, text)
    new = FormContext(
        folder, context.form, context.unit_id, saved.registration_id, as_status(saved.status)
    )
    done = translate(f"forms.saved.{saved.status}", lang, version=saved.version)
    created = context.registration_id is None
    return result | {
        "status": feedback.outcome(
            done if saved.changed else translate("forms.unchanged", lang), ok=True
        ),
        "summary": [],
        "version": saved.version,
        "context": new.store(),
        "attempt": {"required": False},
        "reason_hidden": saved.status == "draft",
        "reason": "",
        "record": feedback.record_facts(saved.status, saved.version, lang),
        "forms": feedback.form_links(folder, context.form, lang, saved.registration_id),
        "patient_hidden": True if created else no_update,
        "national_id": "" if created else no_update,  # shown masked from now on
        "patient": translate("forms.patient", lang, id=mask_national_id(str(national_id)))
        if created
        else no_update,
        "national_id_message": "" if created else no_update,
    }


def _raw(context: FormContext, shown: dict[str, object]) -> dict[str, object]:
    return raw_values(context.registry.dictionary, context.form, shown)
