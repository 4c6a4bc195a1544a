"""The parts of the data-entry page around the fields: patient, status, actions and stores.

The ids here are the ones the page's callbacks read and write; the stores carry what the
callbacks need and no more (the form's context, the version the registrar is editing, the
record's values on its other forms for logic that crosses forms, the language).
"""

from __future__ import annotations

from collections.abc import Mapping

from dash import dcc, html
from dash.development.base_component import Component

from data_access.reference_data import read_units
from portal import urls
from portal.auth.identity import database
from portal.components import form_feedback as feedback
from portal.components.form_fields import form_fields
from portal.form_requests import STATUSES, FormContext
from portal.form_values import form_state, widget_value
from portal.i18n import translate

CONTEXT, VERSION, OTHERS, LANGUAGE, ATTEMPT, LIVE = (
    "rf-context",
    "rf-version",
    "rf-others",
    "rf-language",
    "rf-attempt",
    "rf-live",  # what the live check found, handed to the fields in the browser
)
STATUS, SUMMARY, RECORD, FORMS = "rf-status", "rf-summary", "rf-record", "rf-forms"
SAVE, REASON, REASON_WRAP = "rf-save", "rf-reason", "rf-reason-wrap"
NATIONAL_ID, NATIONAL_ID_MESSAGE = "rf-national-id", "rf-national-id-message"
PATIENT_INPUT, PATIENT = "rf-patient-input", "rf-patient"


def form_page(
    context: FormContext,
    language: str,
    stored: Mapping[str, object],
    acknowledged: frozenset[str],
    version: int | None,
    *,
    editable: bool,
    admin: bool,
    patient: str | None,
) -> list[Component]:
    """The whole form of a registration (`stored`: its values; empty for a new one)."""
    folder, form = context.registry, context.form
    variables = folder.dictionary.in_form(form)
    names = {v.name for v in variables}
    state = form_state(
        folder.dictionary, form, stored, language=language, acknowledged=acknowledged
    )
    values = {v.name: widget_value(v, stored.get(v.name), language) for v in variables}
    title = next(f.title.in_language(language) for f in folder.forms if f.key == form)

    def t(key: str, **values: object) -> str:
        return translate(key, language, **values)

    return [
        html.H1(t("forms.heading", form=title, registry=folder.name.in_language(language))),
        html.Nav(
            id=FORMS,
            **{"aria-label": t("forms.forms_of_registration")},
            className="form-links",
            children=feedback.form_links(folder, form, language, context.registration_id),
        ),
        html.P(feedback.record_facts(context.status, version, language), id=RECORD),
        html.P(t("forms.unit", unit=unit_names().get(context.unit_id, str(context.unit_id)))),
        patient_section(patient, language, editable),
        html.Div(id=SUMMARY, tabIndex="-1", className="error-summary"),
        html.Div(
            className="form-body",
            children=form_fields(
                variables,
                values,
                language,
                hidden=state.hidden,
                calculated=state.calculated,
                issues=state.issues,
                acknowledged=acknowledged,
                disabled=not editable,
            ),
        ),
        html.Div(
            id=REASON_WRAP,
            hidden=context.status in (None, "draft"),
            className="form-field reason",
            children=[
                html.Label(t("forms.reason"), htmlFor=REASON),
                dcc.Input(id=REASON, type="text", value="", autoComplete="off", debounce=True),
                html.P(t("forms.reason_hint"), className="field-help"),
            ],
        ),
        _actions(context, language, editable=editable, admin=admin),
        html.Div(id=STATUS, role="status", className="form-status", **{"aria-live": "polite"}),
        html.P(dcc.Link(t("forms.to_list"), href=urls.registrations(folder.key, language))),
        dcc.Store(id=CONTEXT, data=context.store()),
        dcc.Store(id=VERSION, data=version),
        dcc.Store(id=OTHERS, data={k: v for k, v in stored.items() if k not in names}),
        dcc.Store(id=LANGUAGE, data=language),
        dcc.Store(id=ATTEMPT, data={"required": False}),
        dcc.Store(id=LIVE),
    ]


def _actions(context: FormContext, language: str, *, editable: bool, admin: bool) -> html.Div:
    """One button per status the record may be saved with: locking is for admins only."""
    if not editable:
        return html.Div(html.P(translate("forms.read_only", language), className="read-only"))
    shown = [
        status
        for status in STATUSES
        if (status != "locked" or (admin and context.status is not None))
        and (status != "draft" or context.status != "locked")
    ]
    return html.Div(
        className="form-actions",
        children=[
            html.Button(
                translate(f"forms.save.{status}", language),
                id={"type": SAVE, "status": status},
                type="button",
                n_clicks=0,
            )
            for status in shown
        ],
    )


def patient_section(masked: str | None, language: str, editable: bool) -> html.Section:
    """The patient: the masked id of a saved registration, or the id to enter for a new one."""
    entry = html.Div(
        id=PATIENT_INPUT,
        hidden=masked is not None,
        className="form-field-box",
        **{"data-describedby": f"{NATIONAL_ID}-hint {NATIONAL_ID_MESSAGE}"},
        children=[
            html.Label(translate("forms.national_id", language), htmlFor=NATIONAL_ID),
            dcc.Input(
                id=NATIONAL_ID,
                type="text",
                inputMode="numeric",
                autoComplete="off",
                debounce=True,
                disabled=masked is not None or not editable,
            ),
            html.P(
                translate("forms.national_id_hint", language),
                id=f"{NATIONAL_ID}-hint",
                className="field-help",
            ),
            html.Div(id=NATIONAL_ID_MESSAGE, className="field-messages", **{"aria-live": "polite"}),
        ],
    )
    shown = translate("forms.patient", language, id=masked) if masked else ""
    return html.Section(
        className="form-patient",
        **{"aria-labelledby": "rf-patient-heading"},
        children=[
            html.H2(translate("forms.patient_heading", language), id="rf-patient-heading"),
            entry,
            html.P(shown, id=PATIENT),
        ],
    )


def unit_chooser(
    registry_key: str, form: str, units: frozenset[int], language: str
) -> html.Section:
    """Links to the form at each unit the registrar covers, by name."""
    names = unit_names()
    items = sorted((names.get(u, str(u)), u) for u in units)
    links = [
        html.Li(
            dcc.Link(name, href=urls.registration_form(registry_key, form, language, unit_id=u))
        )
        for name, u in items
    ]
    return html.Section(
        **{"aria-labelledby": "rf-units-heading"},
        children=[
            html.H2(translate("forms.choose_unit", language), id="rf-units-heading"),
            html.Ul(links),
        ],
    )


def refusal(key: str, language: str) -> html.P:
    return html.P(translate(key, language), id="rf-refusal", className="message")


def unit_names() -> dict[int, str]:
    units = read_units(database())
    return dict(zip(units["unit_id"].to_list(), units["name"].to_list(), strict=True))
