"""FHIR R4 bundles into draft values by the stroke registry's mapping (pure: no database)."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from entry.dictionary import load_dictionary
from entry.fhir_bundle import Origin, UnitReference, read_bundle
from entry.fhir_mapping import FhirMappingError, parse_fhir_mapping, read_fhir_mapping
from entry.fhir_resources import FhirBundleError
from entry.registry_folder import RegistryFolderError, read_registry_folder

STROKE = Path(__file__).resolve().parents[2] / "registries" / "stroke"
DICTIONARY = load_dictionary(STROKE / "dictionary.csv")
MAPPING = read_fhir_mapping(STROKE / "fhir_map.yaml", DICTIONARY, "admission_date")
EXAMPLE: dict[str, Any] = json.loads((STROKE / "examples" / "fhir_bundle.json").read_text())
NATIONAL_ID = "17854826816"  # the example's synthetic fødselsnummer (month + 80)
D_NUMBER = "57854800002"  # a synthetic D-number (day + 40, month + 80)
EXPECTED = {
    "admission_date": date(2025, 3, 1),
    "arrival_datetime": datetime(2025, 3, 1, 9, 40),
    "discharge_date": date(2025, 3, 8),
    "sex": 2,
    "age": 76,
    "died_in_hospital": 0,
    "discharge_destination": 1,
    "stroke_type": 1,
    "atrial_fibrillation": 1,
    "thrombolysis": 1,
    "thrombolysis_datetime": datetime(2025, 3, 1, 10, 15),
    "nihss_admission": 8,
    "glucose_admission": 7.4,
}
PATIENT, ORGANIZATION, ENCOUNTER, STROKE_DX, AF_DX, ALTEPLASE, NIHSS, GLUCOSE = range(8)


def _resource(bundle: dict[str, Any], index: int) -> dict[str, Any]:
    resource: dict[str, Any] = bundle["entry"][index]["resource"]
    return resource


def _problems(bundle: object) -> list[tuple[str, str]]:
    with pytest.raises(FhirBundleError) as caught:
        read_bundle(bundle, MAPPING, DICTIONARY)
    return [(problem.path, problem.rule) for problem in caught.value.problems]


def test_the_example_gives_exactly_the_expected_values() -> None:
    draft = read_bundle(EXAMPLE, MAPPING, DICTIONARY)
    assert dict(draft.values) == EXPECTED
    assert draft.national_id == NATIONAL_ID
    assert draft.national_id_origin.path == "Bundle.entry[0].resource.identifier[0].value"
    assert draft.unit == UnitReference(
        "unit_id",
        100032,
        Origin(
            "Bundle.entry[1].resource.identifier[0].value", "Organization/ullevaal-nevro (entry 1)"
        ),
    )
    assert draft.source_key == "https://ehr.example.no/fhir/episode|E-2025-000123"
    assert draft.sources["nihss_admission"].path == "Bundle.entry[6].resource.valueInteger"
    assert NATIONAL_ID not in repr(draft)


@pytest.mark.parametrize(
    ("start", "admission_date", "arrival"),
    [
        ("2025-07-01T22:30:00Z", date(2025, 7, 2), datetime(2025, 7, 2, 0, 30)),  # summer time
        ("2025-01-31T23:30:00Z", date(2025, 2, 1), datetime(2025, 2, 1, 0, 30)),
        ("2025-03-01T09:40:00+01:00", date(2025, 3, 1), datetime(2025, 3, 1, 9, 40)),
    ],
)
def test_times_are_read_on_the_registrys_clock(
    start: str, admission_date: date, arrival: datetime
) -> None:
    bundle = copy.deepcopy(EXAMPLE)
    _resource(bundle, ENCOUNTER)["period"] = {"start": start}
    del _resource(bundle, ALTEPLASE)["effectiveDateTime"]
    values = read_bundle(bundle, MAPPING, DICTIONARY).values
    assert (values["admission_date"], values["arrival_datetime"]) == (admission_date, arrival)


def test_a_date_only_start_fills_the_date_and_leaves_the_time_blank() -> None:
    bundle = copy.deepcopy(EXAMPLE)
    _resource(bundle, ENCOUNTER)["period"] = {"start": "2025-03-01"}
    values = read_bundle(bundle, MAPPING, DICTIONARY).values
    assert values["admission_date"] == date(2025, 3, 1) and "arrival_datetime" not in values


def test_the_encounter_key_falls_back_to_the_bundle_identifier() -> None:
    bundle = copy.deepcopy(EXAMPLE)
    del _resource(bundle, ENCOUNTER)["identifier"]
    draft = read_bundle(bundle, MAPPING, DICTIONARY)
    assert draft.source_key == "https://ehr.example.no/fhir/bundle|B-2025-000123"
    assert draft.source_key_origin.path == "Bundle.identifier"


def test_an_invalid_resource_is_named_with_its_path_and_nothing_else_is_read() -> None:
    bundle = copy.deepcopy(EXAMPLE)
    _resource(bundle, PATIENT)["birthDate"] = "1948-13-17"
    _resource(bundle, NIHSS)["valueInteger"] = "eight"
    bundle["entry"].append({"resource": {"resourceType": "Practitioner", "id": "dr"}})
    with pytest.raises(FhirBundleError) as caught:
        read_bundle(bundle, MAPPING, DICTIONARY)
    found = {(p.path, p.rule, p.resource) for p in caught.value.problems}
    assert found == {
        ("Bundle.entry[0].resource.birthDate", "fhir:invalid", "Patient/patient-1 (entry 0)"),
        ("Bundle.entry[6].resource.valueInteger", "fhir:invalid", "Observation/nihss (entry 6)"),
        ("Bundle.entry[8].resource.resourceType", "fhir:unsupported", "Practitioner/dr (entry 8)"),
    }
    messages = [p.message.en for p in caught.value.problems]
    assert any("Practitioner" in text for text in messages)


def test_unknown_codes_are_reported_with_every_other_problem_at_once() -> None:
    bundle = copy.deepcopy(EXAMPLE)
    _resource(bundle, AF_DX)["code"]["coding"][0]["code"] = "J18.9"
    _resource(bundle, NIHSS)["code"]["coding"][0]["code"] = "70182-1"  # the panel, not a score
    _resource(bundle, GLUCOSE)["valueQuantity"].update(code="mg/dL", unit="mg/dL")
    with pytest.raises(FhirBundleError) as caught:
        read_bundle(bundle, MAPPING, DICTIONARY)
    problems = caught.value.problems
    assert [(p.path, p.rule) for p in problems] == [
        ("Bundle.entry[4].resource.code", "fhir:unknown_code"),
        ("Bundle.entry[6].resource.code", "fhir:unknown_code"),
        ("Bundle.entry[7].resource.valueQuantity.code", "fhir:unit"),
    ]
    assert problems[0].message.en == (
        "A code the registry does not know: http://hl7.org/fhir/sid/icd-10|J18.9."
    )
    assert problems[0].message.nb.startswith("Ukjent kode for registeret")


def _set(index: int, key: str, value: object) -> Callable[[dict[str, Any]], None]:
    return lambda bundle: _resource(bundle, index).__setitem__(key, value)


def _value(key: str, value: object) -> Callable[[dict[str, Any]], None]:
    """The NIHSS observation's value replaced: FHIR allows one value[x] only."""

    def change(bundle: dict[str, Any]) -> None:
        del _resource(bundle, NIHSS)["valueInteger"]
        _resource(bundle, NIHSS)[key] = value

    return change


def _drop(index: int, key: str) -> Callable[[dict[str, Any]], None]:
    return lambda bundle: _resource(bundle, index).pop(key)


def _medication_reference(bundle: dict[str, Any]) -> None:
    del _resource(bundle, ALTEPLASE)["medicationCodeableConcept"]
    _resource(bundle, ALTEPLASE)["medicationReference"] = {"reference": "Medication/alteplase"}


def _haemorrhage_too(bundle: dict[str, Any]) -> None:
    second = copy.deepcopy(_resource(bundle, STROKE_DX))
    second["code"] = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I61.0"}]}
    bundle["entry"].append({"resource": second})


def _ids(fnr: str) -> list[dict[str, str]]:
    return [{"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": fnr}]


def _at(index: int, element: str) -> str:
    return f"Bundle.entry[{index}].resource.{element}"


@pytest.mark.parametrize(
    ("change", "path", "reason"),
    [
        (_set(ALTEPLASE, "status", "not-taken"), _at(ALTEPLASE, "status"), "status"),
        (
            _set(STROKE_DX, "verificationStatus", {"coding": [{"code": "refuted"}]}),
            _at(STROKE_DX, "verificationStatus.coding[0].code"),
            "status",
        ),
        (_set(ENCOUNTER, "status", "cancelled"), _at(ENCOUNTER, "status"), "status"),
        (
            _set(ALTEPLASE, "effectiveDateTime", "2025-03-01"),
            _at(ALTEPLASE, "effectiveDateTime"),
            "no_time",
        ),
        (_set(PATIENT, "birthDate", "1948"), _at(PATIENT, "birthDate"), "partial_date"),
        (_set(PATIENT, "gender", "other"), _at(PATIENT, "gender"), "unknown_code"),
        (_value("valueQuantity", {"value": 7.5}), _at(NIHSS, "valueQuantity.value"), "type"),
        (_value("valueString", "8"), _at(NIHSS, "valueString"), "value_kind"),
        (_haemorrhage_too, _at(8, "code"), "conflict"),
        (_set(PATIENT, "identifier", _ids("17854826817")), _at(PATIENT, "identifier[0].value"),
         "national_id"),
        (_set(PATIENT, "identifier", _ids(D_NUMBER)), _at(PATIENT, "identifier[0].value"),
         "national_id_kind"),
        (_drop(PATIENT, "identifier"), _at(PATIENT, "identifier"), "no_national_id"),
        (_drop(ENCOUNTER, "serviceProvider"), _at(ENCOUNTER, "serviceProvider"), "no_unit"),
        (_set(ENCOUNTER, "period", {"end": "2025-03-08"}), _at(ENCOUNTER, "period.start"),
         "event_date"),
        (_set(NIHSS, "subject", {"reference": "Patient/someone-else"}),
         _at(NIHSS, "subject.reference"), "other_patient"),
        (_medication_reference, _at(ALTEPLASE, "medicationReference"), "medication"),
        (lambda b: b.update(type="searchset"), "Bundle.type", "bundle_type"),
        (lambda b: b["entry"].append(copy.deepcopy(b["entry"][0])), "Bundle.entry", "count"),
        (lambda b: (_resource(b, ENCOUNTER).pop("identifier"), b.pop("identifier")),
         _at(ENCOUNTER, "identifier"), "no_key"),
    ],
)  # fmt: skip
def test_each_unusable_element_is_named(
    change: Callable[[dict[str, Any]], object], path: str, reason: str
) -> None:
    bundle = copy.deepcopy(EXAMPLE)
    change(bundle)
    problems = _problems(bundle)
    assert (path, f"fhir:{reason}") in problems, problems


def test_problems_never_repeat_the_national_id() -> None:
    bundle = copy.deepcopy(EXAMPLE)
    _resource(bundle, PATIENT)["identifier"] = _ids(D_NUMBER)  # a D-number as fødselsnummer
    with pytest.raises(FhirBundleError) as caught:
        read_bundle(bundle, MAPPING, DICTIONARY)
    assert "dnumber" in str(caught.value) and D_NUMBER[:6] not in str(caught.value)
    assert all(D_NUMBER[:6] not in p.message.nb for p in caught.value.problems)


@pytest.mark.parametrize(
    "body",
    [
        [],
        "Bundle",
        {"resourceType": "Patient"},
        {"resourceType": "Bundle", "type": "collection", "entry": "x"},
        {"resourceType": "Bundle", "type": "collection", "entry": [1, {"fullUrl": "x"}]},
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"resource": {"resourceType": "Patient", "contained": [{"resourceType": 5}]}}
            ],
        },
    ],
)
def test_anything_that_is_no_bundle_is_refused_by_name(body: object) -> None:
    assert _problems(body)


# --- the mapping file ------------------------------------------------------------------------


def test_a_bad_mapping_names_every_problem_with_its_key() -> None:
    data = yaml.safe_load((STROKE / "fhir_map.yaml").read_text())
    data["timezone"] = "Mars/Olympus"
    data["surprise"] = 1
    data["systems"]["icd10"]["prefix"] = "yes"
    data["patient"]["gender"]["codes"]["other"] = 9
    data["encounter"]["start"] = ["arrival_datetime", "length_of_stay"]
    data["resources"][0]["set"] = {"stroke_type": 7, "no_such_variable": 1}
    data["resources"][1]["code"] = {"icd11": ["8B11"]}
    data["resources"][3]["value"] = "nihss_admission"
    data["resources"][7]["value"] = "sex"
    with pytest.raises(FhirMappingError) as caught:
        parse_fhir_mapping(data, DICTIONARY, "admission_date")
    assert set(caught.value.problems) == {
        "surprise: unknown key",
        "timezone: a time zone name such as Europe/Oslo is needed",
        "systems.icd10.prefix: true or false is needed",
        "patient.gender.codes.other: 9 is not one of sex's choices",
        "encounter.start[1]: 'length_of_stay' takes no input (calculated)",
        "encounter.start: must give the event date variable 'admission_date'",
        "resources[0].set.stroke_type: 7 is not one of stroke_type's choices",
        "resources[0].set.no_such_variable: unknown variable 'no_such_variable'",
        "resources[1].code.icd11: unknown system (not under `systems`)",
        "resources[3].value: only an Observation has a value to read",
        "resources[7].value: 'sex' is single, not decimal or integer",
    }


def test_a_broken_mapping_stops_the_registry_folder_with_the_file_named(tmp_path: Path) -> None:
    folder = tmp_path / "stroke"
    shutil.copytree(STROKE, folder)
    (folder / "fhir_map.yaml").write_text("timezone: Europe/Oslo\nresources: 5\n")
    with pytest.raises(RegistryFolderError) as caught:
        read_registry_folder(folder)
    text = str(caught.value)
    assert text.startswith(f"{folder / 'fhir_map.yaml'}:")
    assert "resources: a list of rules is needed" in text
    assert "patient: a mapping is needed" in text
