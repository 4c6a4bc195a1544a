"""What a protected page shows instead of its content to someone who is not logged in."""

from __future__ import annotations

from dash import html

from portal import urls
from portal.i18n import translate


def login_prompt(language: str, path: str) -> html.Div:
    return html.Div(
        className="login-prompt",
        id="login-prompt",
        children=[
            html.P(translate("login.required", language)),
            html.A(
                translate("shell.login", language),
                href=urls.page_url("/login", language, next=path),
            ),
        ],
    )
