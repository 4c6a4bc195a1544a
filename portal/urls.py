"""The one place that builds the portal's URLs, so language and filters never drift apart."""

from __future__ import annotations

from urllib.parse import urlencode

from portal.i18n import DEFAULT_LANGUAGE


def page_url(path: str, language: str, **query: str | int | None) -> str:
    """A page address with its query; bokmål is the default and so is left out of the URL."""
    params = {k: v for k, v in sorted(query.items()) if v is not None and v != ""}
    if language != DEFAULT_LANGUAGE:
        params = {"lang": language, **params}
    return f"{path}?{urlencode(params)}" if params else path


def home(language: str) -> str:
    return page_url("/", language)


def codebook(registry_key: str | None, language: str, form: str | None = None) -> str:
    """The codebook page; without a registry it shows the installation's first one."""
    return page_url("/codebook", language, registry=registry_key, form=form)


def codebook_file(registry_key: str, kind: str, language: str) -> str:
    """A codebook download: `kind` is "csv", "xlsx" or "redcap" (plain Flask routes)."""
    name = f"{registry_key}-redcap.csv" if kind == "redcap" else f"{registry_key}.{kind}"
    return page_url(f"/codebook/{name}", language)


# Public results (issue 6). Every filter of a page is a query parameter, so an address
# reproduces the view exactly; `filters` are the page's own (year, level, sort, view, ...).
def results(registry_key: str, language: str, **filters: str | int | None) -> str:
    """The registry's overview of every indicator."""
    return page_url("/results", language, registry=registry_key, **filters)


def indicator(
    registry_key: str, indicator_key: str, language: str, **filters: str | int | None
) -> str:
    """One indicator: units with intervals against the nation, trend, funnel, table."""
    return page_url(
        "/results/indicator", language, registry=registry_key, indicator=indicator_key, **filters
    )


def unit_profile(
    registry_key: str, unit_id: int, language: str, **filters: str | int | None
) -> str:
    """One unit's profile (sykehusprofil): every indicator against the nation and region."""
    return page_url("/results/unit", language, registry=registry_key, unit=unit_id, **filters)


def methods(language: str, section: str | None = None) -> str:
    """The methods page; `section` is the anchor of one topic (interval, funnel, ...)."""
    address = page_url("/methods", language)
    return f"{address}#{section}" if section else address


def results_file(
    registry_key: str, name: str, kind: str, language: str, **filters: str | int | None
) -> str:
    """Public results as a file (a plain Flask route): `name` is an indicator key, or "all"
    for every indicator of the registry; `kind` is "csv" or "xlsx"."""
    return page_url(f"/results/{registry_key}/{name}.{kind}", language, **filters)


# Logged-in pages (issues 4 and 7).
def registrations(registry_key: str, language: str, **filters: str | int | None) -> str:
    """The registrar's list of the user's units' registrations."""
    return page_url("/registrations", language, registry=registry_key, **filters)


def registration_form(
    registry_key: str,
    form: str,
    language: str,
    registration_id: int | None = None,
    unit_id: int | None = None,
) -> str:
    """A data-entry form: an existing registration by id, or a new one at `unit_id`."""
    return page_url(
        "/registrations/form",
        language,
        registry=registry_key,
        form=form,
        id=registration_id,
        unit=unit_id,
    )


def import_file(registry_key: str | None, language: str) -> str:
    """The registrar's file import (issue 8); without a registry, the first one allowed."""
    return page_url("/import", language, registry=registry_key)


def export(registry_key: str, language: str) -> str:
    """The analyst export page."""
    return page_url("/export", language, registry=registry_key)


def export_file(registry_key: str, fmt: str, language: str, **choices: str | None) -> str:
    """An export's file (a streamed Flask route); `choices` as portal/export_request.py reads."""
    return page_url(f"/export/{registry_key}.{fmt}", language, **choices)


def my_unit(registry_key: str | None, language: str, **filters: str | int | None) -> str:
    """The logged-in user's own unit against the nation, region and peers (issue 7)."""
    return page_url("/my-unit", language, registry=registry_key, **filters)


def drill_down(
    registry_key: str,
    unit_id: int,
    indicator_key: str,
    year: int,
    language: str,
    **filters: str | int | None,
) -> str:
    """The own unit's registrations behind one indicator's result in one year (issue 7)."""
    return page_url(
        "/my-unit/patients",
        language,
        registry=registry_key,
        unit=unit_id,
        indicator=indicator_key,
        year=year,
        **filters,
    )


# Patient questionnaires (issue 9): no login, the link's secret is the path. Without a
# language the page opens in the language the invitation was written in; a chosen one is
# always named, since that default may be nynorsk or English.
def prom(
    token: str, language: str | None = None, *, base: str = "", **query: str | int | None
) -> str:
    """A questionnaire link; `base` (the public address) for links that leave the site."""
    params = {k: v for k, v in sorted(query.items()) if v is not None and v != ""}
    if language is not None:
        params = {"lang": language, **params}
    path = f"{base}/prom/{token}"
    return f"{path}?{urlencode(params)}" if params else path


def prom_opt_out(token: str, language: str | None = None, *, base: str = "") -> str:
    """Where a patient declines the questionnaire (and its reminders)."""
    path = f"{base}/prom/{token}/opt-out"
    return f"{path}?{urlencode({'lang': language})}" if language is not None else path


def prom_thanks(language: str) -> str:
    return f"/prom/thanks?{urlencode({'lang': language})}"


# Report subscriptions (issue 10): each report e-mail's unsubscribe link; no login, the
# link's signature is the credential.
def report_unsubscribe(token: str, language: str | None = None, *, base: str = "") -> str:
    path = f"{base}/reports/unsubscribe/{token}"
    return f"{path}?{urlencode({'lang': language})}" if language is not None else path
