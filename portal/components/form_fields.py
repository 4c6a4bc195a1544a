"""The widgets of a data-entry form, one per dictionary type, each labelled and described.

Every field sits in a wrapper whose `hidden` the live check switches (show-if logic), has a
real <label> (or a <fieldset> and <legend> for a group of choices), its help text and unit,
and a message area next to it. The widget is linked to its help and its messages by
`aria-describedby`: html components carry it themselves; Dash's dcc inputs cannot, so their
wrapper names the ids in `data-describedby` and assets/forms.js copies it onto the input.

Component ids are pattern-matching ids (`{"type": FIELD, "name": variable}`), so one
callback serves every form of every registry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from dash import dcc, html
from dash._utils import stringify_id
from dash.development.base_component import Component

from entry.dictionary_model import Variable
from entry.record_rules import Issue
from portal.form_values import WidgetValue, warning_rules
from portal.i18n import translate

FIELD = "rf-field"  # the widget; its `value` is what the registrar entered
WRAP = "rf-wrap"  # the field's wrapper; `hidden` when show-if logic hides the field
MESSAGE = "rf-msg"  # the field's messages
CALCULATED = "rf-calc"  # a calculated field's value
ACKNOWLEDGE = "rf-ack"  # a checklist of the field's warnings, by rule id
ACKNOWLEDGE_WRAP = "rf-ackwrap"

FORMAT_HINTS = {
    "date": "forms.hint.date",
    "datetime": "forms.hint.datetime",
    "time": "forms.hint.time",
}


def field_id(kind: str, name: str) -> dict[str, str]:
    return {"type": kind, "name": name}


def anchor_id(name: str) -> str:
    """The plain id of a field's box: the target of the error summary's links."""
    return f"rf-f-{name}"


def form_fields(
    variables: Sequence[Variable],
    values: Mapping[str, WidgetValue],
    language: str,
    *,
    hidden: Iterable[str],
    calculated: Mapping[str, str],
    issues: Mapping[str, Sequence[Issue]],
    acknowledged: Iterable[str],
    disabled: bool,
) -> list[Component]:
    """The fields of a form, grouped under the dictionary's section headers (<h2>)."""
    hidden, acknowledged = frozenset(hidden), frozenset(acknowledged)
    groups: list[tuple[str | None, list[Component]]] = [(None, [])]
    for variable in variables:
        if variable.section is not None:
            groups.append((variable.section.in_language(language), []))
        groups[-1][1].append(
            field(
                variable,
                values.get(variable.name),
                language,
                hidden=variable.name in hidden,
                calculated=calculated.get(variable.name, ""),
                issues=issues.get(variable.name, ()),
                acknowledged=acknowledged,
                disabled=disabled,
            )
        )
    content: list[Component] = []
    for number, (heading, children) in enumerate(groups):
        if heading is None:
            content.extend(children)
            continue
        heading_id = f"rf-section-{number}"
        content.append(
            html.Section(
                className="form-section",
                **{"aria-labelledby": heading_id},
                children=[html.H2(heading, id=heading_id), *children],
            )
        )
    return content


def field(
    variable: Variable,
    value: WidgetValue,
    language: str,
    *,
    hidden: bool,
    calculated: str,
    issues: Sequence[Issue],
    acknowledged: frozenset[str],
    disabled: bool,
) -> html.Div:
    """The field in its wrapper, which logic hides and shows."""
    box = field_box(
        variable,
        value,
        language,
        calculated=calculated,
        issues=issues,
        acknowledged=acknowledged,
        disabled=disabled,
    )
    return html.Div(
        id=field_id(WRAP, variable.name), hidden=hidden, className="form-field", children=box
    )


def field_box(
    variable: Variable,
    value: WidgetValue,
    language: str,
    *,
    calculated: str = "",
    issues: Sequence[Issue] = (),
    acknowledged: frozenset[str] = frozenset(),
    disabled: bool = False,
) -> Component:
    """The label, widget, help, messages and acknowledgements of one field.

    Drawn anew, empty, when logic hides a field that holds a value: that is how the value
    is cleared on screen (the rules already store it as skipped).
    """
    name = variable.name
    if variable.type == "descriptive":
        return html.P(variable.label.in_language(language), className="descriptive")
    help_id, message_id = f"rf-h-{name}", f"rf-m-{name}"
    described = " ".join([*([help_id] if variable.help else []), message_id])
    extras: list[Component] = []
    if variable.help:
        extras.append(
            html.P(variable.help.in_language(language), id=help_id, className="field-help")
        )
    extras.append(
        html.Div(
            id=message_id,
            className="field-messages",
            **{"aria-live": "polite"},
            children=html.Div(id=field_id(MESSAGE, name), children=messages(issues, language)),
        )
    )
    extras.extend(_acknowledgement(variable, issues, acknowledged, language, disabled))
    label = _label_text(variable, language)
    if variable.type in ("yesno", "single", "multiple"):
        return html.Fieldset(
            id=anchor_id(name),
            className="form-field-box choice",
            **{"aria-describedby": described},
            children=[html.Legend(label), _choices(variable, value, language, disabled), *extras],
        )
    widget = (
        html.Output(calculated, id=field_id(CALCULATED, name), className="calculated")
        if variable.type == "calculated"
        else _text_widget(variable, value, disabled)
    )
    target = stringify_id(field_id(CALCULATED if variable.type == "calculated" else FIELD, name))
    return html.Div(
        id=anchor_id(name),
        className="form-field-box",
        **{"data-describedby": described},
        children=[html.Label(label, htmlFor=target), widget, *extras],
    )


def messages(issues: Sequence[Issue], language: str) -> list[Component]:
    """Each finding in the reader's language, its kind spelled out (never colour alone)."""
    return [
        html.P(
            className=f"field-{issue.severity}",
            children=[
                html.Strong(translate(f"forms.severity.{issue.severity}", language)),
                " ",
                issue.message.in_language(language),
            ],
        )
        for issue in issues
    ]


def _label_text(variable: Variable, language: str) -> list[Component | str]:
    parts: list[Component | str] = [variable.label.in_language(language)]
    if variable.unit:
        parts.append(f" ({variable.unit})")
    if variable.type in FORMAT_HINTS:
        parts += [
            " ",
            html.Span(translate(FORMAT_HINTS[variable.type], language), className="hint"),
        ]
    if variable.required:
        parts += [" ", html.Span(translate("forms.required_mark", language), className="required")]
    return parts


def _text_widget(variable: Variable, value: WidgetValue, disabled: bool) -> Component:
    identity = field_id(FIELD, variable.name)
    text = value if isinstance(value, str) else ""
    if variable.type == "notes":
        return dcc.Textarea(id=identity, value=text, disabled=disabled, className="notes", rows=4)
    numeric = variable.type == "integer"
    return dcc.Input(
        id=identity,
        type="text",
        value=text,
        debounce=True,
        disabled=disabled,
        autoComplete="off",
        inputMode="numeric" if numeric else None,
        className=f"input-{variable.type}",
    )


def _choices(variable: Variable, value: WidgetValue, language: str, disabled: bool) -> Component:
    if variable.type == "yesno":
        options = [("1", translate("forms.yes", language)), ("0", translate("forms.no", language))]
    else:
        options = [(c.code, c.label.in_language(language)) for c in variable.choices]
    items = [{"label": label, "value": code, "disabled": disabled} for code, label in options]
    identity = field_id(FIELD, variable.name)
    if variable.type == "multiple":
        chosen = value if isinstance(value, list) else []
        return dcc.Checklist(id=identity, options=items, value=chosen, className="choices")
    return dcc.RadioItems(
        id=identity,
        options=items,
        value=value if isinstance(value, str) else None,
        className="choices",
    )


def _acknowledgement(
    variable: Variable,
    issues: Sequence[Issue],
    acknowledged: frozenset[str],
    language: str,
    disabled: bool,
) -> list[Component]:
    """A checkbox per warning rule of the field, shown while that warning fires."""
    rules = warning_rules(variable)
    if not rules:
        return []
    fired = {issue.rule for issue in issues if issue.severity == "warning"}
    options = [
        {"label": translate("forms.acknowledge", language), "value": rule, "disabled": disabled}
        for rule in rules
    ]
    return [
        html.Div(
            id=field_id(ACKNOWLEDGE_WRAP, variable.name),
            hidden=not fired,
            className="acknowledge",
            children=dcc.Checklist(
                id=field_id(ACKNOWLEDGE, variable.name),
                options=options,
                value=[rule for rule in rules if rule in acknowledged],
            ),
        )
    ]
