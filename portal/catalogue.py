"""The registries this installation serves, read once at start-up and kept on the Flask app."""

from __future__ import annotations

import flask

from entry.registry_folder import RegistryFolder, discover_registries
from portal.settings import Settings

EXTENSION_KEY = "registries"


def init_app(app: flask.Flask, settings: Settings) -> None:
    app.extensions[EXTENSION_KEY] = discover_registries(settings.registries_path)


def installed_registries() -> tuple[RegistryFolder, ...]:
    """Empty outside a request, because Dash calls page layouts once to validate callbacks."""
    if not flask.has_app_context():
        return ()
    registries: tuple[RegistryFolder, ...] = flask.current_app.extensions[EXTENSION_KEY]
    return registries
