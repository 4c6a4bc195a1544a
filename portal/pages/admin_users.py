"""User accounts (brukere): the list, a new account, and disable, enable and resets of one.

Only an installation admin (an admin grant on the nation unit of a registry) manages
accounts. The guard refuses everyone else's callbacks before they run; each callback checks
the scope once more itself, and every change goes through `data_access.accounts` or
`data_access.two_factor` with the admin as actor, so the change and its audit event commit
together. The table never shows a hash or a secret: `list_users` does not return them.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import dash
import polars as pl
from dash import Input, Output, State, ctx, dcc, html, no_update
from dash.development.base_component import Component

from data_access.accounts import (
    AccountError,
    create_user,
    disable_user,
    enable_user,
    find_user_id,
    list_users,
    set_password,
)
from data_access.two_factor import reset_two_factor
from data_access.user_sessions import end_user_sessions
from portal.auth.guard import Requirement, guarded_callback
from portal.auth.identity import current_actor, current_scope, database, now
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
    yes_no,
)
from portal.i18n import normalise_language, request_language, translate

PATH = "/admin/users"
REQUIREMENT: Requirement = "installation_admin"

LANGUAGE = "admin-users-language"
TABLE = "admin-users-table"
USER_NAMES = "admin-users-names"
NEW_USERNAME = "admin-users-new-username"
NEW_NAME = "admin-users-new-name"
NEW_EMAIL = "admin-users-new-email"
NEW_PASSWORD = "admin-users-new-password"
CREATE = "admin-users-create"
CREATE_STATUS = "admin-users-create-status"
TARGET = "admin-users-target"
DISABLE = "admin-users-disable"
ENABLE = "admin-users-enable"
RESET_TWO_FACTOR = "admin-users-reset-two-factor"
RESET_PASSWORD = "admin-users-reset-password"
PASSWORD = "admin-users-password"
PASSWORD_REPEAT = "admin-users-password-repeat"
MANAGE_STATUS = "admin-users-manage-status"

dash.register_page(
    __name__, path=PATH, title=lambda: translate("admin.users.title", request_language())
)


def layout(lang: str | None = None, **_query: str) -> html.Div:
    language = normalise_language(lang)
    return admin_page(language, PATH, REQUIREMENT, current_scope(), lambda: _content(language))


def _content(language: str) -> list[Component]:
    t = partial(translate, language=language)
    users = list_users(database())
    new_password = {"kind": "password", "autocomplete": "new-password"}
    return [
        dcc.Store(id=LANGUAGE, data=language),
        suggestions(USER_NAMES, users["username"].to_list()),
        section(
            "admin-users-list",
            t("admin.users.list"),
            [html.Div(id=TABLE, children=users_table(users, language))],
        ),
        section(
            "admin-users-create",
            t("admin.users.create"),
            [
                fieldset(
                    t("admin.users.create_legend"),
                    [
                        text_field(
                            NEW_USERNAME,
                            t("admin.users.username"),
                            hint=t("admin.users.username_hint"),
                        ),
                        text_field(NEW_NAME, t("admin.users.name")),
                        text_field(NEW_EMAIL, t("admin.users.email"), kind="email"),
                        text_field(
                            NEW_PASSWORD,
                            t("admin.users.initial_password"),
                            hint=t("admin.users.password_hint"),
                            **new_password,
                        ),
                        button(CREATE, t("admin.users.create_button")),
                    ],
                ),
                status_region(CREATE_STATUS),
            ],
        ),
        section(
            "admin-users-manage",
            t("admin.users.manage"),
            [
                text_field(TARGET, t("admin.users.username"), suggestions=USER_NAMES),
                fieldset(
                    t("admin.users.access_legend"),
                    [
                        button(DISABLE, t("admin.users.disable")),
                        button(ENABLE, t("admin.users.enable")),
                        button(RESET_TWO_FACTOR, t("admin.users.reset_two_factor")),
                    ],
                ),
                fieldset(
                    t("admin.users.password_legend"),
                    [
                        text_field(
                            PASSWORD,
                            t("admin.users.new_password"),
                            hint=t("admin.users.password_hint"),
                            **new_password,
                        ),
                        text_field(
                            PASSWORD_REPEAT, t("admin.users.repeat_password"), **new_password
                        ),
                        button(RESET_PASSWORD, t("admin.users.reset_password")),
                    ],
                ),
                status_region(MANAGE_STATUS),
            ],
        ),
    ]


def users_table(users: pl.DataFrame, language: str) -> html.Div:
    """One row per account: its state, never a hash or a secret (`list_users` holds none)."""
    headers = [
        translate(f"admin.users.column.{name}", language)
        for name in ("username", "name", "email", "active", "two_factor", "last_login")
    ]
    rows: list[Sequence[Any]] = [
        (
            user["username"],
            user["display_name"],
            user["email"],
            yes_no(user["is_active"], language),
            yes_no(user["has_two_factor"], language),
            local_time(user["last_login_at"]),
        )
        for user in users.iter_rows(named=True)
    ]
    return data_table(
        "admin-users",
        translate("admin.users.caption", language, n=len(rows)),
        headers,
        rows,
        translate("admin.users.none", language),
    )


@guarded_callback(
    REQUIREMENT,
    output={
        "status": Output(CREATE_STATUS, "children"),
        "table": Output(TABLE, "children", allow_duplicate=True),
        "username": Output(NEW_USERNAME, "value"),
        "name": Output(NEW_NAME, "value"),
        "email": Output(NEW_EMAIL, "value"),
        "password": Output(NEW_PASSWORD, "value"),
        "names": Output(USER_NAMES, "children"),
    },
    inputs={
        "submitted": [
            Input(CREATE, "n_clicks"),
            *(Input(field, "n_submit") for field in (NEW_USERNAME, NEW_NAME, NEW_EMAIL)),
            Input(NEW_PASSWORD, "n_submit"),
        ],
        "username": State(NEW_USERNAME, "value"),
        "name": State(NEW_NAME, "value"),
        "email": State(NEW_EMAIL, "value"),
        "password": State(NEW_PASSWORD, "value"),
        "language": State(LANGUAGE, "data"),
    },
    prevent_initial_call=True,
)
def create_account(
    submitted: list[int | None],
    username: str | None,
    name: str | None,
    email: str | None,
    password: str | None,
    language: str | None,
) -> dict[str, Any]:
    """A new account without grants; the initial password must meet the policy."""
    lang = normalise_language(language)
    unchanged: dict[str, Any] = {k: no_update for k in ("username", "name", "email", "names")}
    if not current_scope().is_installation_admin():
        return _refused(lang) | unchanged
    login = as_text(username).strip().lower()
    try:
        create_user(
            database(),
            current_actor(),
            login,
            as_text(name),
            as_text(password),
            email=as_text(email) or None,
        )
    except AccountError as error:
        return {
            "status": outcome(account_problem(error, lang), ok=False),
            "table": no_update,
            "password": "" if error.code == "weak_password" else no_update,
            **unchanged,
        }
    users = list_users(database())
    return {
        "status": outcome(translate("admin.users.created", lang, username=login), ok=True),
        "table": users_table(users, lang),
        "names": [html.Option(value=name) for name in users["username"].to_list()],
        "username": "",
        "name": "",
        "email": "",
        "password": "",
    }


@guarded_callback(
    REQUIREMENT,
    output={
        "status": Output(MANAGE_STATUS, "children"),
        "table": Output(TABLE, "children", allow_duplicate=True),
        "password": Output(PASSWORD, "value"),
        "repeat": Output(PASSWORD_REPEAT, "value"),
    },
    inputs={
        "pressed": [
            Input(DISABLE, "n_clicks"),
            Input(ENABLE, "n_clicks"),
            Input(RESET_TWO_FACTOR, "n_clicks"),
            Input(RESET_PASSWORD, "n_clicks"),
            Input(PASSWORD, "n_submit"),
            Input(PASSWORD_REPEAT, "n_submit"),
        ],
        "username": State(TARGET, "value"),
        "password": State(PASSWORD, "value"),
        "repeat": State(PASSWORD_REPEAT, "value"),
        "language": State(LANGUAGE, "data"),
    },
    prevent_initial_call=True,
)
def manage_account(
    pressed: list[int | None],
    username: str | None,
    password: str | None,
    repeat: str | None,
    language: str | None,
) -> dict[str, Any]:
    """Disable, enable, reset two-factor login or set a temporary password for one user."""
    lang = normalise_language(language)
    action = _ACTIONS.get(str(ctx.triggered_id))
    if action is None:
        return {"status": no_update, "table": no_update, "password": no_update, "repeat": no_update}
    if not current_scope().is_installation_admin():
        return _refused(lang) | {"repeat": ""}
    login = as_text(username).strip().lower()
    try:
        user_id = find_user_id(database(), login)
        if action == "reset_password":
            message = _reset_password(user_id, login, as_text(password), as_text(repeat), lang)
        else:
            message = _change_access(action, user_id, login, lang)
    except AccountError as error:
        message = outcome(account_problem(error, lang), ok=False)
    return {
        "status": message,
        "table": users_table(list_users(database()), lang),
        "password": "",
        "repeat": "",
    }


_ACTIONS = {
    DISABLE: "disable",
    ENABLE: "enable",
    RESET_TWO_FACTOR: "reset_two_factor",
    RESET_PASSWORD: "reset_password",
    PASSWORD: "reset_password",
    PASSWORD_REPEAT: "reset_password",
}


def _change_access(action: str, user_id: int, login: str, language: str) -> html.P:
    actor = current_actor()
    if action == "disable":
        if user_id == actor.user_id:
            return outcome(translate("admin.users.not_yourself", language), ok=False)
        changed = disable_user(database(), actor, user_id)
        key = "admin.users.disabled" if changed else "admin.users.already_disabled"
    elif action == "enable":
        changed = enable_user(database(), actor, user_id)
        key = "admin.users.enabled" if changed else "admin.users.already_enabled"
    else:
        reset_two_factor(database(), actor, user_id)
        # The reset is audited (totp.reset); whoever holds a session from the lost phone's
        # days must log in again and enrol anew.
        end_user_sessions(database(), user_id, now())
        key = "admin.users.two_factor_reset"
    return outcome(translate(key, language, username=login), ok=True)


def _reset_password(user_id: int, login: str, password: str, repeat: str, language: str) -> html.P:
    if password != repeat:
        return outcome(translate("admin.users.passwords_differ", language), ok=False)
    set_password(database(), current_actor(), user_id, password, reset=True)
    return outcome(translate("admin.users.password_reset", language, username=login), ok=True)


def _refused(language: str) -> dict[str, Any]:
    return {
        "status": outcome(translate("admin.not_allowed", language), ok=False),
        "table": no_update,
        "password": "",
    }
