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
