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
