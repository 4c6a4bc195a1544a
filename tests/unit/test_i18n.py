"""The catalogue is complete in both languages, and URLs keep the language."""

from __future__ import annotations

import pytest

from portal import urls
from portal.i18n import (
    LANGUAGES,
    PATIENT_LANGUAGES,
    catalogue,
    normalise_language,
    patient_language,
    percent,
    translate,
)


def test_every_text_exists_in_bokmal_and_english() -> None:
    """Nynorsk is optional (patients' pages have it); bokmål stands in elsewhere."""
    for key, texts in catalogue().items():
        assert set(LANGUAGES) <= set(texts) <= set(PATIENT_LANGUAGES), key
        assert all(text.strip() for text in texts.values()), key


def test_nynorsk_is_kept_for_patients_and_falls_back_to_bokmal() -> None:
    assert patient_language("NN") == "nn"
    assert patient_language("se") == "nb"
    assert translate("app.title", "nn") == translate("app.title", "nb")


def test_bokmal_and_english_differ_where_they_should() -> None:
    same = [key for key, t in catalogue().items() if t["nb"] == t["en"]]
    assert set(same) <= {"home.type.median", "api.docs.access.admin"}  # the same word in both


def test_missing_key_raises_instead_of_showing_nothing() -> None:
    with pytest.raises(KeyError):
        translate("no.such.key", "nb")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("en", "en"),
        ("EN", "en"),
        ("nb", "nb"),
        ("nn", "nb"),
        (None, "nb"),
        (["en"], "en"),
        ([], "nb"),
    ],
)
def test_language_falls_back_to_bokmal(value: object, expected: str) -> None:
    assert normalise_language(value) == expected


@pytest.mark.parametrize(
    ("path", "language", "query", "expected"),
    [
        ("/", "nb", {}, "/"),
        ("/", "en", {}, "/?lang=en"),
        ("/indicator", "en", {"year": 2025, "level": None}, "/indicator?lang=en&year=2025"),
        ("/indicator", "nb", {"unit": "Ullevål"}, "/indicator?unit=Ullev%C3%A5l"),
    ],
)
def test_page_url(path: str, language: str, query: dict[str, object], expected: str) -> None:
    assert urls.page_url(path, language, **query) == expected  # type: ignore[arg-type]


def test_formatted_text() -> None:
    assert translate("home.min_denominator", "en", n=10) == "Not shown for fewer than 10 patients"


@pytest.mark.parametrize(
    ("share", "language", "text"), [(0.4, "nb", "40\u00a0%"), (0.9, "en", "90%")]
)
def test_percent_follows_each_languages_convention(share: float, language: str, text: str) -> None:
    assert percent(share, language) == text
