"""Shown for any address that is not a page, in the reader's language."""

from __future__ import annotations

import dash
from dash import dcc, html

from portal import urls
from portal.components.shell import page_frame
from portal.i18n import normalise_language, request_language, translate

dash.register_page(__name__, title=lambda: translate("not_found.heading", request_language()))


def layout(lang: str | None = None, **_query: str) -> html.Div:
    language = normalise_language(lang)
    return page_frame(
        language,
        "/",
        [
            html.H1(translate("not_found.heading", language)),
            html.P(translate("not_found.body", language)),
            dcc.Link(translate("shell.home", language), href=urls.home(language)),
        ],
    )
