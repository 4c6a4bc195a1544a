"""Registry extensions: the small interface through which a registry folder adds its own pages,
callbacks and figure functions (docs/extensions.md).

A registry folder may hold `extension.py` with `register(registry: RegistryExtension)`. The
object records what the extension offers; `portal.extension_loader` checks all of it and only
then hands it to Dash, so a broken extension stops start-up instead of leaving half a portal.
Every page and callback states who may use it: `"public"`, or roles the user must hold on a
unit of this registry (a grant in another registry gives nothing here).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeVar, get_args

import flask
from dash.development.base_component import Component
from pydantic import ValidationError

from data_access.access import ROLES, AccessScope, Role
from entry.registry_folder import RegistryFolder
from indicators.definition import Text
from portal.i18n import Language

ExtensionAccess = Literal["public"] | Role | tuple[Role, ...]
"""`"public"`: anyone, aggregates only. A role or roles: a logged-in user holding one of them
on some unit of this registry."""
PageLayout = Callable[["PageRequest"], Component | Sequence[Component]]
F = TypeVar("F", bound=Callable[..., Any])

LOADED_KEY: Final = "registry_extensions"
PATH_PREFIX: Final = "/registries"
SUFFIX_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9-]*")


class RegistryExtensionError(RuntimeError):
    """An extension cannot be loaded; the message names the registry, the file and the reason."""


class ExtensionDefinitionError(ValueError):
    """What an extension asked for breaks a rule of this interface (the loader names the file)."""


@dataclass(frozen=True)
class PageRequest:
    """What an extension page's layout is given: its registry, the reader's language, the
    page's query parameters and the reader's access scope (already checked against the page's
    access decision)."""

    registry: RegistryFolder
    language: Language
    query: Mapping[str, str]
    scope: AccessScope


@dataclass(frozen=True)
class ExtensionPage:
    suffix: str
    path: str
    layout: PageLayout
    title: Text
    roles: tuple[Role, ...] | None
    """None for a public page."""


@dataclass(frozen=True)
class ExtensionCallback:
    roles: tuple[Role, ...] | None
    function: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]


@dataclass
class RegistryExtension:
    """Handed to an extension's `register`; records its pages, callbacks and figures."""

    registry: RegistryFolder
    pages: dict[str, ExtensionPage] = field(default_factory=dict)
    callbacks: list[ExtensionCallback] = field(default_factory=list)
    figures: dict[str, Callable[..., Any]] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.registry.key

    def page(
        self,
        path_suffix: str,
        layout: PageLayout,
        *,
        title: Text | Mapping[str, str],
        access: ExtensionAccess | None = None,
    ) -> str:
        """A page at `/registries/<key>/<path_suffix>`, framed by the portal; returns its path.

        `layout(request: PageRequest)` returns the page's content and runs only for readers
        the access decision admits; others get the login prompt or a refusal.
        """
        if not isinstance(path_suffix, str) or not SUFFIX_PATTERN.fullmatch(path_suffix):
            raise ExtensionDefinitionError(
                f"page {path_suffix!r}: the path suffix must be lower-case letters, digits "
                "and hyphens"
            )
        path = extension_path(self.key, path_suffix)
        if path_suffix in self.pages:
            raise ExtensionDefinitionError(f"page {path}: the path is registered twice")
        if not callable(layout) or not _takes_one_argument(layout):
            raise ExtensionDefinitionError(f"page {path}: layout must take one PageRequest")
        try:
            text = title if isinstance(title, Text) else Text.model_validate(title)
        except ValidationError as error:
            raise ExtensionDefinitionError(
                f"page {path}: title needs 'nb' and 'en' texts ({error.error_count()} problems)"
            ) from error
        roles = _roles(access, f"page {path}")
        self.pages[path_suffix] = ExtensionPage(path_suffix, path, layout, text, roles)
        return path

    def callback(
        self, access: ExtensionAccess | None, *args: Any, **kwargs: Any
    ) -> Callable[[F], F]:
        """`dash.callback` with an access decision, as `portal.auth.guard.guarded_callback`.

        The ids of its outputs must begin with `<key>-`, so extensions never collide with
        the portal's components or with each other.
        """
        roles = _roles(access, "callback")

        def record(function: F) -> F:
            self.callbacks.append(ExtensionCallback(roles, function, args, kwargs))
            return function

        return record

    def figure(self, name: str, function: Callable[..., Any]) -> None:
        """A figure function the registry's pages and reports find by name
        (`figure_function(key, name)`)."""
        if not isinstance(name, str) or not name:
            raise ExtensionDefinitionError("figure: the name must be a non-empty string")
        if name in self.figures:
            raise ExtensionDefinitionError(f"figure {name!r}: the name is registered twice")
        if not callable(function):
            raise ExtensionDefinitionError(f"figure {name!r}: not a function")
        self.figures[name] = function


def extension_path(registry_key: str, suffix: str) -> str:
    return f"{PATH_PREFIX}/{registry_key}/{suffix}"


def _roles(access: object, what: str) -> tuple[Role, ...] | None:
    if access is None:
        raise ExtensionDefinitionError(
            f"{what}: no access decision; give access='public' or the roles that may use it"
        )
    if access == "public":
        return None
    roles = (access,) if isinstance(access, str) else access
    if (
        isinstance(roles, tuple)
        and roles
        and all(isinstance(r, str) and r in get_args(Role) for r in roles)
    ):
        return roles
    raise ExtensionDefinitionError(
        f"{what}: access {access!r} is neither 'public' nor roles among {', '.join(ROLES)}"
    )


def _takes_one_argument(function: Callable[..., Any]) -> bool:
    try:
        inspect.signature(function).bind(None)
    except (TypeError, ValueError):
        return False
    return True


def allowed(scope: AccessScope, registry_key: str, roles: tuple[Role, ...] | None) -> bool:
    """The extension's access decision: public, or one of `roles` somewhere in this registry."""
    return roles is None or bool(scope.units(registry_key, *roles))


@dataclass(frozen=True)
class LoadedExtension:
    """One registry's extension as this application serves it."""

    registry: RegistryFolder
    pages: Mapping[str, ExtensionPage]
    figures: Mapping[str, Callable[..., Any]]


def installed_extension(registry_key: str) -> LoadedExtension | None:
    """The current application's extension of the registry; None outside an application or
    when it has none (Dash's page registry is shared by every app of a process)."""
    if not flask.has_app_context():
        return None
    loaded: Mapping[str, LoadedExtension] = flask.current_app.extensions.get(LOADED_KEY, {})
    return loaded.get(registry_key)


def figure_function(registry_key: str, name: str) -> Callable[..., Any]:
    """A figure function an extension registered; KeyError naming both when there is none."""
    extension = installed_extension(registry_key)
    if extension is None or name not in extension.figures:
        raise KeyError(f"registry {registry_key} has no figure {name!r}")
    return extension.figures[name]
