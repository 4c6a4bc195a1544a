"""The application factory: `python app.py` serves the portal, `flask --app app …` runs commands."""

from __future__ import annotations

import flask

import portal
from data_access.database import Database
from portal import backup_schedule, commands, extension_loader, logging_setup, setup
from portal.settings import Settings


def create_app(settings: Settings | None = None) -> flask.Flask:
    """Build the whole application; tests pass their own settings (database, keys, paths)."""
    settings = settings or Settings.from_environ()
    server = flask.Flask(__name__, instance_path=str(settings.instance_path), static_folder=None)
    logging_setup.init_app(server, settings)  # first: its hooks wrap every other one
    server.config.update(
        SECRET_KEY=settings.secret_key,
        PORTAL_SETTINGS=settings,
    )
    if settings.is_sqlite:
        settings.instance_path.mkdir(parents=True, exist_ok=True)
    database = Database(settings.database_url)
    server.extensions["database"] = database
    portal.init_app(server, settings)
    extension_loader.init_app(server)  # after Dash: registry pages join its page registry
    commands.init_app(server)
    backup_schedule.init_app(server, settings, database)
    setup.prepare_on_start(server, settings, database)
    return server


def main() -> None:
    server = create_app()
    if server.config["PORTAL_SETTINGS"].seed_demo_if_empty:
        setup.seed_empty_demo_registries(server)
    portal.ready_to_serve(server)
    server.run(
        host="127.0.0.1",
        port=8050,
        debug=False,
        request_handler=logging_setup.DevServerRequestHandler,
    )


if __name__ == "__main__":
    main()
