"""Registrars for the load benchmark: form saves through the page's own callback, and the
read-back that counts acknowledged writes the database does not hold.

A registrar saves as the form page's Save buttons do: the Dash callback of
`portal/pages/registration_form.py` (POST /_dash-update-component), with every field of
the form as the page draws it, the page's context store and the version it was given.
The field lists come from the rendered page, as the browser's pattern-matching lists do.
Each registration goes through four saves: a new admission form (a draft, with the
patient's national id), its discharge form (draft), a changed admission form (draft) and
the discharge form once more, completing the record; then the registrar starts the next.

Every acknowledged save (the answer carries the new version) is kept as a `Write`, with
the document the database must hold after it, worked out by the registry's own rules
(`entry.record_rules`, as the save path itself does). `lost_writes` then reads each
registration and its audit events back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import polars as pl
from sqlalchemy import select

from benchmarks.dash_client import (
    AnswerError,
    Visitor,
    answer_of,
    callback_key,
    components,
    outputs_of,
)
from data_access.audit import field_changes
from data_access.database import Database
from data_access.models import AuditEvent, Registration
from entry.dictionary_model import Dictionary
from entry.national_id import synthetic_national_ids
from entry.record_rules import TargetStatus, check_values
from portal.form_values import raw_values

FORM_PATH = "/registrations/form"
SAVE_OUTPUT = "rf-status.children"
STEPS: tuple[tuple[str, TargetStatus], ...] = (
    ("admission", "draft"),
    ("discharge", "draft"),
    ("admission", "draft"),
    ("discharge", "complete"),
)
"""(form, status) of each save of one registration."""


@dataclass(frozen=True)
class FormShape:
    """What the form page draws: its fields, its warnings' checklists, its Save buttons."""

    fields: tuple[str, ...]
    acknowledgements: tuple[str, ...]
    buttons: tuple[str, ...]

    @classmethod
    def of_page(cls, tree: Any) -> FormShape:
        ids = [n["props"]["id"] for n in components(tree) if isinstance(n["props"].get("id"), dict)]
        return cls(
            fields=tuple(i["name"] for i in ids if i.get("type") == "rf-field"),
            acknowledgements=tuple(i["name"] for i in ids if i.get("type") == "rf-ack"),
            buttons=tuple(i["status"] for i in ids if i.get("type") == "rf-save"),
        )


@dataclass(frozen=True)
class Write:
    """An acknowledged save, and the stored document that must follow from it."""

    registration_id: int
    version: int
    status: str
    document: Mapping[str, object]


@dataclass
class Registrar:
    """One registrar with their own session, saving records of their own unit, one at a time."""

    visitor: Visitor
    unit_id: int
    number: int
    dictionary: Dictionary
    shapes: Mapping[str, FormShape]
    save_key: str
    writes: list[Write] = field(default_factory=list)
    _step: int = 0
    _records: int = 0
    _context: dict[str, object] | None = None
    _version: int | None = None
    _raw: dict[str, object] = field(default_factory=dict)

    def next_save(self) -> dict[str, Any]:
        """The next save as the page posts it when a Save button is pressed."""
        form, status = STEPS[self._step]
        fresh = {"registry": "stroke", "unit": self.unit_id, "id": None, "status": None}
        context = {**(self._context or fresh), "form": form}
        national_id = self._national_id() if context["id"] is None else None
        return self._body(form, status, self._shown(form), context, national_id, self._version)

    def saved(self, raw: bytes) -> None:
        """Keep the acknowledged save and go on; `AnswerError` when the page did not save."""
        answer = answer_of(raw)
        if "rf-version" not in answer or "rf-context" not in answer:
            raise AnswerError(f"save refused: {json.dumps(answer.get('rf-status'))[:300]}")
        form, status = STEPS[self._step]
        self._context = answer["rf-context"]["data"]
        self._version = answer["rf-version"]["data"]
        self._raw |= raw_values(self.dictionary, form, self._shown(form))
        expected = check_values(
            self.dictionary, self._raw, target_status=status, today=date.today()
        ).document()
        assert self._context is not None and isinstance(self._version, int)
        self.writes.append(Write(int(str(self._context["id"])), self._version, status, expected))
        self._step = (self._step + 1) % len(STEPS)
        if self._step == 0:  # this record is complete: on to the next patient
            self._records += 1
            self._context, self._version, self._raw = None, None, {}

    def _body(
        self,
        form: str,
        status: str,
        shown: Mapping[str, object],
        context: Mapping[str, object],
        national_id: str | None,
        version: int | None,
    ) -> dict[str, Any]:
        shape = self.shapes[form]
        pressed = {"status": status, "type": "rf-save"}
        return {
            "output": self.save_key,
            "outputs": outputs_of(self.save_key),
            "inputs": [
                [
                    {
                        "id": {"status": s, "type": "rf-save"},
                        "property": "n_clicks",
                        "value": 1 if s == status else None,
                    }
                    for s in shape.buttons
                ]
            ],
            "state": [
                _pattern("rf-field", shape.fields, shown),
                _pattern("rf-ack", shape.acknowledgements, {}),
                {"id": "rf-national-id", "property": "value", "value": national_id},
                {"id": "rf-reason", "property": "value", "value": ""},
                {"id": "rf-context", "property": "data", "value": dict(context)},
                {"id": "rf-version", "property": "data", "value": version},
                {"id": "rf-language", "property": "data", "value": "en"},
            ],
            "changedPropIds": [json.dumps(pressed, separators=(",", ":")) + ".n_clicks"],
        }

    def _shown(self, form: str) -> dict[str, object]:
        """What the registrar has typed: plausible, different per record, changed on the
        second admission save so that every update really changes the record."""
        day = date(2025, 1, 1) + timedelta(days=(self.number * 29 + self._records * 13) % 330)
        text = day.strftime("%d.%m.%Y")
        if form == "discharge":
            discharged = (day + timedelta(days=5 + self._step // 2)).strftime("%d.%m.%Y")
            return {
                "discharge_date": discharged,
                "died_in_hospital": "0",
                "antithrombotic_discharge": "1",
                "statin_discharge": "1",
            }
        again = self._step // 2
        return {
            "admission_date": text,
            "arrival_datetime": f"{text} 10:00",
            "onset_known": "0",
            "age": str(55 + (self.number + self._records) % 35 + again),
            "sex": str(1 + (self.number + self._records) % 2),
            "nihss_admission": str(2 + (self._records + again) % 12),
            "stroke_type": "1",
            "thrombolysis": "1",
            "thrombolysis_datetime": f"{text} 10:{35 + again:02d}",
            "thrombectomy": "0",
            "stroke_unit": "1",
        }

    def _national_id(self) -> str:
        birth = date(1930 + self.number % 60, 1 + self._records % 12, 1 + self.number % 28)
        sex = "female" if self._records % 2 else "male"
        ids = synthetic_national_ids(pl.Series([birth]), pl.Series([sex]), self._records)
        return str(ids[0])


def _pattern(kind: str, names: Iterable[str], values: Mapping[str, object]) -> list[Any]:
    return [
        {"id": {"name": name, "type": kind}, "property": "value", "value": values.get(name)}
        for name in names
    ]


def form_shapes(visitor: Visitor, unit_id: int) -> dict[str, FormShape]:
    """The forms as the page draws them for a new registration at `unit_id`."""
    shapes = {}
    for form in {form for form, _status in STEPS}:
        page = visitor.page(FORM_PATH, f"?registry=stroke&form={form}&unit={unit_id}")
        shapes[form] = FormShape.of_page(page)
        if not shapes[form].fields:
            raise AnswerError(f"the {form} form of unit {unit_id} has no fields")
    return shapes


def save_callback(visitor: Visitor) -> str:
    return callback_key(visitor.callback_keys(), SAVE_OUTPUT)


@dataclass(frozen=True)
class ReadBack:
    """What the database holds of the acknowledged writes."""

    acknowledged: int
    missing: int
    wrong: int
    unacknowledged: int
    """Registrations whose version moved past the last acknowledged save (a save that
    failed on the client's side but was written); not lost, but worth knowing."""
    examples: tuple[str, ...]


def lost_writes(database: Database, writes: list[Write]) -> ReadBack:
    """Count the acknowledged writes that are missing or wrong in the database.

    Each save is found by its audit event, written in the same transaction (the creation,
    or the update naming its version), and its recorded changes must be the difference
    between the documents expected before and after it; each registration's row must hold
    the last acknowledged version, status and document exactly.
    """
    ids = sorted({w.registration_id for w in writes})
    with database.reading() as session:
        rows = {
            r.id: r for r in session.scalars(select(Registration).where(Registration.id.in_(ids)))
        }
        events = session.scalars(
            select(AuditEvent).where(
                AuditEvent.object_type == "registration",
                AuditEvent.object_id.in_([str(i) for i in ids]),
                AuditEvent.action.in_(("registration.create", "registration.update")),
            )
        ).all()
    by_version = {
        (int(str(e.object_id)), 1 if e.action == "registration.create" else e.details["version"]): e
        for e in events
    }
    last = {w.registration_id: w for w in writes}
    before: dict[int, Mapping[str, object]] = {}
    problems: list[tuple[str, str]] = []
    for write in writes:
        previous = before.get(write.registration_id, {})
        before[write.registration_id] = write.document
        row = rows.get(write.registration_id)
        event = by_version.get((write.registration_id, write.version))
        name = f"registration {write.registration_id} version {write.version}"
        if event is None or row is None:
            problems.append(("missing", f"{name}: no audit event or no row"))
        elif write.version > 1 and event.details["changes"] != _changes(previous, write.document):
            problems.append(("wrong", f"{name}: the audited changes are not the saved form's"))
        elif last[write.registration_id] is write and row.version == write.version:
            if (row.status, row.values) != (write.status, write.document):
                problems.append(("wrong", f"{name}: the row holds other values or status"))
        elif last[write.registration_id] is write and row.version < write.version:
            problems.append(("missing", f"{name}: the row holds version {row.version}"))
    unacknowledged = sum(row.version > last[i].version for i, row in rows.items() if i in last)
    return ReadBack(
        acknowledged=len(writes),
        missing=sum(kind == "missing" for kind, _ in problems),
        wrong=sum(kind == "wrong" for kind, _ in problems),
        unacknowledged=unacknowledged,
        examples=tuple(text for _, text in problems[:5]),
    )


def _changes(old: Mapping[str, object], new: Mapping[str, object]) -> object:
    """What the audit log records of a change, as it reads back from its JSON column."""
    return json.loads(json.dumps(field_changes(old, new)))
