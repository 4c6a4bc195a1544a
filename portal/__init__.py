"""The web portal: Dash pages on the Flask server, in bokmål and English."""

from __future__ import annotations

from pathlib import Path

import dash
import flask

from portal import (
    api,
    auth,
    catalogue,
    codebook_downloads,
    exports,
    health,
    page_cache,
    prom_pages,
    render_slots,
    results_downloads,
)
from portal.components import permalink
from portal.i18n import request_language, translate
from portal.reports import unsubscribe as report_unsubscribe
from portal.settings import PROJECT_ROOT, Settings

PAGES_FOLDER = Path(__file__).resolve().parent / "pages"
ASSETS_FOLDER = PROJECT_ROOT / "assets"

# Dash's own index wraps its scripts in a <footer>, which assistive technology announces as a
# second, empty page footer (contentinfo landmark) beside the portal's real one; a plain <div>
# carries the scripts here instead.
INDEX_STRING = """<!DOCTYPE html>
<html>
    <head>
        {%metas%}
        <title>{%title%}</title>
        {%favicon%}
        {%css%}
    </head>
    <body>
        {%app_entry%}
        <div id="dash-scripts">
            {%config%}
            {%scripts%}
            {%renderer%}
        </div>
    </body>
</html>"""


class PortalDash(dash.Dash):
    """Dash with the served page's language on `<html lang>` (WCAG 3.1.1) and a real title."""

    def interpolate_index(self, **kwargs: str) -> str:
        language = request_language()
        kwargs["title"] = translate("app.title", language)
        page = super().interpolate_index(**kwargs)
        return page.replace("<html>", f'<html lang="{language}">', 1)


def init_app(server: flask.Flask, settings: Settings) -> dash.Dash:
    catalogue.init_app(server, settings)
    app = PortalDash(
        __name__,
        server=server,
        use_pages=True,
        pages_folder=str(PAGES_FOLDER),
        assets_folder=str(ASSETS_FOLDER),
        title=translate("app.title", "nb"),
        update_title=None,
        # Pages bring their own callbacks; ids of other pages are absent from the current one.
        suppress_callback_exceptions=True,
        index_string=INDEX_STRING,
        meta_tags=[
            {"name": "viewport", "content": "width=device-width, initial-scale=1"},
            {"name": "description", "content": translate("app.tagline", "nb")},
        ],
    )
    app.layout = dash.html.Div(dash.page_container)
    permalink.register_callback(app)
    server.extensions["dash"] = app
    server.register_blueprint(codebook_downloads.blueprint)
    server.register_blueprint(exports.blueprint)
    server.register_blueprint(results_downloads.blueprint)
    health.init_app(server)
    auth.init_app(server, settings, app)
    api.init_app(server)  # after auth: the API uses its CSRF guard and rate limiter
    prom_pages.init_app(server)  # after auth: CSRF and the rate limiter
    report_unsubscribe.init_app(server)  # after auth: CSRF and the rate limiter
    page_cache.init_app(server)  # after auth: only requests the guard let through
    render_slots.init_app(server, settings.render_slots, settings.render_nice)
    return app


def ready_to_serve(server: flask.Flask) -> None:
    """Make the first request of a process that serves, before anyone else does.

    Dash completes its callbacks on a process's first request, under no lock, so a worker
    whose threads took their first requests together could fail one of them (seen under the
    load benchmark: `RuntimeError: dictionary changed size during iteration`, a 500). Not
    done in the factory itself: a command such as `flask backup` makes the application too,
    and a first request starts the backup schedule (`portal/backup_schedule.py`)."""
    server.test_client().get("/_dash-layout")
