"""The landing page: the registries on this installation, each with its key numbers, a way
into its results, and the indicators it measures."""

from __future__ import annotations

from datetime import date

import dash
from dash import dcc, html

from entry.registry_folder import RegistryFolder
from indicators import Indicator
from portal import urls
from portal.catalogue import installed_registries
from portal.components.shell import page_frame
from portal.extensions import installed_extension
from portal.i18n import normalise_language, number, percent, request_language, translate
from portal.public_data import public_frame
from portal.registry_key_numbers import KeyNumbers, key_numbers

dash.register_page(__name__, path="/", title=lambda: translate("app.title", request_language()))


def layout(lang: str | None = None, **_query: str) -> html.Div:
    language = normalise_language(lang)
    registries = installed_registries()
    content: list[dash.development.base_component.Component] = [
        html.H1(translate("home.heading", language)),
        html.P(translate("home.intro", language), className="lead"),
    ]
    if not registries:
        content.append(html.P(translate("home.no_registries", language)))
    content += [_registry_section(registry, language) for registry in registries]
    return page_frame(language, "/", content)


def _registry_section(registry: RegistryFolder, language: str) -> html.Section:
    heading_id = f"registry-{registry.key}"
    return html.Section(
        **{"aria-labelledby": heading_id},
        className="registry",
        children=[
            html.H2(registry.name.in_language(language), id=heading_id),
            html.P(registry.description.in_language(language)),
            *_key_numbers_list(registry, language),
            _registry_link(registry, "results", urls.results(registry.key, language), language),
            _registry_link(registry, "codebook", urls.codebook(registry.key, language), language),
            *_extension_links(registry, language),
            html.H3(translate("home.indicators", language)),
            html.Ul(
                className="indicator-list",
                children=[_indicator_item(i, language) for i in registry.indicators],
            ),
        ],
    )


def _registry_link(registry: RegistryFolder, kind: str, href: str, language: str) -> html.P:
    name = registry.name.in_language(language)
    text = translate(f"home.{kind}_link", language, registry=name)
    return html.P(dcc.Link(text, href=href, id=f"{kind}-link-{registry.key}"))


def _extension_links(registry: RegistryFolder, language: str) -> list[html.P]:
    """The registry's own public pages (registry extensions, docs/extensions.md)."""
    extension = installed_extension(registry.key)
    if extension is None:
        return []
    return [
        html.P(
            dcc.Link(
                page.title.in_language(language),
                href=urls.page_url(page.path, language),
                id=f"extension-link-{registry.key}-{page.suffix}",
            )
        )
        for page in extension.pages.values()
        if page.roles is None
    ]


def _indicator_item(indicator: Indicator, language: str) -> html.Li:
    facts = [
        translate(f"home.type.{indicator.type}", language),
        translate(
            "home.higher_better" if indicator.direction == "higher" else "home.lower_better",
            language,
        ),
        _targets_text(indicator, language),
        translate("home.min_denominator", language, n=indicator.min_denominator),
    ]
    if indicator.risk_model is not None:
        facts.insert(1, translate("home.risk_adjusted", language))
    return html.Li(
        className="indicator",
        id=f"indicator-{indicator.key}",
        children=[
            html.H4(indicator.title.in_language(language)),
            html.P(indicator.description.in_language(language)),
            html.P(" · ".join(facts), className="indicator-facts"),
        ],
    )


def _targets_text(indicator: Indicator, language: str) -> str:
    targets = indicator.targets
    if targets is None:
        return translate("home.no_targets", language)
    sign = "≥" if indicator.direction == "higher" else "≤"
    if indicator.type == "proportion":
        high, moderate = percent(targets.high, language), percent(targets.moderate, language)
    else:
        high, moderate = f"{targets.high:g}", f"{targets.moderate:g}"
    return (
        f"{translate('home.target_high', language)} {sign} {high}, "
        f"{translate('home.target_moderate', language)} {sign} {moderate}"
    )


def _key_numbers_list(registry: RegistryFolder, language: str) -> list[html.Dl]:
    found = key_numbers(public_frame(registry), len(registry.indicators), date.today().year)
    return [] if found is None else [_key_numbers_view(found, registry.key, language)]


def _key_numbers_view(numbers: KeyNumbers, registry_key: str, language: str) -> html.Dl:
    """A description list: screen readers read each figure with its label."""
    pairs = [
        ("home.key.year", str(numbers.year)),
        ("home.key.registrations", number(numbers.registrations, language, 0)),
        ("home.key.hospitals", number(numbers.hospitals, language, 0)),
        ("home.key.indicators", number(numbers.indicators, language, 0)),
        (
            "home.key.high",
            translate(
                "home.key.high_value",
                language,
                high=numbers.high_nationally,
                of=numbers.with_targets,
            ),
        ),
    ]
    return html.Dl(
        className="key-numbers",
        id=f"key-numbers-{registry_key}",
        children=[
            html.Div([html.Dt(translate(label, language, year=numbers.year)), html.Dd(value)])
            for label, value in pairs
        ],
    )
