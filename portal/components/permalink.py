"""The copy-link button: puts the page's current address, with every filter, on the clipboard.

Every view of a results page lives in its URL, so the address *is* the permalink. The copy
runs in the browser (a clientside callback whose code is `assets/permalink.js`, since the
CSP allows no inline script) and the outcome is announced in a polite live region, so a
screen-reader user hears "Lenke kopiert" / "Link copied".
"""

from __future__ import annotations

import dash
from dash import ClientsideFunction, Input, Output, html

from portal.auth.guard import guarded_clientside_callback
from portal.i18n import translate

BUTTON_ID = "permalink-copy"
STATUS_ID = "permalink-status"


def copy_link_button(language: str) -> html.Div:
    """The button and its status region; the texts ride along as data attributes."""
    return html.Div(
        className="permalink",
        children=[
            html.Button(
                translate("permalink.copy", language),
                id=BUTTON_ID,
                type="button",
                className="permalink-button",
                n_clicks=0,
                **{
                    "data-copied": translate("permalink.copied", language),
                    "data-failed": translate("permalink.failed", language),
                },
            ),
            html.Span(
                id=STATUS_ID,
                role="status",
                className="permalink-status",
                **{"aria-live": "polite", "aria-atomic": "true"},
            ),
        ],
    )


def register_callback(app: dash.Dash) -> None:
    """Registered on each application, not at import: the button belongs to several pages,
    and a module imported once per process would give its callback only to the first
    application made in that process (Dash re-runs page modules per application, not the
    components they import)."""
    guarded_clientside_callback(
        "public",
        ClientsideFunction(namespace="portal", function_name="copyLink"),
        Output(STATUS_ID, "children"),
        Input(BUTTON_ID, "n_clicks"),
        prevent_initial_call=True,
        app=app,
    )
