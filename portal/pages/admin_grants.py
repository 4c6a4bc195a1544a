"""Grants (tilganger): who holds which role on which units of a registry, given and taken away.

An admin of a registry manages the grants on the units its own admin grants cover, and
only those: the list shows only them, the unit suggestions offer only them, and the add and
revoke callbacks check `may_administer(registry, unit)` for the very unit named, so an
admin of one trust cannot grant or revoke on another trust's units even with forged input.
Changes go through `data_access.accounts`, which audits them in the same transaction.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

import dash
import polars as pl
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from dash.development.base_component import Component

from data_access.access import ROLES, AccessScope
from data_access.accounts import AccountError, grant, list_grants, list_users, revoke
from data_access.models import UNIT_LEVELS
from data_access.reference_data import read_units
from portal import urls
from portal.auth.guard import Requirement, guarded_callback
from portal.auth.identity import current_actor, current_scope, database
from portal.catalogue import installed_registries
from portal.components.admin_tables import (
    account_problem,
    admin_page,
    as_text,
    button,
    data_table,
    fieldset,
    local_time,
    outcome,
    section,
    status_region,
    suggestions,
    text_field,
)
from portal.i18n import normalise_language, request_language, translate

PATH = "/admin/grants"
REQUIREMENT: Requirement = "admin"

LANGUAGE = "admin-grants-language"
REGISTRY = "admin-grants-registry"  # a store holding the registry shown
TABLE = "admin-grants-table"
LIST_STATUS = "admin-grants-list-status"
USER = "admin-grants-user"
USER_NAMES = "admin-grants-user-names"
UNIT = "admin-grants-unit"
UNIT_NAMES = "admin-grants-unit-names"
GIVE = "admin-grants-give"  # one button per role: GIVE-clinician, GIVE-registrar, ...
ADD_STATUS = "admin-grants-add-status"
REVOKE = "admin-grants-revoke"  # the `type` of each row's revoke button id

# A unit is typed or picked as "Name (unit id)"; a bare unit id is accepted too.
_UNIT_CHOICE = re.compile(r"(?:.*\()?\s*(\d{1,12})\s*\)?\s*")

dash.register_page(
    __name__, path=PATH, title=lambda: translate("admin.grants.title", request_language())
)


def layout(lang: str | None = None, registry: str | None = None, **_query: str) -> html.Div:
    language = normalise_language(lang)
    scope = current_scope()
    return admin_page(
        language, PATH, REQUIREMENT, scope, lambda: _content(language, scope, registry)
    )


def administered_registries(scope: AccessScope) -> list[str]:
    """The registries in which the user holds an admin grant somewhere."""
    return sorted(key for key in scope.roles if scope.may_administer(key))


def _content(language: str, scope: AccessScope, wanted: str | None) -> list[Component]:
    t = partial(translate, language=language)
    registries = administered_registries(scope)
    chosen = wanted if wanted in registries else registries[0]
    give_buttons = html.Div(
        role="group",
        className="role-buttons",
        **{"aria-labelledby": "admin-grants-give-label"},
        children=[
            html.Span(t("admin.grants.give"), id="admin-grants-give-label"),
            *(button(f"{GIVE}-{role}", t(f"admin.grants.give_{role}")) for role in ROLES),
        ],
    )
    return [
        dcc.Store(id=LANGUAGE, data=language),
        dcc.Store(id=REGISTRY, data=chosen),
        suggestions(USER_NAMES, _active_usernames()),
        html.Datalist(id=UNIT_NAMES, children=unit_suggestions(scope, chosen, language)),
        registry_menu(registries, chosen, language),
        section(
            "admin-grants-list",
            t("admin.grants.list"),
            [
                html.Div(id=TABLE, children=grants_table(scope, chosen, language)),
                status_region(LIST_STATUS),
            ],
        ),
        section(
            "admin-grants-add",
            t("admin.grants.add"),
            [
                fieldset(
                    t("admin.grants.add_legend"),
                    [
                        text_field(USER, t("admin.grants.user"), suggestions=USER_NAMES),
                        text_field(
                            UNIT,
                            t("admin.grants.unit"),
                            hint=t("admin.grants.unit_hint"),
                            suggestions=UNIT_NAMES,
                        ),
                        give_buttons,
                    ],
                ),
                status_region(ADD_STATUS),
            ],
        ),
    ]


def registry_menu(registries: list[str], chosen: str, language: str) -> html.Nav:
    """One link per registry this user administers; the one shown is marked, not linked.

    Links, not radio buttons: the choice is a different page state with its own address.
    """
    names = {r.key: r.name.in_language(language) for r in installed_registries()}
    items = [
        html.Li(
            html.Span(names.get(key, key), **{"aria-current": "page"})
            if key == chosen
            else dcc.Link(names.get(key, key), href=urls.page_url(PATH, language, registry=key))
        )
        for key in registries
    ]
    return html.Nav(
        **{"aria-label": translate("admin.grants.registry", language)},
        className="registry-menu",
        children=html.Ul(items),
    )


def grants_table(scope: AccessScope, registry: str, language: str) -> html.Div:
    """The grants of `registry` on the units this admin covers, each with its revoke button."""
    covered = scope.units(registry, "admin")
    grants = list_grants(database(), registry).filter(pl.col("unit_id").is_in(list(covered)))
    headers = [
        translate(f"admin.grants.column.{name}", language)
        for name in ("user", "unit", "role", "granted_at", "granted_by", "action")
    ]
    rows = [
        (
            row["username"],
            f"{row['unit_name']} ({row['unit_id']})",
            translate(f"admin.role.{row['role']}", language),
            local_time(row["granted_at"]),
            row["granted_by"],
            button(
                {"type": REVOKE, "grant": row["grant_id"]},
                translate("admin.grants.revoke", language),
                **{
                    "aria-label": translate(
                        "admin.grants.revoke_label",
                        language,
                        role=translate(f"admin.role.{row['role']}", language),
                        user=row["username"],
                        unit=row["unit_name"],
                    )
                },
            ),
        )
        for row in grants.iter_rows(named=True)
    ]
    return data_table(
        "admin-grants",
        translate("admin.grants.caption", language, n=len(rows)),
        headers,
        rows,
        translate("admin.grants.none", language),
    )


def unit_suggestions(scope: AccessScope, registry: str, language: str) -> list[html.Option]:
    """The units this admin may grant on, top of the tree first, as "Name (unit id)"."""
    covered = scope.units(registry, "admin")
    depth = {level: i for i, level in enumerate(UNIT_LEVELS)}
    units = (
        read_units(database())
        .filter(pl.col("unit_id").is_in(list(covered)))
        .with_columns(pl.col("level").replace_strict(depth, return_dtype=pl.Int64).alias("depth"))
        .sort("depth", "name")
    )
    return [
        html.Option(
            value=f"{unit['name']} ({unit['unit_id']})",
            label=translate(f"admin.level.{unit['level']}", language),
        )
        for unit in units.iter_rows(named=True)
    ]


def _active_usernames() -> list[str]:
    users = list_users(database())
    return users.filter(pl.col("is_active"))["username"].to_list()


@guarded_callback(
    REQUIREMENT,
    output={
        "status": Output(ADD_STATUS, "children"),
        "table": Output(TABLE, "children"),
    },
    inputs={
        "pressed": [Input(f"{GIVE}-{role}", "n_clicks") for role in ROLES],
        "registry": State(REGISTRY, "data"),
        "username": State(USER, "value"),
        "unit": State(UNIT, "value"),
        "language": State(LANGUAGE, "data"),
    },
    prevent_initial_call=True,
)
def add_grant(
    pressed: list[int | None],
    registry: str | None,
    username: str | None,
    unit: str | int | None,
    language: str | None,
) -> dict[str, Any]:
    """Give a user the role of the button pressed, on a unit this admin covers.

    The unit is checked here against the admin's own grants, whatever the browser sent.
    """
    lang = normalise_language(language)
    scope = current_scope()
    role = str(ctx.triggered_id or "").removeprefix(f"{GIVE}-")
    unit_id = parse_unit(unit)
    login = as_text(username).strip().lower()
    if not login:
        problem = "admin.grants.need_user"
    elif unit_id is None:
        problem = "admin.grants.need_unit"
    elif role not in ROLES:
        problem = "admin.grants.need_role"  # only a forged request names another button
    elif not isinstance(registry, str) or not scope.may_administer(registry, unit_id):
        problem = "admin.grants.unit_not_covered"
    else:
        problem = None
    if problem is not None:
        return {"status": outcome(translate(problem, lang), ok=False), "table": no_update}
    assert isinstance(registry, str) and unit_id is not None
    try:
        grant(database(), current_actor(), login, registry, unit_id, role)
    except AccountError as error:
        return {"status": outcome(account_problem(error, lang), ok=False), "table": no_update}
    message = translate(
        "admin.grants.granted",
        lang,
        user=login,
        role=translate(f"admin.role.{role}", lang),
        unit=unit_id,
    )
    return {"status": outcome(message, ok=True), "table": grants_table(scope, registry, lang)}


@guarded_callback(
    REQUIREMENT,
    output={
        "status": Output(LIST_STATUS, "children"),
        "table": Output(TABLE, "children", allow_duplicate=True),
    },
    inputs={
        "pressed": Input({"type": REVOKE, "grant": ALL}, "n_clicks"),
        "registry": State(REGISTRY, "data"),
        "language": State(LANGUAGE, "data"),
    },
    prevent_initial_call=True,
)
def revoke_grant(
    pressed: list[int | None], registry: str | None, language: str | None
) -> dict[str, Any]:
    """Take away the grant whose button was pressed, if this admin covers its unit."""
    lang = normalise_language(language)
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not any(t["value"] for t in ctx.triggered):
        return {"status": no_update, "table": no_update}  # buttons drawn anew, none pressed
    scope = current_scope()
    grant_id = _as_int(trigger.get("grant"))
    found = (
        list_grants(database()).filter(pl.col("grant_id") == grant_id)
        if grant_id is not None
        else pl.DataFrame()
    )
    row = None if found.is_empty() else found.row(0, named=True)
    # A grant outside this admin's units is answered as if it did not exist, so a forged id
    # confirms nothing about the grants of other units.
    if row is None or not scope.may_administer(row["registry"], row["unit_id"]):
        missing = translate("admin.grants.no_such_grant", lang)
        return {"status": outcome(missing, ok=False), "table": no_update}
    if row["role"] == "admin" and row["user_id"] == scope.actor.user_id:
        # The last installation admin could otherwise lock everyone out of these pages.
        own = translate("admin.grants.not_your_own", lang)
        return {"status": outcome(own, ok=False), "table": no_update}
    try:
        revoke(database(), current_actor(), row["grant_id"])
    except AccountError as error:
        return {"status": outcome(account_problem(error, lang), ok=False), "table": no_update}
    message = translate(
        "admin.grants.revoked",
        lang,
        user=row["username"],
        role=translate(f"admin.role.{row['role']}", lang),
        unit=row["unit_name"],
    )
    shown = registry if isinstance(registry, str) and scope.may_administer(registry) else None
    table = grants_table(scope, shown, lang) if shown else no_update
    return {"status": outcome(message, ok=True), "table": table}


def parse_unit(value: str | int | None) -> int | None:
    """The unit id in "Name (123)" or "123"; None for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _UNIT_CHOICE.fullmatch(as_text(value))
    return int(match.group(1)) if match else None


def _as_int(value: object) -> int | None:
    """A row id from a button's id: a positive 64-bit integer (or its digits), else None."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 < value < 2**63 else None
