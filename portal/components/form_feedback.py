"""What a data-entry form says back: the error summary, save outcomes and the record's facts.

The summary lists every problem that stopped a save, each a link to its field (on this form)
or to the form that holds it, so a keyboard user gets from the list to the field in one step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dash import html
from dash.development.base_component import Component

from data_access.record_commands import RecordRejected
from entry.dictionary_model import Dictionary
from entry.record_rules import Issue
from entry.registry_folder import RegistryFolder
from portal import urls
from portal.components.form_fields import anchor_id
from portal.form_requests import FormContext
from portal.i18n import translate

SUMMARY_HEADING = "rf-summary-heading"


def error_summary(
    issues: Sequence[Issue],
    registry: RegistryFolder,
    form: str,
    language: str,
    registration_id: int | None,
) -> list[Component]:
    """The problems as links; empty when there are none."""
    if not issues:
        return []
    dictionary = registry.dictionary
    items = []
    for issue in issues:
        label, form_of = _label_and_form(dictionary, issue.variable, language)
        text = f"{label}: {issue.message.in_language(language)}"
        if form_of == form or form_of is None:
            href = f"#{anchor_id(issue.variable)}"
        else:
            href = urls.registration_form(registry.key, form_of, language, registration_id)
            text = f"{text} ({_form_title(registry, form_of, language)})"
        items.append(html.Li(html.A(text, href=href)))
    return [
        html.H2(translate("forms.summary", language, n=len(issues)), id=SUMMARY_HEADING),
        html.Ul(items),
    ]


def refused(
    refusal: RecordRejected, context: FormContext, language: str, reason: str | None
) -> dict[str, Any]:
    """The save callback's outputs for a refused save: the problems that block it, the event
    date it lacks, or the reason it still needs."""
    check = refusal.check
    if check is not None and not check.may_save:
        issues = [*check.errors, *check.unacknowledged]
        if check.target_status == "draft":
            issues = [issue for issue in check.errors if issue.blocks_draft]
        summary = error_summary(
            issues, context.registry, context.form, language, context.registration_id
        )
        message = translate("forms.not_saved_problems", language, n=len(issues))
        return {
            "status": outcome(message, ok=False),
            "summary": summary,
            "attempt": {"required": check.target_status == "complete"},
        }
    if check is not None and context.registry.event_date_variable not in check.values:
        return {"status": problem("forms.need_event_date", language, context.registry)}
    asks_reason = check is not None and not reason and context.status not in (None, "draft")
    key = "forms.reason_needed" if asks_reason else "forms.not_saved"
    return {"status": outcome(translate(key, language), ok=False), "reason_hidden": False}


def problem(key: str, language: str, registry: RegistryFolder | None = None) -> html.P:
    """A refusal by translation key; `{variable}` in it names the registry's event date."""
    event = registry.dictionary.variable(registry.event_date_variable) if registry else None
    label = event.label.in_language(language) if event else ""
    return outcome(translate(key, language, variable=label), ok=False)


def outcome(text: str, *, ok: bool, extra: Component | None = None) -> html.P:
    children: list[Component | str] = [text]
    if extra is not None:
        children += [" ", extra]
    return html.P(children, className="confirmation" if ok else "message")


def form_links(
    registry: RegistryFolder, current: str, language: str, registration_id: int | None
) -> list[Component]:
    """The registration's forms; the one shown is marked, the others linked once it exists."""
    items = []
    for form in registry.forms:
        title = form.title.in_language(language)
        if form.key == current:
            items.append(html.Li(html.Span(title, **{"aria-current": "page"})))
        elif registration_id is not None:
            href = urls.registration_form(registry.key, form.key, language, registration_id)
            items.append(html.Li(html.A(title, href=href)))
        else:
            items.append(html.Li(html.Span(title, className="unavailable")))
    return [html.Ul(items)]


def record_facts(status: str | None, version: int | None, language: str) -> str:
    if status is None:
        return translate("forms.status.new", language)
    return translate(
        "forms.status.line",
        language,
        status=translate(f"forms.status.{status}", language),
        version=version,
    )


def _label_and_form(dictionary: Dictionary, name: str, language: str) -> tuple[str, str | None]:
    try:
        variable = dictionary.variable(name)
    except KeyError:
        return name, None
    return variable.label.in_language(language), variable.form


def _form_title(registry: RegistryFolder, form: str, language: str) -> str:
    return next((f.title.in_language(language) for f in registry.forms if f.key == form), form)
