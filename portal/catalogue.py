"""The registries this installation serves, read once at start-up and kept on the Flask app."""

from __future__ import annotations

import flask

from entry.registry_folder import RegistryFolder, discover_registries
from portal.settings import Settings

EXTENSION_KEY = "registries"
DICTIONARY_FILES_KEY = "registry_dictionary_files"


def init_app(app: flask.Flask, settings: Settings) -> None:
    registries = discover_registries(settings.registries_path)
    app.extensions[EXTENSION_KEY] = registries
    # The bytes of each dictionary.csv, read once alongside the parsed dictionary, so the
    # download and the version shown always match what this process serves.
    app.extensions[DICTIONARY_FILES_KEY] = {
        r.key: r.dictionary_path.read_bytes() for r in registries
    }


def installed_registries() -> tuple[RegistryFolder, ...]:
    """Empty outside a request, because Dash calls page layouts once to validate callbacks."""
    if not flask.has_app_context():
        return ()
    registries: tuple[RegistryFolder, ...] = flask.current_app.extensions[EXTENSION_KEY]
    return registries


def find_registry(key: str | None) -> RegistryFolder | None:
    """The installed registry named `key`; the first one when no key is given (a page
    without `?registry=` shows the installation's first registry)."""
    registries = installed_registries()
    if not key:
        return registries[0] if registries else None
    return next((r for r in registries if r.key == key), None)


def dictionary_file(registry: RegistryFolder) -> bytes:
    """The registry's dictionary.csv as read at start-up, byte for byte."""
    files: dict[str, bytes] = flask.current_app.extensions[DICTIONARY_FILES_KEY]
    return files[registry.key]
