"""Reading a registry's FHIR mapping (`fhir_map.yaml`): which FHIR R4 element gives which variable.

A hospital's patient record system sends a FHIR Bundle about one stay; the mapping says how
its resources become the values of a draft registration (`entry.fhir_bundle` applies it).
It is read at start-up with the registry folder and checked against the dictionary, so a
misspelt variable, a code that is not one of the variable's choices or a date element mapped
to a number stops the app with every problem named by its key. The shape::

    timezone: Europe/Oslo             # FHIR times carry an offset; the registry keeps clock times
    systems:                          # short names for code systems, used by the rules below
      icd10: {uri: [http://hl7.org/fhir/sid/icd-10], prefix: true}   # I63 matches I63.9, I639
    patient:
      national_id: {urn:oid:2.16.578.1.12.4.1.4.1: fnr}   # Patient.identifier.system → kind
      gender: {variable: sex, codes: {male: 1, female: 2}}
      age: age                        # whole years from Patient.birthDate to the stay's start
    unit:                             # Organization.identifier.system → how it names the unit
      urn:oid:2.16.578.1.12.4.1.4.102: unit_id            # RESH id: the unit id itself
      urn:oid:2.16.578.1.12.4.1.4.101: org_number         # organisation number of a unit
    encounter:
      start: [admission_date]         # Encounter.period.start
      end: [discharge_date]           # Encounter.period.end
      discharge_disposition:          # Encounter.hospitalization.dischargeDisposition
        - {code: {discharge: [exp]}, set: {died_in_hospital: 1}}
    resources:                        # Condition, Procedure, MedicationStatement, Observation
      - resource: Condition
        code: {icd10: [I63]}
        set: {stroke_type: 1}         # fixed values when the code is present
      - resource: MedicationStatement
        code: {atc: [B01AD02]}
        set: {thrombolysis: 1}
        time: thrombolysis_datetime   # the resource's own time (effective[x], performed[x], ...)
      - resource: Observation
        code: {loinc: [72089-6]}
        value: nihss_admission        # Observation.valueQuantity / valueInteger
        unit: mmol/L                  # the unit the value must carry (UCUM code or unit text)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, TypeGuard, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from entry.dictionary_model import Dictionary, Variable
from entry.national_id import NationalIdKind
from entry.record_rules import INPUT_FREE_TYPES, convert

MAPPING_FILE: Final = "fhir_map.yaml"
UnitKind = Literal["unit_id", "org_number"]
CodedResource = Literal["Condition", "Procedure", "MedicationStatement", "Observation"]
CODED_RESOURCES: Final[tuple[CodedResource, ...]] = get_args(CodedResource)
TOP_KEYS: Final = frozenset({"timezone", "systems", "patient", "unit", "encounter", "resources"})
RULE_KEYS: Final = frozenset({"resource", "code", "set", "time", "value", "unit"})
MOMENT_TYPES: Final = frozenset({"date", "datetime"})
NUMBER_TYPES: Final = frozenset({"integer", "decimal"})


class FhirMappingError(ValueError):
    """The mapping cannot be used; `problems` names every key at fault and why."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class CodeSystem:
    name: str
    uris: tuple[str, ...]
    prefix: bool = False
    """Codes match by prefix, dots ignored (ICD-10: rule I63 matches I63.9 and I639)."""

    def matches(self, rule_code: str, code: str) -> bool:
        if not self.prefix:
            return rule_code == code
        return _plain(code).startswith(_plain(rule_code))


@dataclass(frozen=True)
class CodeRule:
    """Codes that, when a resource carries one, give values. `key` names it in messages."""

    key: str
    codes: Mapping[str, tuple[str, ...]]
    """System short name → codes."""
    assign: Mapping[str, object] = field(default_factory=dict)
    """Variable → fixed value, already read by the variable's type."""
    resource: CodedResource | None = None
    time: str | None = None
    value: str | None = None
    unit: str | None = None


@dataclass(frozen=True)
class FhirMapping:
    timezone: str
    systems: Mapping[str, CodeSystem]
    national_id_systems: Mapping[str, NationalIdKind]
    unit_systems: Mapping[str, UnitKind]
    event_date_variable: str
    gender_variable: str | None = None
    gender_codes: Mapping[str, object] = field(default_factory=dict)
    age_variable: str | None = None
    start: tuple[str, ...] = ()
    end: tuple[str, ...] = ()
    discharge_disposition: tuple[CodeRule, ...] = ()
    rules: tuple[CodeRule, ...] = ()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def matching(
        self, rules: Sequence[CodeRule], codings: Sequence[tuple[str, str]]
    ) -> list[CodeRule]:
        """The rules any (system uri, code) of `codings` matches, each once, in rule order."""
        found = []
        for rule in rules:
            for name, codes in rule.codes.items():
                system = self.systems[name]
                if any(
                    uri in system.uris and system.matches(wanted, code)
                    for uri, code in codings
                    for wanted in codes
                ):
                    found.append(rule)
                    break
        return found

    def rules_for(self, resource: str) -> tuple[CodeRule, ...]:
        return tuple(rule for rule in self.rules if rule.resource == resource)


def read_fhir_mapping(path: Path, dictionary: Dictionary, event_date_variable: str) -> FhirMapping:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise FhirMappingError([f"not valid YAML: {error}"]) from None
    return parse_fhir_mapping(data, dictionary, event_date_variable)


def parse_fhir_mapping(
    data: object, dictionary: Dictionary, event_date_variable: str
) -> FhirMapping:
    """The mapping, checked against the dictionary; raises with every problem at once."""
    if not isinstance(data, Mapping):
        raise FhirMappingError(["the mapping must be a YAML mapping (key: value lines)"])
    reader = _Reader(dictionary)
    reader.unknown_keys("", data, TOP_KEYS)
    timezone = str(data.get("timezone") or "")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        reader.problem("timezone", "a time zone name such as Europe/Oslo is needed")
    systems = reader.systems(data.get("systems"))
    patient = reader.section("patient", data.get("patient"), {"national_id", "gender", "age"})
    national_ids = reader.identifier_systems(
        "patient.national_id", patient.get("national_id"), get_args(NationalIdKind)
    )
    gender_variable, gender_codes = reader.gender(patient.get("gender"))
    age = reader.variable("patient.age", patient.get("age"), {"integer"}, optional=True)
    units = reader.identifier_systems("unit", data.get("unit"), get_args(UnitKind))
    encounter = reader.section(
        "encounter", data.get("encounter"), {"start", "end", "discharge_disposition"}
    )
    start = reader.variables("encounter.start", encounter.get("start"), MOMENT_TYPES)
    end = reader.variables("encounter.end", encounter.get("end"), MOMENT_TYPES)
    disposition = reader.rules(
        "encounter.discharge_disposition", encounter.get("discharge_disposition"), systems, False
    )
    rules = reader.rules("resources", data.get("resources"), systems, True)
    if event_date_variable not in start:
        reader.problem(
            "encounter.start", f"must give the event date variable {event_date_variable!r}"
        )
    if reader.problems:
        raise FhirMappingError(reader.problems)
    return FhirMapping(
        timezone=timezone,
        systems=systems,
        national_id_systems=national_ids,  # type: ignore[arg-type]
        unit_systems=units,  # type: ignore[arg-type]
        event_date_variable=event_date_variable,
        gender_variable=gender_variable,
        gender_codes=gender_codes,
        age_variable=age,
        start=start,
        end=end,
        discharge_disposition=disposition,
        rules=rules,
    )


class _Reader:
    """Collects every problem of one mapping, each as `key: reason`."""

    def __init__(self, dictionary: Dictionary) -> None:
        self.dictionary = dictionary
        self.problems: list[str] = []

    def problem(self, key: str, reason: str) -> None:
        self.problems.append(f"{key}: {reason}")

    def unknown_keys(self, key: str, data: Mapping[object, object], known: frozenset[str]) -> None:
        for name in data:
            if name not in known:
                self.problem(f"{key}.{name}" if key else str(name), "unknown key")

    def section(
        self, key: str, data: object, known: set[str] | None = None
    ) -> Mapping[object, object]:
        """`data` as a mapping; with `known`, its other keys are problems."""
        if not isinstance(data, Mapping):
            self.problem(key, "a mapping is needed")
            return {}
        if known is not None:
            self.unknown_keys(key, data, frozenset(known))
        return data

    def systems(self, data: object) -> dict[str, CodeSystem]:
        systems: dict[str, CodeSystem] = {}
        for name, entry in self.section("systems", data).items():
            key = f"systems.{name}"
            if not isinstance(entry, Mapping):
                self.problem(key, "a mapping with `uri` (and `prefix`) is needed")
                continue
            self.unknown_keys(key, entry, frozenset({"uri", "prefix"}))
            uris = entry.get("uri")
            if not _strings(uris):
                self.problem(f"{key}.uri", "a list of system URIs is needed")
                continue
            if not isinstance(entry.get("prefix", False), bool):
                self.problem(f"{key}.prefix", "true or false is needed")
            systems[str(name)] = CodeSystem(
                str(name), tuple(str(uri) for uri in uris), entry.get("prefix") is True
            )
        return systems

    def identifier_systems(self, key: str, data: object, kinds: tuple[str, ...]) -> dict[str, str]:
        found = {}
        section = data if isinstance(data, Mapping) else {}
        if not section:
            self.problem(key, "a mapping of identifier system to kind is needed")
        for system, kind in section.items():
            if kind not in kinds:
                self.problem(f"{key}.{system}", f"must be one of {', '.join(kinds)}")
            found[str(system)] = str(kind)
        return found

    def gender(self, data: object) -> tuple[str | None, dict[str, object]]:
        if data is None:
            return None, {}
        section = self.section("patient.gender", data, {"variable", "codes"})
        name = self.variable(
            "patient.gender.variable", section.get("variable"), {"single", "yesno"}
        )
        codes = section.get("codes")
        if not isinstance(codes, Mapping) or not codes:
            self.problem("patient.gender.codes", "a mapping of FHIR gender to choice is needed")
            return name, {}
        return name, self.values("patient.gender.codes", name, codes)

    def variable(
        self, key: str, name: object, types: set[str] | frozenset[str], optional: bool = False
    ) -> str | None:
        if name is None and optional:
            return None
        variable = self._variable(key, name)
        if variable is not None and variable.type not in types:
            self.problem(
                key, f"{variable.name!r} is {variable.type}, not {' or '.join(sorted(types))}"
            )
        return None if variable is None else variable.name

    def variables(self, key: str, names: object, types: frozenset[str]) -> tuple[str, ...]:
        if names is None:
            return ()
        if not _strings(names):
            self.problem(key, "a list of variable names is needed")
            return ()
        found = (self.variable(f"{key}[{i}]", name, types) for i, name in enumerate(names))
        return tuple(name for name in found if name is not None)

    def values(
        self, key: str, name: str | None, codes: Mapping[object, object]
    ) -> dict[str, object]:
        """FHIR code → the variable's value, each read and checked by the variable's type."""
        if name is None:
            return {}
        variable = self.dictionary.variable(name)
        read = {}
        for code, raw in codes.items():
            value = self._value(f"{key}.{code}", variable, raw)
            if value is not None:
                read[str(code)] = value
        return read

    def rules(
        self, key: str, data: object, systems: Mapping[str, CodeSystem], of_resources: bool
    ) -> tuple[CodeRule, ...]:
        if data is None:
            return ()
        if not isinstance(data, list):
            self.problem(key, "a list of rules is needed")
            return ()
        return tuple(
            rule
            for position, entry in enumerate(data)
            if (rule := self._rule(f"{key}[{position}]", entry, systems, of_resources))
        )

    def _rule(
        self, key: str, data: object, systems: Mapping[str, CodeSystem], of_resources: bool
    ) -> CodeRule | None:
        known = RULE_KEYS if of_resources else frozenset({"code", "set"})
        section = self.section(key, data, set(known))
        if not section:
            return None
        resource = section.get("resource")
        if of_resources and resource not in CODED_RESOURCES:
            self.problem(f"{key}.resource", f"must be one of {', '.join(CODED_RESOURCES)}")
        codes = self._codes(f"{key}.code", section.get("code"), systems)
        assign: dict[str, object] = {}
        for name, raw in self.section(f"{key}.set", section.get("set", {})).items():
            variable = self._variable(f"{key}.set.{name}", name)
            value = None if variable is None else self._value(f"{key}.set.{name}", variable, raw)
            if variable is not None and value is not None:
                assign[variable.name] = value
        time = self.variable(f"{key}.time", section.get("time"), MOMENT_TYPES, optional=True)
        value_variable = self.variable(
            f"{key}.value", section.get("value"), NUMBER_TYPES, optional=True
        )
        if value_variable is not None and resource != "Observation":
            self.problem(f"{key}.value", "only an Observation has a value to read")
        unit = section.get("unit")
        if unit is not None and (value_variable is None or not isinstance(unit, str)):
            self.problem(f"{key}.unit", "a unit text goes with `value`")
        if not (section.get("set") or "value" in section):
            self.problem(key, "`set` or `value` is needed: a rule must give something")
        return CodeRule(
            key=key,
            codes=codes,
            assign=assign,
            resource=resource if resource in CODED_RESOURCES else None,
            time=time,
            value=value_variable,
            unit=unit if isinstance(unit, str) else None,
        )

    def _codes(
        self, key: str, data: object, systems: Mapping[str, CodeSystem]
    ) -> dict[str, tuple[str, ...]]:
        codes = {}
        section = data if isinstance(data, Mapping) else {}
        if not section:
            self.problem(key, "a mapping of system name to a list of codes is needed")
        for name, listed in section.items():
            if name not in systems:
                self.problem(f"{key}.{name}", "unknown system (not under `systems`)")
            elif not _strings(listed, number_ok=True):
                self.problem(f"{key}.{name}", "a list of codes is needed")
            else:
                codes[str(name)] = tuple(str(code) for code in listed)
        return codes

    def _variable(self, key: str, name: object) -> Variable | None:
        try:
            variable = self.dictionary.variable(str(name))
        except KeyError:
            self.problem(key, f"unknown variable {name!r}")
            return None
        if variable.type in INPUT_FREE_TYPES:
            self.problem(key, f"{variable.name!r} takes no input ({variable.type})")
            return None
        return variable

    def _value(self, key: str, variable: Variable, raw: object) -> object | None:
        """`raw` read as the variable's type and, for choices, one of them; else a problem."""
        try:
            value = convert(variable, raw)
        except ValueError:
            self.problem(key, f"{raw!r} cannot be read as {variable.name}'s type {variable.type}")
            return None
        allowed = {convert(variable, choice.code) for choice in variable.choices}
        if variable.type == "yesno":
            allowed = {0, 1}
        if value is None:
            self.problem(key, "a value is needed")
        elif allowed and value not in allowed:
            self.problem(key, f"{raw!r} is not one of {variable.name}'s choices")
            return None
        return value


def _strings(data: object, number_ok: bool = False) -> TypeGuard[list[str | int]]:
    kinds = (str, int) if number_ok else (str,)
    return (
        isinstance(data, list)
        and bool(data)
        and all(isinstance(item, kinds) and not isinstance(item, bool) for item in data)
    )


def _plain(code: str) -> str:
    return re.sub(r"[.\s]", "", code).upper()
