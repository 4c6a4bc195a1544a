"""The methods page: docs/methods.md, the reader's language section, as a web page.

The file is the one source of the methods text; this page shows its bokmål or English
section with a stable anchor on each topic that other pages link to
(`urls.methods(language, "funnel")`), and the developers' section (in English only).
Markdown is rendered by `dcc.Markdown` with raw HTML switched off, so the file cannot bring
a script or an inline handler past the content security policy.
"""

from __future__ import annotations

import dash
from dash import dcc, html
from dash.development.base_component import Component

from portal.components.methods_text import METHODS_FILE, methods_text
from portal.components.shell import page_frame
from portal.i18n import normalise_language, request_language, translate

PATH = "/methods"

dash.register_page(
    __name__, path=PATH, title=lambda: translate("methods_page.title", request_language())
)


def layout(lang: str | None = None, **_query: str) -> html.Div:
    language = normalise_language(lang)
    content: list[Component] = [html.H1(translate("methods_page.heading", language))]
    if not METHODS_FILE.exists():
        content.append(html.P(translate("methods_page.missing", language)))
        return page_frame(language, PATH, content)
    text = methods_text(METHODS_FILE, METHODS_FILE.stat().st_mtime_ns)
    topics = text.en if language == "en" else text.nb
    content.append(
        html.Nav(
            **{"aria-labelledby": "methods-contents"},
            className="methods-contents",
            children=[
                html.H2(translate("methods_page.contents", language), id="methods-contents"),
                html.Ul([html.Li(html.A(t.title, href=f"#{t.anchor}")) for t in topics]),
            ],
        )
    )
    content += [
        html.Section(
            className="methods-topic",
            **{"aria-labelledby": topic.anchor},
            children=[
                html.H2(topic.title, id=topic.anchor, tabIndex="-1"),
                dcc.Markdown(topic.body, dangerously_allow_html=False),
            ],
        )
        for topic in topics
    ]
    if text.developers:
        content.append(
            html.Section(
                className="methods-developers",
                **{"aria-labelledby": "developers"},
                lang="en",
                children=[
                    html.H2(text.developers_title, id="developers", tabIndex="-1"),
                    html.P(translate("methods_page.developers_note", language), lang=language),
                    dcc.Markdown(text.developers, dangerously_allow_html=False),
                ],
            )
        )
    return page_frame(language, PATH, content)
