"""Registry folders load strictly: the demo registry loads, and a broken one is named precisely."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from entry.registry_folder import RegistryFolderError, discover_registries, read_registry_folder

REGISTRIES = Path(__file__).resolve().parents[2] / "registries"


def test_the_stroke_registry_loads_with_its_indicators() -> None:
    (stroke,) = [r for r in discover_registries(REGISTRIES) if r.key == "stroke"]
    assert stroke.name.nb and stroke.name.en
    assert [f.key for f in stroke.forms] == ["admission", "discharge", "followup_3m"]
    assert 8 <= len(stroke.indicators) <= 14
    assert stroke.event_date_variable == "admission_date"
    assert any(i.risk_model is not None for i in stroke.indicators)
    assert {i.type for i in stroke.indicators} >= {"proportion", "mean"}


def _folder(tmp_path: Path, indicators: list[dict[str, object]], key: str = "demo") -> Path:
    folder = tmp_path / key
    folder.mkdir()
    (folder / "registry.yaml").write_text(
        yaml.safe_dump(
            {
                "key": "demo",
                "name": {"nb": "Demo", "en": "Demo"},
                "description": {"nb": "D", "en": "D"},
                "forms": [{"key": "main", "title": {"nb": "Skjema", "en": "Form"}}],
                "event_date_variable": "event_date",
            }
        )
    )
    (folder / "indicators.yaml").write_text(yaml.safe_dump(indicators))
    (folder / "dictionary.csv").write_text(
        (REGISTRIES / "stroke" / "dictionary.csv").read_text(encoding="utf-8").splitlines()[0]
        + "\nx,main,,,yesno,X,X,,,,,,,,,,,,,,,,,\nage,main,,,integer,Alder,Age,,,,,,,,,,,,,,,,,\n",
        encoding="utf-8",
    )
    return folder


GOOD = {
    "key": "good",
    "title": {"nb": "God", "en": "Good"},
    "description": {"nb": "B", "en": "D"},
    "type": "proportion",
    "numerator": "x = 1",
    "direction": "higher",
    "targets": {"high": 0.9, "moderate": 0.8},
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"type": "ratio"}, "indicator bad: type"),
        ({"numerator": None}, "a proportion needs a `numerator`"),
        ({"targets": {"high": 0.7, "moderate": 0.8}}, "targets.high must be >= targets.moderate"),
        ({"title": {"nb": "Bare norsk"}}, "indicator bad: title.en"),
        ({"min_denominator": 0}, "indicator bad: min_denominator"),
        ({"colour": "red"}, "indicator bad: colour"),
        ({"risk_model": {"family": "binomial"}}, "at least one covariate"),
        (
            {"risk_model": {"family": "binomial", "covariates": ["age"], "categorical": ["sex"]}},
            "sex",
        ),
        ({"numerator": "x = 1 and nihss > 4"}, "indicator bad: numerator: unknown variable"),
        ({"numerator": "x +"}, "indicator bad: numerator:"),
        ({"numerator": "age + 1"}, "indicator bad: numerator: gives number, not boolean"),
        ({"risk_model": {"family": "binomial", "covariates": ["bmi"]}}, "unknown variable 'bmi'"),
    ],
)
def test_bad_indicator_names_the_indicator_and_key(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    bad = {**GOOD, "key": "bad", **change}
    with pytest.raises(RegistryFolderError, match=r"indicators\.yaml") as error:
        read_registry_folder(_folder(tmp_path, [GOOD, bad]))
    assert message in str(error.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    bad_one = {**GOOD, "key": "one", "type": "ratio"}
    bad_two = {**GOOD, "key": "two", "direction": "sideways"}
    with pytest.raises(RegistryFolderError) as error:
        read_registry_folder(_folder(tmp_path, [bad_one, bad_two, GOOD, GOOD]))
    text = str(error.value)
    assert "indicator one: type" in text and "indicator two: direction" in text
    assert "indicator good: key used more than once" in text


def test_folder_name_must_match_key(tmp_path: Path) -> None:
    with pytest.raises(RegistryFolderError, match="differs from the folder name"):
        read_registry_folder(_folder(tmp_path, [GOOD], key="other"))


# ---- the dictionary's change history (dictionary_changes.yaml) ------------------------------

V1 = {"version": "1.0", "date": "2024-01-01", "changes": [{"nb": "Første", "en": "First"}]}


def _history(tmp_path: Path, versions: object) -> Path:
    folder = _folder(tmp_path, [GOOD])
    (folder / "dictionary_changes.yaml").write_text(
        yaml.safe_dump({"versions": versions}, allow_unicode=True), encoding="utf-8"
    )
    return folder


def test_the_stroke_history_ends_with_the_version_in_use() -> None:
    (stroke,) = [r for r in discover_registries(REGISTRIES) if r.key == "stroke"]
    assert stroke.history and stroke.dictionary_version == stroke.history[-1]
    added = [
        name
        for version in stroke.history
        for change in version.changes
        if change.kind == "added"
        for name in change.variables
    ]
    assert "door_to_needle_minutes" in added


def test_without_a_history_file_the_history_is_empty(tmp_path: Path) -> None:
    folder = read_registry_folder(_folder(tmp_path, [GOOD]))
    assert folder.history == () and folder.dictionary_version is None


def test_a_good_history_is_read_oldest_first(tmp_path: Path) -> None:
    later = {
        "version": "1.10",
        "date": "2024-06-01",
        "changes": [{"kind": "added", "variables": ["age"], "nb": "Alder", "en": "Age"}],
    }
    between = {**later, "version": "1.2", "date": "2024-03-01"}
    folder = read_registry_folder(_history(tmp_path, [V1, between, later]))
    assert [v.version for v in folder.history] == ["1.0", "1.2", "1.10"]
    assert folder.history[-1].changes[0].variables == ("age",)
    assert folder.history[-1].changes[0].text.in_language("en") == "Age"


@pytest.mark.parametrize(
    ("versions", "message"),
    [
        ([{**V1, "version": 1.1}], "version must be text"),
        ([{**V1, "version": "v1"}], "version must be text"),
        ([{**V1, "date": "1. januar"}], "date must be a date"),
        ([{**V1, "changes": []}], "changes must be a non-empty list"),
        ([{**V1, "author": "me"}], "unknown key `author`"),
        ([{"version": "1.0", "changes": V1["changes"]}], "missing `date`"),
        ([{**V1, "changes": [{"nb": "Bare norsk"}]}], "`en` must be a non-empty text"),
        ([{**V1, "changes": [{"nb": "a", "en": "b", "kind": "moved"}]}], "kind must be one of"),
        (
            [{**V1, "changes": [{"nb": "a", "en": "b", "variables": ["bmi"]}]}],
            "unknown variable 'bmi'",
        ),
        (
            [{**V1, "changes": [{"nb": "a", "en": "b", "kind": "removed", "variables": ["age"]}]}],
            "variable 'age' is removed but still in the dictionary",
        ),
        ([V1, {**V1, "date": "2024-02-01"}], "version 1.0: must come after 1.0"),
        ([V1, {**V1, "version": "0.9", "date": "2024-02-01"}], "must come after 1.0"),
        ([V1, {**V1, "version": "1.1", "date": "2023-12-31"}], "before 1.0 (2024-01-01)"),
        ([], "`versions` must be a non-empty list"),
    ],
)
def test_a_bad_history_stops_start_up_with_file_and_reason(
    tmp_path: Path, versions: object, message: str
) -> None:
    with pytest.raises(RegistryFolderError, match=r"dictionary_changes\.yaml") as error:
        read_registry_folder(_history(tmp_path, versions))
    assert message in str(error.value)


def test_every_history_problem_is_reported_at_once(tmp_path: Path) -> None:
    bad = [{**V1, "version": 2}, {**V1, "version": "1.1", "date": "soon", "extra": 1}]
    with pytest.raises(RegistryFolderError) as error:
        read_registry_folder(_history(tmp_path, bad))
    text = str(error.value)
    assert "versions[0]: version must be text" in text
    assert "versions[1] (version 1.1): date must be a date" in text
    assert "versions[1] (version 1.1): unknown key `extra`" in text


def test_history_that_is_not_yaml_names_the_file(tmp_path: Path) -> None:
    folder = _folder(tmp_path, [GOOD])
    (folder / "dictionary_changes.yaml").write_text("versions: [", encoding="utf-8")
    with pytest.raises(RegistryFolderError, match=r"dictionary_changes\.yaml: not valid YAML"):
        read_registry_folder(folder)
