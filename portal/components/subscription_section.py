"""The "report by e-mail" section of the my-unit page: subscribe, change or unsubscribe.

The unit and registry ride in a `dcc.Store` rendered with the page, which a browser can
forge; so the callback checks the user's scope on the server (`report_subscriptions`
refuses a unit the user may not read) and answers a forged unit with a refusal and nothing
about any subscription. The answer goes to a polite live region, so a screen reader hears
what happened.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, dcc, html

from data_access.access import AccessDenied, AccessScope
from data_access.report_subscriptions import (
    OSLO,
    Subscription,
    SubscriptionError,
    has_email,
    own_subscription,
    subscribe,
    unsubscribe,
)
from portal.auth.guard import guarded_callback
from portal.auth.identity import current_scope, database, now
from portal.components import result_filters as rf
from portal.i18n import date_text, normalise_language, translate

PREFIX = "report-subscription"
TARGET = f"{PREFIX}-target"
FREQUENCY = f"{PREFIX}-frequency"
LANGUAGE = f"{PREFIX}-language"
SUBSCRIBE = f"{PREFIX}-subscribe"
UNSUBSCRIBE = f"{PREFIX}-unsubscribe"
STATUS = f"{PREFIX}-status"


def subscription_section(
    scope: AccessScope, registry_key: str, unit: dict[str, Any], language: str
) -> html.Section:
    """The section for the user's own subscription to `unit`'s report (read in scope)."""
    unit_id = int(unit["unit_id"])
    found = own_subscription(database(), scope, registry_key, unit_id)
    email = scope.actor.user_id is not None and has_email(database(), scope.actor.user_id)
    return html.Section(
        id=PREFIX,
        **{"aria-labelledby": f"{PREFIX}-heading"},
        children=[
            html.H2(translate("subscriptions.heading", language), id=f"{PREFIX}-heading"),
            html.P(translate("subscriptions.intro", language)),
            dcc.Store(id=TARGET, data={"registry": registry_key, "unit": unit_id}),
            html.Div(
                className="result-filter-row",
                children=[
                    rf.dropdown(
                        FREQUENCY,
                        translate("subscriptions.frequency", language),
                        [
                            {
                                "label": translate(f"subscriptions.frequency.{f}", language),
                                "value": f,
                            }
                            for f in ("weekly", "monthly")
                        ],
                        found.frequency if found else "monthly",
                    ),
                    rf.dropdown(
                        LANGUAGE,
                        translate("subscriptions.language", language),
                        [
                            {
                                "label": translate(f"subscriptions.language.{code}", language),
                                "value": code,
                            }
                            for code in ("nb", "en")
                        ],
                        found.language if found else language,
                    ),
                ],
            ),
            html.Div(
                className="form-actions",
                children=[
                    html.Button(
                        translate(
                            "subscriptions.update" if found else "subscriptions.subscribe", language
                        ),
                        id=SUBSCRIBE,
                        type="button",
                        n_clicks=0,
                        disabled=not email,
                    ),
                    html.Button(
                        translate("subscriptions.unsubscribe", language),
                        id=UNSUBSCRIBE,
                        type="button",
                        n_clicks=0,
                        disabled=found is None,
                    ),
                ],
            ),
            html.P(
                _state_text(found, str(unit["name"]), language)
                if email
                else translate("subscriptions.error.no_email", language),
                id=STATUS,
                role="status",
                **{"aria-live": "polite"},
            ),
        ],
    )


def _state_text(found: Subscription | None, unit_name: str, language: str) -> str:
    if found is None:
        return translate("subscriptions.status.none", language, unit=unit_name)
    return translate(
        "subscriptions.status.active",
        language,
        unit=unit_name,
        frequency=translate(f"subscriptions.mail.{found.frequency}", language),
        next=_next_text(found, language),
    )


def _next_text(found: Subscription, language: str) -> str:
    return date_text(found.next_due_at.astimezone(OSLO).date(), language)


def register_callbacks() -> None:
    """Called by the page module, so each application gets the callback (see permalink)."""

    @guarded_callback(
        "authenticated",
        [
            Output(STATUS, "children"),
            Output(SUBSCRIBE, "children"),
            Output(UNSUBSCRIBE, "disabled"),
        ],
        Input(SUBSCRIBE, "n_clicks"),
        Input(UNSUBSCRIBE, "n_clicks"),
        State(FREQUENCY, "value"),
        State(LANGUAGE, "value"),
        State(TARGET, "data"),
        State(rf.PAGES_LOCATION, "search"),
        prevent_initial_call=True,
    )
    def change(
        _subscribe: object,
        _unsubscribe: object,
        frequency: object,
        report_language: object,
        target: object,
        search: object,
    ) -> list[Any]:
        language = normalise_language(rf.query_of(search).get("lang"))
        return _change(dash.ctx.triggered_id, frequency, report_language, target, language)

    del change


def _change(
    trigger: object, frequency: object, report_language: object, target: object, language: str
) -> list[Any]:
    """Subscribe or unsubscribe as asked, for a unit in the user's scope only."""
    scope = current_scope()
    refused = [
        translate("subscriptions.error.not_allowed", language),
        dash.no_update,
        dash.no_update,
    ]
    registry, unit = _target(target)
    if registry is None or unit is None or not scope.may_read_records(registry, unit):
        return refused
    if trigger == UNSUBSCRIBE:
        unsubscribe(database(), scope, registry, unit)
        return [
            translate("subscriptions.status.unsubscribed", language),
            translate("subscriptions.subscribe", language),
            True,
        ]
    try:
        made = subscribe(
            database(), scope, registry, unit, str(frequency), str(report_language), now()
        )
    except AccessDenied:
        return refused
    except SubscriptionError as error:
        return [translate(error.reason, language), dash.no_update, dash.no_update]
    return [
        translate("subscriptions.status.subscribed", language, next=_next_text(made, language)),
        translate("subscriptions.update", language),
        False,
    ]


def _target(target: object) -> tuple[str | None, int | None]:
    if not isinstance(target, dict):
        return None, None
    registry, unit = target.get("registry"), target.get("unit")
    return (
        registry if isinstance(registry, str) else None,
        unit if isinstance(unit, int) and not isinstance(unit, bool) else None,
    )
