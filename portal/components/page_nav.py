"""Previous / "page N of M" / next links under a long list, as a named navigation landmark.

Shared by every list that is read a page at a time (the registrar's list, the drill-down),
so they look and read alike to a screen reader: the current page carries `aria-current`.
"""

from __future__ import annotations

from collections.abc import Callable

from dash import dcc, html
from dash.development.base_component import Component

from portal.i18n import translate


def page_nav(page: int, pages: int, href: Callable[[int], str], language: str) -> html.Nav:
    """Links to the pages before and after `page`; `href(n)` is the address of page n."""

    def link(number: int, key: str) -> html.Li:
        return html.Li(dcc.Link(translate(key, language), href=href(number)))

    items: list[Component] = []
    if page > 1:
        items.append(link(page - 1, "pager.previous"))
    items.append(
        html.Li(
            translate("pager.page_of", language, page=page, pages=pages),
            **{"aria-current": "page"},
        )
    )
    if page < pages:
        items.append(link(page + 1, "pager.next"))
    return html.Nav(
        **{"aria-label": translate("pager.pages", language)},
        className="page-nav",
        children=html.Ul(items),
    )
