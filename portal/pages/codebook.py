"""The public codebook (kodebok / variabeloversikt): every variable of a registry's dictionary.

One table per form, in the reader's language, with show-if logic and validation rules in
words and the indicators that read each variable, so a researcher can interpret the data
without the dictionary file. Filters are plain links (`?registry=`, `?form=`), so the page
needs no callback and every view has an address.

The dictionary's version is the newest entry of the registry's change history
(`dictionary_changes.yaml`), shown with the file's fingerprint (a short SHA-256), which names
the exact file served; the history itself closes the page, newest first.
"""

from __future__ import annotations

import dash
from dash import dcc, html
from dash.development.base_component import Component

from entry.dictionary_history import DictionaryChange, DictionaryVersion
from entry.registry_folder import Form, RegistryFolder
from portal import urls
from portal.catalogue import dictionary_file, find_registry, installed_registries
from portal.components.codebook_facts import VariableFacts, dictionary_version, registry_facts
from portal.components.shell import page_frame
from portal.i18n import date_text, normalise_language, request_language, translate

PATH = "/codebook"
COLUMNS = (
    "variable", "label", "type", "choices", "unit", "bounds", "required", "shown_when",
    "validations", "indicators",
)  # fmt: skip

dash.register_page(
    __name__, path=PATH, title=lambda: translate("codebook.title", request_language())
)


def layout(
    lang: str | None = None, registry: str | None = None, form: str | None = None, **_query: str
) -> html.Div:
    language = normalise_language(lang)
    registries = installed_registries()
    content: list[Component] = []
    chosen = find_registry(registry)
    if chosen is None:
        content.append(html.H1(translate("codebook.title", language)))
        if registry:
            content.append(
                html.P(translate("codebook.unknown_registry", language, registry=registry))
            )
        else:
            content.append(html.P(translate("codebook.no_registries", language)))
        content.append(_registry_links(registries, None, language))
        return page_frame(language, PATH, content, {"registry": registry})
    query = {"registry": chosen.key, "form": form}
    return page_frame(language, PATH, _codebook(chosen, form, language), query)


def _codebook(registry: RegistryFolder, form: str | None, language: str) -> list[Component]:
    name = registry.name.in_language(language)
    forms = [f for f in registry.forms if f.key in registry.dictionary.forms]
    content: list[Component] = [
        html.H1(translate("codebook.heading", language, registry=name)),
        html.P(translate("codebook.intro", language), className="lead"),
        _version(registry, language),
        _downloads(registry, language),
    ]
    if len(installed_registries()) > 1:
        content.append(_registry_links(installed_registries(), registry.key, language))
    shown = [f for f in forms if f.key == form] or forms
    if form and len(shown) != 1:
        content.append(html.P(translate("codebook.unknown_form", language, form=form)))
    content.append(_form_links(registry, forms, form if len(shown) == 1 else None, language))
    facts = registry_facts(registry, language)
    for item in shown:
        rows = [f for f in facts if f.form == item.key]
        content.append(
            _form_table(registry.key, item.key, item.title.in_language(language), rows, language)
        )
    content.append(_history(registry.history, language))
    return content


def _version(registry: RegistryFolder, language: str) -> html.Div:
    """The version label from the change history, and the file's fingerprint, told apart."""
    fingerprint = dictionary_version(dictionary_file(registry))
    current = registry.dictionary_version
    if current is None:
        return html.Div(
            id="codebook-version",
            children=html.P(translate("codebook.version", language, version=fingerprint)),
        )
    return html.Div(
        id="codebook-version",
        children=[
            html.P(
                translate(
                    "codebook.version_label",
                    language,
                    version=current.version,
                    date=date_text(current.date, language),
                )
            ),
            html.P(translate("codebook.fingerprint", language, fingerprint=fingerprint)),
        ],
    )


def _history(versions: tuple[DictionaryVersion, ...], language: str) -> html.Section:
    """Endringshistorikk: every version, newest first, each change with its kind and variables."""
    children: list[Component] = [
        html.H2(translate("codebook.history", language), id="codebook-history")
    ]
    if not versions:
        children.append(html.P(translate("codebook.history_none", language)))
    else:
        children.append(html.P(translate("codebook.history_intro", language)))
    for position, version in enumerate(reversed(versions)):
        heading = translate(
            "codebook.history_version",
            language,
            version=version.version,
            date=date_text(version.date, language),
        )
        if position == 0:
            heading += f" – {translate('codebook.history_current', language)}"
        children += [
            html.H3(heading, id=f"codebook-history-{version.version.replace('.', '-')}"),
            html.Ul([_change(change, language) for change in version.changes]),
        ]
    return html.Section(
        **{"aria-labelledby": "codebook-history"},
        className="codebook-history",
        children=children,
    )


def _change(change: DictionaryChange, language: str) -> html.Li:
    parts: list[Component | str] = []
    if change.kind:
        parts += [html.Strong(translate(f"codebook.change.{change.kind}", language)), ": "]
    parts.append(change.text.in_language(language))
    if change.variables:
        parts += [" ", translate("codebook.history_variables", language), " "]
        for number, name in enumerate(change.variables):
            parts += [", " if number else "", html.Code(name)]
        parts.append(".")
    return html.Li(parts)


def _downloads(registry: RegistryFolder, language: str) -> html.Section:
    links = [
        ("csv", "codebook.download_csv"),
        ("xlsx", "codebook.download_xlsx"),
        ("redcap", "codebook.download_redcap"),
    ]
    return html.Section(
        **{"aria-labelledby": "codebook-downloads"},
        children=[
            html.H2(translate("codebook.downloads", language), id="codebook-downloads"),
            html.Ul(
                [
                    html.Li(
                        # A plain link: the file comes from a Flask route, not a Dash page.
                        html.A(
                            translate(text, language),
                            href=urls.codebook_file(registry.key, kind, language),
                            id=f"codebook-download-{kind}",
                        )
                    )
                    for kind, text in links
                ]
            ),
        ],
    )


def _registry_links(
    registries: tuple[RegistryFolder, ...], current: str | None, language: str
) -> html.Nav:
    return html.Nav(
        **{"aria-label": translate("codebook.registries", language)},
        children=html.Ul(
            [
                html.Li(
                    _link(
                        r.name.in_language(language),
                        urls.codebook(r.key, language),
                        r.key == current,
                    )
                )
                for r in registries
            ]
        ),
    )


def _form_links(
    registry: RegistryFolder, forms: list[Form], current: str | None, language: str
) -> html.Nav:
    choices = [(None, translate("codebook.all_forms", language))] + [
        (f.key, f.title.in_language(language)) for f in forms
    ]
    return html.Nav(
        **{"aria-label": translate("codebook.forms", language)},
        className="codebook-forms",
        children=html.Ul(
            [
                html.Li(_link(title, urls.codebook(registry.key, language, key), key == current))
                for key, title in choices
            ]
        ),
    )


def _link(text: str, href: str, current: bool) -> Component:
    """The current choice is marked for screen readers; dcc.Link cannot carry aria-current."""
    if current:
        return html.A(text, href=href, **{"aria-current": "page"}, className="current")
    return dcc.Link(text, href=href)


def _form_table(
    registry_key: str, form_key: str, title: str, rows: list[VariableFacts], language: str
) -> html.Section:
    heading_id = f"codebook-form-{form_key}"
    caption = translate("codebook.caption", language, form=title, n=len(rows))
    return html.Section(
        **{"aria-labelledby": heading_id},
        className="codebook-form",
        children=[
            html.H2(title, id=heading_id),
            # Wide tables scroll inside their own focusable region instead of the page.
            html.Div(
                role="region",
                tabIndex="0",
                **{"aria-label": translate("codebook.scroll_region", language, form=title)},
                style={"overflowX": "auto", "maxWidth": "100%"},
                children=html.Table(
                    id=f"codebook-table-{registry_key}-{form_key}",
                    className="codebook-table",
                    children=[
                        html.Caption(caption),
                        html.Thead(
                            html.Tr(
                                [
                                    html.Th(
                                        translate(f"codebook.column.{c}", language), scope="col"
                                    )
                                    for c in COLUMNS
                                ]
                            )
                        ),
                        html.Tbody([_row(facts, language) for facts in rows]),
                    ],
                ),
            ),
        ],
    )


def _row(facts: VariableFacts, language: str) -> html.Tr:
    shown_when: list[Component] | str = translate("codebook.always_shown", language)
    if facts.shown_when:
        shown_when = [
            html.Span(facts.shown_when),
            html.Br(),
            html.Code(facts.shown_when_expression),
        ]
    return html.Tr(
        id=f"codebook-variable-{facts.name}",
        children=[
            html.Td(html.Code(facts.name)),
            html.Td(facts.label),
            html.Td(facts.type),
            html.Td(_list(facts.choices)),
            html.Td(facts.unit),
            html.Td(facts.bounds),
            html.Td(facts.required),
            html.Td(shown_when),
            html.Td(_list(facts.validations)),
            html.Td(_list(facts.indicators)),
        ],
    )


def _list(items: tuple[str, ...]) -> html.Ul | str:
    return html.Ul([html.Li(item) for item in items]) if items else ""
