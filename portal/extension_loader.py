"""Loading registry extensions at start-up: all of them, checked, or none (docs/extensions.md).

Each installed registry's `extension.py` is imported and its `register(registry)` called with
a `RegistryExtension` that only records. When every extension has registered without fault,
the pages go into Dash's page registry and the callbacks through `guarded_callback`. Any
fault (the file does not import, `register` is missing, takes the wrong arguments or raises,
a path is taken, a page or callback lacks an access decision, a callback was registered
around the interface) raises `RegistryExtensionError` naming the registry and the file, and
Dash's registries are put back as they were, so no part of a broken extension is served.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Final

import dash
import flask
from dash import _callback

from entry.registry_folder import RegistryFolder
from portal import catalogue
from portal.auth import guard
from portal.extension_access import guard_callback, serve_page
from portal.extensions import (
    LOADED_KEY,
    ExtensionDefinitionError,
    LoadedExtension,
    RegistryExtension,
    RegistryExtensionError,
)
from portal.i18n import request_language
from portal.settings import PROJECT_ROOT

EXTENSION_FILE: Final = "extension.py"
MODULE_PREFIX: Final = "registry_extensions"
"""Names of extension pages in Dash's page registry (and of the imported files)."""


def init_app(server: flask.Flask) -> None:
    registries: tuple[RegistryFolder, ...] = server.extensions[catalogue.EXTENSION_KEY]
    with _rolled_back_on_error():
        recorded = [
            _registered(registry, registry.path / EXTENSION_FILE)
            for registry in registries
            if (registry.path / EXTENSION_FILE).exists()
        ]
        for extension in recorded:
            _commit(extension)
    server.extensions[LOADED_KEY] = MappingProxyType(
        {
            e.key: LoadedExtension(
                e.registry, MappingProxyType(dict(e.pages)), MappingProxyType(dict(e.figures))
            )
            for e in recorded
        }
    )


def _registered(registry: RegistryFolder, file: Path) -> RegistryExtension:
    """The extension's registrations, recorded without touching Dash."""
    fail = _failure(registry, file)
    try:
        module = _import(registry, file)
    except Exception as error:  # whatever the file does wrong, start-up must say where
        raise fail(f"cannot be imported: {type(error).__name__}: {error}") from error
    register = getattr(module, "register", None)
    if not callable(register):
        raise fail("defines no register(registry) function")
    extension = RegistryExtension(registry)
    try:
        inspect.signature(register).bind(extension)
    except (TypeError, ValueError) as error:
        raise fail(f"register must take one argument, the registry ({error})") from error
    before = _dash_fingerprint()
    try:
        register(extension)
    except ExtensionDefinitionError as error:
        raise fail(str(error)) from error
    except Exception as error:
        raise fail(f"register() failed: {type(error).__name__}: {error}") from error
    if _dash_fingerprint() != before:
        raise fail(
            "registered a page or callback with Dash directly; use registry.page and "
            "registry.callback, which carry the access decision"
        )
    return extension


def _dash_fingerprint() -> tuple[object, ...]:
    """Which page and callback entries Dash holds (by identity: a replaced page counts too)."""
    return (
        tuple((module, id(page)) for module, page in dash.page_registry.items()),
        tuple(id(c) for c in _callback.GLOBAL_CALLBACK_LIST),
        tuple((output, id(c)) for output, c in _callback.GLOBAL_CALLBACK_MAP.items()),
    )


def _import(registry: RegistryFolder, file: Path) -> ModuleType:
    """A fresh module per application, as Dash imports its page files."""
    spec = importlib.util.spec_from_file_location(f"{MODULE_PREFIX}.{registry.key}", file)
    if spec is None or spec.loader is None:
        raise ImportError(f"no loader for {file}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _commit(extension: RegistryExtension) -> None:
    key = extension.key
    fail = _failure(extension.registry, extension.registry.path / EXTENSION_FILE)
    taken = {
        page["path"]: module
        for module, page in dash.page_registry.items()
        if not module.startswith(f"{MODULE_PREFIX}.{key}.")
    }
    for page in extension.pages.values():
        if page.path in taken:
            raise fail(f"page {page.path}: the path is already taken by {taken[page.path]}")
        title = page.title
        dash.register_page(  # type: ignore[no-untyped-call]
            f"{MODULE_PREFIX}.{key}.{page.suffix.replace('-', '_')}",
            path=page.path,
            title=lambda title=title: title.in_language(request_language()),
            layout=functools.partial(serve_page, key, page.suffix),
        )
    outputs: set[str] = set()
    for callback in extension.callbacks:
        requirement: guard.Requirement = "public" if callback.roles is None else "authenticated"
        checked = guard_callback(key, callback.roles, callback.function)
        guard.guarded_callback(requirement, *callback.args, **callback.kwargs)(checked)
        output = _callback.GLOBAL_CALLBACK_LIST[-1]["output"]
        ids = [part.split(".")[0] for part in output.strip(".").split("...")]
        if any(not i.startswith(f"{key}-") for i in ids):
            raise fail(f"callback {output}: output ids must begin with '{key}-'")
        if output in outputs:
            raise fail(f"callback {output}: the output is registered twice")
        outputs.add(output)


@contextmanager
def _rolled_back_on_error() -> Iterator[None]:
    """Dash's page and callback registries (and the guard's decisions) as they were, if the
    block fails: a broken extension leaves nothing behind for this or the next application."""
    pages = dict(dash.page_registry)
    callback_list = list(_callback.GLOBAL_CALLBACK_LIST)
    callback_map = dict(_callback.GLOBAL_CALLBACK_MAP)
    access = dict(guard.CALLBACK_ACCESS)
    try:
        yield
    except BaseException:
        dash.page_registry.clear()
        dash.page_registry.update(pages)
        _callback.GLOBAL_CALLBACK_LIST[:] = callback_list
        _callback.GLOBAL_CALLBACK_MAP.clear()
        _callback.GLOBAL_CALLBACK_MAP.update(callback_map)
        guard.CALLBACK_ACCESS.clear()
        guard.CALLBACK_ACCESS.update(access)
        raise


def _failure(registry: RegistryFolder, file: Path) -> Callable[[str], RegistryExtensionError]:
    shown = file.relative_to(PROJECT_ROOT) if file.is_relative_to(PROJECT_ROOT) else file

    def error(reason: str) -> RegistryExtensionError:
        return RegistryExtensionError(f"registry {registry.key}: {shown}: {reason}")

    return error
