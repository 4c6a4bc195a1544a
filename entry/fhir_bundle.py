"""Reading a FHIR R4 Bundle about one hospital stay into the values of a draft registration.

A patient record system sends one Bundle (type `collection` or `transaction`) per stay: one
Patient, one Encounter, the Organization the Encounter's `serviceProvider` names, and the
Conditions, Procedures, MedicationStatements and Observations of the stay. `read_bundle`
checks it against FHIR R4 (`entry.fhir_resources`) and then applies the registry's mapping
(`entry.fhir_mapping`) to all of it. It is pure: no
database and no clock; the unit is returned as the identifier the bundle gives, for the
caller to look up.

Nothing is dropped in silence. A resource the registry does not read, a code the mapping has
no rule for, a status that does not say the thing happened (a Procedure `not-done`), a value
of the wrong kind or unit, a time without its date, two resources giving one variable two
values: each is a `BundleProblem` naming the element (a FHIRPath from the Bundle, such as
`Bundle.entry[4].resource.valueQuantity.unit`), the resource (`Observation/nihss-1`) and the
reason, and all of them are raised together. Messages never repeat the national id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Final

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.reference import Reference

from entry.dictionary_model import Dictionary
from entry.fhir_bundle_messages import ProblemReason
from entry.fhir_mapping import CODED_RESOURCES, CodeRule, FhirMapping, UnitKind
from entry.fhir_resources import (
    BundleProblem,
    Entry,
    FhirBundleError,
    bundle_problem,
    validated_bundle,
)
from entry.national_id import InvalidNationalId, parse_national_id
from entry.record_rules import convert

SOURCE: Final = "fhir"
"""The import-key source of every bundle: re-posting a stay updates the draft it made."""
SOURCE_KEY_LENGTH: Final = 200
"""The longest `<system>|<value>` key the import keys hold."""
BUNDLE_TYPES: Final = frozenset({"collection", "transaction"})
AFFIRMED: Final[Mapping[str, frozenset[str]]] = {
    "Encounter": frozenset({"arrived", "triaged", "in-progress", "onleave", "finished"}),
    "Condition": frozenset({"confirmed", "provisional"}),  # verificationStatus; absent is fine
    "Procedure": frozenset({"completed", "in-progress", "stopped"}),
    "MedicationStatement": frozenset({"active", "completed", "stopped"}),
    "Observation": frozenset({"final", "amended", "corrected", "preliminary"}),
}
"""Statuses that say the thing happened: only then may its codes give values."""
TIME_ELEMENTS: Final = {
    "Condition": "onset",
    "Procedure": "performed",
    "MedicationStatement": "effective",
    "Observation": "effective",
}
OBSERVATION_VALUES: Final = (
    "valueQuantity", "valueCodeableConcept", "valueString", "valueBoolean", "valueInteger",
    "valueRange", "valueRatio", "valueSampledData", "valueTime", "valueDateTime", "valuePeriod",
)  # fmt: skip


@dataclass(frozen=True)
class Origin:
    """Where in the bundle something came from: the element (FHIRPath) and its resource."""

    path: str
    resource: str


@dataclass(frozen=True)
class UnitReference:
    """The unit as the bundle names it: a unit id (RESH) or an organisation number."""

    kind: UnitKind
    number: int
    origin: Origin


@dataclass(frozen=True)
class BundleDraft:
    """What a valid bundle says: the draft's values and where each came from."""

    values: Mapping[str, object]
    sources: Mapping[str, Origin]
    """Variable → where its value came from."""
    national_id: str
    national_id_origin: Origin
    unit: UnitReference
    source_key: str
    """`<system>|<value>` of the Encounter's identifier (else the Bundle's)."""
    source_key_origin: Origin

    def __repr__(self) -> str:  # the national id stays out of logs and test output
        return f"BundleDraft(values={dict(self.values)!r}, unit={self.unit!r})"


def read_bundle(raw: object, mapping: FhirMapping, dictionary: Dictionary) -> BundleDraft:
    """The draft a bundle gives; raises `FhirBundleError` with every problem found.

    First the bundle must be valid FHIR R4 of supported resource types; then the mapping is
    applied to all of it, so every unknown code and every unusable value is reported at once.
    """
    bundle, entries = validated_bundle(raw)
    return _Reader(mapping, dictionary, bundle, entries).draft()


def problem_at(origin: Origin, reason: ProblemReason, **values: object) -> BundleProblem:
    """A problem found after reading, by whoever judges the draft (the unit, the stored record)."""
    return bundle_problem(origin.path, origin.resource, reason, **values)


@dataclass
class _Reader:
    """Applies the mapping to a valid bundle, collecting values, sources and problems."""

    mapping: FhirMapping
    dictionary: Dictionary
    bundle: Bundle
    entries: list[Entry]
    values: dict[str, object] = field(default_factory=dict)
    sources: dict[str, Origin] = field(default_factory=dict)
    problems: list[BundleProblem] = field(default_factory=list)

    def problem(self, path: str, resource: str, reason: ProblemReason, **values: object) -> None:
        self.problems.append(bundle_problem(path, resource, reason, **values))

    def draft(self) -> BundleDraft:
        if self.bundle.type not in BUNDLE_TYPES:
            self.problem("Bundle.type", "Bundle", "bundle_type", kind=self.bundle.type)
        patient, encounter = self.one("Patient"), self.one("Encounter")
        if patient is None or encounter is None:
            raise FhirBundleError(self.problems)
        identity = self.national_id(patient)
        self.subject(encounter, patient)
        self.status(encounter, encounter.model.status, ".status")
        start = self.period(encounter)
        self.patient_values(patient, start)
        self.disposition(encounter)
        unit = self.unit(encounter)
        key = self.source_key(encounter)
        for entry in self.entries:
            if entry.kind in CODED_RESOURCES:
                self.coded(entry, patient)
        if self.problems or identity is None or unit is None or key is None:
            raise FhirBundleError(self.problems)
        return BundleDraft(self.values, self.sources, *identity, unit, *key)

    def one(self, kind: str) -> Entry | None:
        found = [entry for entry in self.entries if entry.kind == kind]
        if len(found) != 1:
            self.problem("Bundle.entry", "Bundle", "count", kind=kind, found=len(found))
            return None
        return found[0]

    # --- the patient and the stay --------------------------------------------------------

    def national_id(self, patient: Entry) -> tuple[str, Origin] | None:
        for position, identifier in enumerate(patient.model.identifier or []):
            kind = self.mapping.national_id_systems.get(identifier.system or "")
            if kind is None or not identifier.value:
                continue
            path = f"{patient.path}.identifier[{position}].value"
            try:
                parsed = parse_national_id(identifier.value)
            except InvalidNationalId as error:
                self.problem(path, patient.label, "national_id", detail=error.reason)
                return None
            if parsed.kind != kind:
                self.problem(path, patient.label, "national_id_kind", found=parsed.kind, kind=kind)
                return None
            return parsed.digits, Origin(path, patient.label)
        self.problem(f"{patient.path}.identifier", patient.label, "no_national_id")
        return None

    def patient_values(self, patient: Entry, start: date | None) -> None:
        gender = patient.model.gender
        if self.mapping.gender_variable is not None and gender is not None:
            path = f"{patient.path}.gender"
            if gender in self.mapping.gender_codes:
                value = self.mapping.gender_codes[gender]
                self.assign(self.mapping.gender_variable, value, path, patient.label)
            else:
                self.problem(path, patient.label, "unknown_code", codes=gender)
        birth = patient.model.birthDate
        if self.mapping.age_variable is None or birth is None:
            return
        path = f"{patient.path}.birthDate"
        if not isinstance(birth, date):
            self.problem(path, patient.label, "partial_date", value=birth)
        elif start is not None:
            age = start.year - birth.year - ((start.month, start.day) < (birth.month, birth.day))
            self.assign(self.mapping.age_variable, age, path, patient.label)

    def period(self, encounter: Entry) -> date | None:
        """Start and end of the stay; the start's local date (for age), if it has one."""
        period = encounter.model.period
        start = period.start if period else None
        path = f"{encounter.path}.period.start"
        if start is None:
            self.problem(
                path, encounter.label, "event_date", variable=self.mapping.event_date_variable
            )
        else:
            self.moment(self.mapping.start, start, path, encounter.label)
        if period is not None and period.end is not None:
            self.moment(
                self.mapping.end, period.end, f"{encounter.path}.period.end", encounter.label
            )
        moment = self.local(start) if start is not None else None
        if isinstance(moment, datetime):
            return moment.date()
        return moment if isinstance(moment, date) else None

    def disposition(self, encounter: Entry) -> None:
        stay = encounter.model.hospitalization
        concept = stay.dischargeDisposition if stay else None
        if concept is not None:
            path = f"{encounter.path}.hospitalization.dischargeDisposition"
            rules = self.mapping.discharge_disposition
            self.apply_codes(rules, concept, path, encounter)

    def unit(self, encounter: Entry) -> UnitReference | None:
        reference = encounter.model.serviceProvider
        path = f"{encounter.path}.serviceProvider"
        identifiers = []
        if reference is not None and reference.identifier is not None:
            identifiers.append((reference.identifier, f"{path}.identifier", encounter.label))
        if reference is not None and reference.reference:
            organization = self.resolve(reference)
            if organization is None or organization.kind != "Organization":
                self.problem(f"{path}.reference", encounter.label, "reference")
                return None
            identifiers += [
                (identifier, f"{organization.path}.identifier[{position}]", organization.label)
                for position, identifier in enumerate(organization.model.identifier or [])
            ]
        for system, kind in self.mapping.unit_systems.items():
            for identifier, where, label in identifiers:
                if identifier.system != system:
                    continue
                value = (identifier.value or "").strip()
                if not value.isdigit():
                    self.problem(f"{where}.value", label, "unit_number")
                    return None
                return UnitReference(kind, int(value), Origin(f"{where}.value", label))
        systems = ", ".join(self.mapping.unit_systems)
        self.problem(path, encounter.label, "no_unit", systems=systems)
        return None

    def source_key(self, encounter: Entry) -> tuple[str, Origin] | None:
        """The stay's key in the sending system: re-posting it updates the same draft."""
        candidates = [
            (identifier, f"{encounter.path}.identifier[{position}]")
            for position, identifier in enumerate(encounter.model.identifier or [])
        ]
        if self.bundle.identifier is not None:
            candidates.append((self.bundle.identifier, "Bundle.identifier"))
        for identifier, path in candidates:
            if identifier.system and identifier.value:
                key = f"{identifier.system}|{identifier.value}"
                if len(key) > SOURCE_KEY_LENGTH:
                    self.problem(path, encounter.label, "key_length", most=SOURCE_KEY_LENGTH)
                    return None
                return key, Origin(path, encounter.label)
        self.problem(f"{encounter.path}.identifier", encounter.label, "no_key")
        return None

    # --- coded resources -----------------------------------------------------------------

    def coded(self, entry: Entry, patient: Entry) -> None:
        model = entry.model
        status, element = getattr(model, "status", None), ".status"
        if entry.kind == "Condition":
            coding = model.verificationStatus.coding if model.verificationStatus else None
            status = coding[0].code if coding else None
            element = ".verificationStatus.coding[0].code"
        if not self.status(entry, status, element):
            return
        self.subject(entry, patient)
        if entry.kind == "MedicationStatement":
            concept, element = model.medicationCodeableConcept, "medicationCodeableConcept"
            if concept is None:
                self.problem(f"{entry.path}.medicationReference", entry.label, "medication")
                return
        else:
            concept, element = model.code, "code"
        self.apply_codes(
            self.mapping.rules_for(entry.kind), concept, f"{entry.path}.{element}", entry
        )

    def apply_codes(
        self, rules: Sequence[CodeRule], concept: CodeableConcept | None, path: str, entry: Entry
    ) -> None:
        coded = concept.coding if concept is not None else None
        codings = [(c.system, c.code) for c in (coded or []) if c.system and c.code]
        if not codings:
            self.problem(path, entry.label, "no_code")
            return
        matched = self.mapping.matching(rules, codings)
        if not matched:
            codes = ", ".join(f"{system}|{code}" for system, code in codings)
            self.problem(path, entry.label, "unknown_code", codes=codes)
        for rule in matched:
            for name, value in rule.assign.items():
                self.assign(name, value, path, entry.label)
            if rule.time is not None:
                self.rule_time(rule.time, entry)
            if rule.value is not None:
                self.observation_value(rule, entry)

    def rule_time(self, variable: str, entry: Entry) -> None:
        """The resource's own time (onset, performed, effective): a moment or a period's start."""
        element = TIME_ELEMENTS[entry.kind]
        moment = getattr(entry.model, f"{element}DateTime", None)
        path = f"{entry.path}.{element}DateTime"
        period = getattr(entry.model, f"{element}Period", None)
        if moment is None and period is not None:
            moment, path = period.start, f"{entry.path}.{element}Period.start"
        if moment is not None:
            self.moment((variable,), moment, path, entry.label)

    def observation_value(self, rule: CodeRule, entry: Entry) -> None:
        assert rule.value is not None
        model = entry.model
        quantity = model.valueQuantity
        if quantity is not None and quantity.value is not None:
            path = f"{entry.path}.valueQuantity"
            given = quantity.code or quantity.unit
            if rule.unit is not None and given != rule.unit:
                self.problem(f"{path}.code", entry.label, "unit", found=given, wanted=rule.unit)
                return
            self.assign(rule.value, _number(quantity.value), f"{path}.value", entry.label)
        elif model.valueInteger is not None and rule.unit is None:
            self.assign(rule.value, model.valueInteger, f"{entry.path}.valueInteger", entry.label)
        else:
            other = next((name for name in OBSERVATION_VALUES if getattr(model, name, None)), None)
            where = f"{entry.path}.{other or 'value[x]'}"
            self.problem(where, entry.label, "value_kind", unit=rule.unit or "-")

    # --- shared steps --------------------------------------------------------------------

    def status(self, entry: Entry, status: str | None, element: str) -> bool:
        """Whether the resource's status says it happened; a problem if it says otherwise."""
        allowed = AFFIRMED[entry.kind]
        if status in allowed or (entry.kind == "Condition" and status is None):
            return True
        self.problem(
            f"{entry.path}{element}",
            entry.label,
            "status",
            status=status,
            allowed=", ".join(sorted(allowed)),
        )
        return False

    def subject(self, entry: Entry, patient: Entry) -> None:
        """A resource about someone else than the bundle's Patient must not join the draft."""
        reference = entry.model.subject
        if reference is not None and reference.reference and self.resolve(reference) is not patient:
            self.problem(f"{entry.path}.subject.reference", entry.label, "other_patient")

    def resolve(self, reference: Reference) -> Entry | None:
        """The entry a reference points to: by fullUrl, or by `Type/id` (relative or absolute)."""
        target = str(reference.reference)
        for entry in self.entries:
            relative = f"{entry.kind}/{entry.model.id}" if entry.model.id else None
            if target == entry.full_url or (
                relative and (target == relative or target.endswith(f"/{relative}"))
            ):
                return entry
        return None

    def local(self, moment: date | datetime | str) -> date | datetime | str:
        """A FHIR moment on the registry's clock: times carry an offset, the registry none."""
        if isinstance(moment, datetime):
            return moment.astimezone(self.mapping.zone).replace(tzinfo=None)
        return moment

    def moment(
        self, variables: Sequence[str], raw: date | datetime | str, path: str, label: str
    ) -> None:
        """A date or date-time into date and date-time variables; a bare date fills date
        variables only, and is refused if there are none (its time would be lost unseen)."""
        moment = self.local(raw)
        if isinstance(moment, str):
            self.problem(path, label, "partial_date", value=moment)
            return
        kinds = {name: self.dictionary.variable(name).type for name in variables}
        if not isinstance(moment, datetime) and "date" not in kinds.values():
            self.problem(path, label, "no_time")
            return
        for name, kind in kinds.items():
            if kind == "datetime" and isinstance(moment, datetime):
                self.assign(name, moment, path, label)
            elif kind == "date":
                day = moment.date() if isinstance(moment, datetime) else moment
                self.assign(name, day, path, label)

    def assign(self, name: str, raw: object, path: str, label: str) -> None:
        """One value for one variable, read by its type; a second, different value conflicts."""
        variable = self.dictionary.variable(name)
        try:
            value = convert(variable, raw)
        except ValueError:
            self.problem(path, label, "type", variable=name, kind=variable.type)
            return
        if name in self.values and self.values[name] != value:
            self.problem(
                path, label, "conflict", variable=name, value=value,
                first=self.values[name], other=self.sources[name].path,
            )  # fmt: skip
            return
        self.values.setdefault(name, value)
        self.sources.setdefault(name, Origin(path, label))


def _number(value: Decimal) -> int | float:
    """A FHIR decimal as the rules read numbers: whole numbers as integers."""
    return int(value) if value == value.to_integral_value() else float(value)
