"""The patient's questionnaire pages at `/prom/<token>`: no login, plain HTML forms, no script.

Issue 9, point 5. The link's secret is the only credential; `data_access.prom_links` turns
it into the one invitation it belongs to, or into a dead link, which gets a kind page
(404 for a link that never existed or was altered, 410 for one that expired, was answered,
declined or replaced) and no data at all. The pages are server-rendered HTML, because that
is what works on every phone, with every screen reader, and with JavaScript off: labels,
fieldsets and legends, the error next to its field and in a summary at the top, the
patient's language on `<html lang>` (bokmål by default, nynorsk and English to choose).

Answers are saved at every step, so a patient may stop and come back with the same link;
submitting scores the answers, stores them in the registration and kills the link. The
forms carry Flask-WTF's CSRF token, and every route is rate-limited per address like the
login. Responses are never cached and send no referrer (the path holds the secret).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import flask
from flask_limiter import Limiter
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import TooManyRequests

from data_access.audit import record_event
from data_access.prom_links import (
    DeadLink,
    OpenLink,
    decline,
    open_link,
    patient_actor,
    save_answers,
    submit_answers,
)
from entry.prom_answers import AnswersRejected, check_answers
from entry.questionnaires import Questionnaire
from entry.record_rules import Issue
from entry.registry_folder import RegistryFolder
from portal import urls
from portal.auth.guard import route_access
from portal.auth.identity import database, now, remote_addr
from portal.catalogue import find_registry
from portal.form_values import takes_input
from portal.i18n import PATIENT_LANGUAGES, date_text, patient_language, translate
from portal.prom_form import (
    build_page,
    check,
    page_variables,
    posted_answers,
    storable_answers,
    stored_answers,
    visible,
)

TEMPLATES = Path(__file__).resolve().parent / "templates"
RULE = "/prom/<token>"
ACTIONS = ("next", "back", "save", "submit")
_log = logging.getLogger(__name__)


def init_app(server: flask.Flask) -> None:
    """Register the pages; call after `portal.auth.init_app` (CSRF and the rate limiter)."""
    limiter: Limiter = next(iter(server.extensions["limiter"]))
    server.register_blueprint(make_blueprint(limiter))


def make_blueprint(limiter: Limiter) -> flask.Blueprint:
    blueprint = flask.Blueprint("prom", __name__, template_folder=str(TEMPLATES))
    per_address = limiter.limit("60 per minute")
    posts = limiter.limit("20 per minute", methods=["POST"])
    blueprint.add_url_rule("/prom/thanks", "thanks", per_address(thanks))
    blueprint.add_url_rule(
        RULE, "questionnaire", posts(per_address(questionnaire)), methods=["GET", "POST"]
    )
    blueprint.add_url_rule(
        f"{RULE}/opt-out", "opt_out", posts(per_address(opt_out)), methods=["GET", "POST"]
    )
    blueprint.after_request(_private)
    blueprint.register_error_handler(CSRFError, _csrf_refused)
    blueprint.register_error_handler(TooManyRequests, _too_many)
    return blueprint


@route_access("public")
def questionnaire(token: str) -> flask.Response:
    actor = patient_actor(remote_addr())
    is_post = flask.request.method == "POST"
    found = open_link(database(), token, now(), actor, audited=not is_post)
    if isinstance(found, DeadLink):
        return _dead(found, _language(None))
    located = _questionnaire_of(found)
    if located is None:
        return _dead(DeadLink("unknown"), _language(found.language))
    link = _Link(token, *located, _language(found.language), found.expires_at)
    answers = stored_answers(found.answers)
    if not is_post:
        page = _page_number(flask.request.args.get("page"), link.questionnaire, answers)
        return _form(link, page, answers, saved=flask.request.args.get("saved") == "1")
    return _answer(link, answers)


@route_access("public")
def opt_out(token: str) -> flask.Response:
    actor = patient_actor(remote_addr())
    if flask.request.method == "POST":
        declined = decline(database(), token, now(), actor)
        if isinstance(declined, DeadLink):
            return _dead(declined, _language(None))
        return _notice("prom.declined.heading", "prom.dead.declined", _language(None))
    found = open_link(database(), token, now(), actor, audited=False)
    if isinstance(found, DeadLink):
        return _dead(found, _language(None))
    language = _language(found.language)
    registry = find_registry(found.registry_key)
    return _render(
        "prom/opt_out.html",
        language,
        "prom.opt_out.heading",
        registry=registry.name.in_language(language) if registry else "",
        action=urls.prom_opt_out(token, language),
        back_url=urls.prom(token, language),
        switch=lambda code: urls.prom_opt_out(token, code),
    )


@route_access("public")
def thanks() -> flask.Response:
    return _notice("prom.thanks.heading", "prom.thanks.body", _language(None))


def _answer(link: _Link, stored: dict[str, object]) -> flask.Response:
    """One step of the form: save this page's answers, then go back, stay, move on or submit."""
    token, chosen, language = link.token, link.questionnaire, link.language
    form = flask.request.form
    action = form.get("action") if form.get("action") in ACTIONS else "save"
    pages = page_variables(chosen)
    number = _page_number(form.get("page"), chosen, stored)
    variables = pages[number - 1]
    posted = posted_answers(variables, form.to_dict(flat=False))
    answers = {**stored, **posted}
    kept = storable_answers(chosen, answers)
    saved = save_answers(database(), token, kept.document(), now(), patient_actor(remote_addr()))
    if isinstance(saved, DeadLink):
        return _dead(saved, language)
    kept_answers = stored_answers(kept.document())
    if action == "back":
        previous = _step(chosen, kept_answers, number, -1)
        return _see_other(urls.prom(token, language, page=previous))
    unreadable = [i for i in check(chosen, answers).errors if i.blocks_draft]
    if action == "save":
        if unreadable:
            return _form(link, number, kept_answers, typed=posted, issues=unreadable, status=422)
        return _see_other(urls.prom(token, language, page=number, saved=1))
    shown = set(form.getlist("shown"))
    complete = check_answers(chosen, answers)
    problems = [i for i in complete.errors if i.variable in shown]
    if problems:
        return _form(link, number, kept_answers, typed=posted, issues=problems, status=422)
    revealed = [v for v in visible(variables, complete) if takes_input(v) and v.name not in shown]
    if revealed:  # an answer brought new questions on this page: show them before moving on
        address = urls.prom(token, language, page=number)
        return _see_other(f"{address}#q-{revealed[0].name}")
    if action == "next":  # the last page, if this became it, now offers to submit
        following = _step(chosen, kept_answers, number, +1)
        return _see_other(urls.prom(token, language, page=following))
    try:
        submitted = submit_answers(
            database(), link.registry, chosen, token, answers, now(), patient_actor(remote_addr())
        )
    except AnswersRejected as rejected:
        first = _first_page_with(chosen, rejected.check.errors, kept_answers)
        return _form(link, first, kept_answers, issues=rejected.check.errors, status=422)
    if isinstance(submitted, DeadLink):
        return _dead(submitted, language)
    return _see_other(urls.prom_thanks(language))


@dataclass(frozen=True)
class _Link:
    """What every page of one live link is drawn from."""

    token: str
    registry: RegistryFolder
    questionnaire: Questionnaire
    language: str
    expires_at: datetime


def _form(
    link: _Link,
    number: int,
    answers: dict[str, object],
    *,
    typed: dict[str, object] | None = None,
    issues: Sequence[Issue] = (),
    status: int = 200,
    saved: bool = False,
) -> flask.Response:
    token, chosen, language = link.token, link.questionnaire, link.language
    checked = check(chosen, answers)
    pages = page_variables(chosen)
    page = build_page(number, pages[number - 1], answers, typed or {}, issues, checked, language)
    steps = _visible_pages(chosen, answers)
    position = steps.index(number) + 1 if number in steps else 1
    summary = [
        (question.first_input_id, question.label, message)
        for question in page.questions
        for message in question.errors
    ]
    return _render(
        "prom/questionnaire.html",
        language,
        "prom.page_title",
        status=status,
        heading=chosen.title.in_language(language),
        registry=link.registry.name.in_language(language),
        expires=date_text(link.expires_at.date(), language),
        page=page,
        position=position,
        pages=len(steps),
        is_first=position == 1,
        is_last=position == len(steps),
        summary=summary,
        saved=saved,
        action=urls.prom(token, language),
        opt_out_url=urls.prom_opt_out(token, language),
        switch=lambda code: urls.prom(token, code, page=number),
    )


def _visible_pages(chosen: Questionnaire, answers: dict[str, object]) -> list[int]:
    """The pages with at least one question to answer, by their numbers (1-based)."""
    checked = check(chosen, answers)
    return [
        number
        for number, variables in enumerate(page_variables(chosen), start=1)
        if any(takes_input(v) for v in visible(variables, checked))
    ]


def _step(chosen: Questionnaire, answers: dict[str, object], number: int, direction: int) -> int:
    """The next (+1) or previous (-1) page with questions to answer; `number` if none."""
    steps = _visible_pages(chosen, answers)
    candidates = [n for n in steps if (n - number) * direction > 0]
    if not candidates:
        return number
    return min(candidates) if direction > 0 else max(candidates)


def _page_number(given: object, chosen: Questionnaire, answers: dict[str, object]) -> int:
    """The page asked for, or where to resume: the first with a question still unanswered."""
    pages = page_variables(chosen)
    steps = _visible_pages(chosen, answers)
    if isinstance(given, str) and given.isdigit() and int(given) in steps:
        return int(given)
    checked = check(chosen, answers)
    for number in steps:
        if any(
            takes_input(v) and v.name not in checked.values
            for v in visible(pages[number - 1], checked)
        ):
            return number
    return steps[-1] if steps else 1


def _first_page_with(
    chosen: Questionnaire, issues: Sequence[Issue], answers: dict[str, object]
) -> int:
    names = {issue.variable for issue in issues}
    for number, variables in enumerate(page_variables(chosen), start=1):
        if any(v.name in names for v in variables):
            return number
    return _page_number(None, chosen, answers)


def _questionnaire_of(found: OpenLink) -> tuple[RegistryFolder, Questionnaire] | None:
    registry = find_registry(found.registry_key)
    if registry is None:
        return None
    try:
        return registry, registry.questionnaire(
            found.questionnaire_key, found.questionnaire_version
        )
    except KeyError:
        _log.warning(
            "PROM invitation %s names questionnaire %s v%s, which this installation lacks",
            found.invitation_id,
            found.questionnaire_key,
            found.questionnaire_version,
        )
        return None


def _dead(link: DeadLink, language: str) -> flask.Response:
    """The kind page of a dead link: 404 if it never existed, 410 if it is gone; no data."""
    status = 404 if link.state == "unknown" else 410
    return _notice("prom.dead.heading", f"prom.dead.{link.state}", language, status=status)


def _notice(
    heading: str, body: str, language: str, *, status: int = 200, again: str | None = None
) -> flask.Response:
    path = flask.request.path
    return _render(
        "prom/notice.html",
        language,
        heading,
        status=status,
        body=translate(body, language),
        again=again,
        switch=lambda code: f"{path}?lang={code}",
    )


def _render(
    template: str, language: str, title_key: str, *, status: int = 200, **context: object
) -> flask.Response:
    page = flask.render_template(
        template,
        language=language,
        languages=PATIENT_LANGUAGES,
        title=translate(title_key, language),
        t=lambda key, **values: translate(key, language, **values),
        name_of=lambda code: translate("prom.language_name", code),
        date_text=lambda moment: date_text(moment, language),
        **context,
    )
    return flask.Response(page, status=status)


def _language(invitation_language: str | None) -> str:
    """`?lang=` when given, else the invitation's language, else bokmål."""
    given = flask.request.args.get("lang")
    return patient_language(given if given is not None else invitation_language)


def _see_other(address: str) -> flask.Response:
    """303 See Other after a POST, so reloading the next page never posts the form again."""
    return flask.Response(status=303, headers={"Location": address})


def _private(response: flask.Response) -> flask.Response:
    """Answers are never cached and pages never indexed. (The secret in the path never leaks
    as a referrer: the pages say `<meta name="referrer" content="no-referrer">`, which the
    site-wide Referrer-Policy header would otherwise overrule here.)"""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _csrf_refused(error: CSRFError) -> flask.Response:
    """The form's CSRF token was missing or stale (the browser kept the page too long)."""
    _record("request.csrf_refused", reason=error.description)
    language = _language(None)
    again = f"{flask.request.path}?lang={language}"
    return _notice("prom.csrf.heading", "prom.csrf.body", language, status=400, again=again)


def _too_many(error: TooManyRequests) -> flask.Response:
    _record("prom.rate_limited", limit=str(error.description))
    return _notice("prom.too_many.heading", "prom.too_many.body", _language(None), status=429)


def _record(action: str, **details: str | None) -> None:
    """Audit with the route, never the path: the path holds the link's secret."""
    rule = flask.request.url_rule.rule if flask.request.url_rule is not None else None
    record_event(
        database(), action, patient_actor(remote_addr()), details={"route": rule, **details}
    )
