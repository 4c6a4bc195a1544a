"""The "Pasientrapporterte svar" panel of a registration: what its patient was asked and said.

Read-only. The records come from `data_access.prom_responses.prom_records` (scoped to the
reader and audited there); this only draws them: per invitation the questionnaire, when it
was sent and how, its state, and once submitted every question with its answer in words and
each score with the instrument version and value set it was computed by.
"""

from __future__ import annotations

from collections.abc import Mapping

from dash import html
from dash.development.base_component import Component

from data_access.prom_responses import PromRecord
from entry.dictionary_model import Variable
from entry.questionnaires import Questionnaire
from entry.registry_folder import RegistryFolder
from portal.components.scroll_table import scroll_table
from portal.form_values import display_value
from portal.i18n import date_text, number, translate

PANEL_ID = "rf-prom"


def prom_panel(
    registry: RegistryFolder, records: tuple[PromRecord, ...], language: str
) -> html.Section:
    def t(key: str, **values: object) -> str:
        return translate(key, language, **values)

    content: list[Component] = [html.H2(t("prom.panel.heading"), id=f"{PANEL_ID}-heading")]
    if not records:
        content.append(html.P(t("prom.panel.none")))
    for record in records:
        content += _invitation(registry, record, language)
    return html.Section(
        id=PANEL_ID, className="prom-panel", **{"aria-labelledby": f"{PANEL_ID}-heading"},
        children=content,
    )  # fmt: skip


def _invitation(registry: RegistryFolder, record: PromRecord, language: str) -> list[Component]:
    def t(key: str, **values: object) -> str:
        return translate(key, language, **values)

    try:
        questionnaire = registry.questionnaire(
            record.questionnaire_key, record.questionnaire_version
        )
    except KeyError:
        unknown = translate(
            "prom.panel.unknown_questionnaire",
            language,
            key=record.questionnaire_key,
            version=record.questionnaire_version,
        )
        return [html.P(unknown)]
    when = record.submitted_at if record.status == "answered" else record.expires_at
    facts = [
        t(
            "prom.panel.invited",
            date=date_text(record.invited_at.date(), language),
            channel=t(f"prom.panel.channel.{record.channel}"),
        ),
        t("prom.panel.reminders", n=record.reminders_sent),
        t(
            f"prom.panel.status.{record.status}",
            date=date_text((when or record.expires_at).date(), language),
        ),
    ]
    parts: list[Component] = [
        html.H3(
            t(
                "prom.panel.questionnaire",
                title=questionnaire.title.in_language(language),
                version=questionnaire.version,
            )
        ),
        html.Ul([html.Li(fact) for fact in facts]),
    ]
    if record.submitted_at is not None:
        parts.append(_answers(questionnaire, record, language))
        if record.scores:
            parts.append(_scores(record.invitation_id, record.scores, language))
    return parts


def _answers(questionnaire: Questionnaire, record: PromRecord, language: str) -> html.Div:
    rows = [
        html.Tr([html.Th(q.label.in_language(language), scope="row"),
                 html.Td(_answer_text(q, record.answers.get(q.name), language))])
        for q in questionnaire.questions
    ]  # fmt: skip
    header = html.Tr(
        [
            html.Th(translate(key, language), scope="col")
            for key in ("prom.panel.question", "prom.panel.answer")
        ]
    )
    caption_id = f"{PANEL_ID}-answers-{record.invitation_id}"
    return scroll_table(
        f"{caption_id}-table", "admin-table", translate("prom.panel.answers", language), header,
        rows, caption_id=caption_id,
    )  # fmt: skip


def _scores(invitation_id: int, scores: Mapping[str, object], language: str) -> html.Div:
    rows = []
    for instrument, found in sorted(scores.items()):
        score = found if isinstance(found, Mapping) else {}
        value = score.get("value")
        shown = (
            translate("prom.panel.no_score", language)
            if not isinstance(value, int | float)
            else number(value, language, decimals=0 if isinstance(value, int) else 3)
        )
        rule = ", ".join(
            str(part) for part in (score.get("version"), score.get("value_set")) if part
        )
        rows.append(html.Tr([html.Th(instrument, scope="row"), html.Td(shown), html.Td(rule)]))
    header = html.Tr(
        [
            html.Th(translate(key, language), scope="col")
            for key in ("prom.panel.instrument", "prom.panel.score", "prom.panel.rule")
        ]
    )
    caption_id = f"{PANEL_ID}-scores-{invitation_id}"
    return scroll_table(
        f"{caption_id}-table", "admin-table", translate("prom.panel.scores", language), header,
        rows, caption_id=caption_id,
    )  # fmt: skip


def _answer_text(question: Variable, value: object, language: str) -> str:
    if value is None:
        return translate("prom.panel.not_answered", language)
    if question.type == "yesno":
        return translate("prom.yes" if value in (1, True) else "prom.no", language)
    if question.type in ("single", "multiple"):
        codes = value if isinstance(value, list) else [value]
        labels = {c.code: c.label.in_language(language) for c in question.choices}
        return "; ".join(labels.get(str(code), str(code)) for code in codes)
    return display_value(question, value, language)
