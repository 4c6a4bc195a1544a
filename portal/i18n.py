"""Bokmål first, English second: the catalogue lookup and the page's current language.

The language lives in the URL (`?lang=en`), never in a session, so every link, permalink
and shared address shows the reader the language it was shared in.
"""

from __future__ import annotations

from datetime import date
from functools import cache, lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs

import flask
import yaml
from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers

Language = Literal["nb", "en"]
LANGUAGES: tuple[Language, ...] = ("nb", "en")
DEFAULT_LANGUAGE: Language = "nb"
PatientLanguage = Literal["nb", "nn", "en"]
PATIENT_LANGUAGES: tuple[PatientLanguage, ...] = ("nb", "nn", "en")
"""Patients (PROM pages and messages) may also choose nynorsk; a catalogue entry may carry
an `nn` text beside `nb` and `en`, and bokmål stands in where it has none."""
CATALOGUE_FOLDER = Path(__file__).resolve().parent / "translations"
"""One YAML file per area of the portal (`core.yaml`, `forms.yaml`, ...), merged at first use;
a key defined twice is an error, so two areas can never silently overwrite each other."""


@cache
def catalogue() -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    for path in sorted(CATALOGUE_FOLDER.glob("*.yaml")):
        with path.open(encoding="utf-8") as handle:
            loaded = yaml.safe_load(handle) or {}
        for key, texts in loaded.items():
            if str(key) in merged:
                raise ValueError(f"translation key {key!r} is defined twice ({path.name})")
            merged[str(key)] = {str(k): str(v) for k, v in texts.items()}
    return merged


def normalise_language(value: object) -> Language:
    """Anything that is not a known language code falls back to bokmål."""
    if isinstance(value, list):
        value = value[0] if value else None
    return "en" if str(value).lower() == "en" else DEFAULT_LANGUAGE


def patient_language(value: object) -> PatientLanguage:
    """Like `normalise_language`, but nynorsk is kept: patients may choose it."""
    if isinstance(value, list):
        value = value[0] if value else None
    return "nn" if str(value).lower() == "nn" else normalise_language(value)


def translate(key: str, language: str, **values: object) -> str:
    """The text for `key`; a missing key raises, so a typo never reaches a reader as a blank."""
    texts = catalogue()[key]
    text = (
        texts["nn"] if language == "nn" and "nn" in texts else texts[normalise_language(language)]
    )
    return text.format(**values) if values else text


LOCALES: dict[Language, str] = {"nb": "nb_NO", "en": "en_GB"}
"""Babel locales: Norwegian decimal comma and spaced percent; British English otherwise."""
NUMBER_TEXTS = 65_536
"""Numbers and shares written, kept per (value, language, decimals): a My unit page writes
about 400, mostly the same ones again (the funnel's and tables' values)."""


@cache
def _locale(language: str) -> Locale:
    """Parsed once: babel parses a locale given by name on every call, a fifth of the time
    of writing a number."""
    return Locale.parse(LOCALES[normalise_language(language)])


@lru_cache(maxsize=NUMBER_TEXTS)
def percent(share: float, language: str, decimals: int = 0) -> str:
    """A share written as each language does: "40,5 %" in bokmål, "40.5%" in English."""
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "") + " %"
    if normalise_language(language) == "en":
        pattern = pattern.replace(" %", "%")
    return babel_numbers.format_percent(share, pattern, locale=_locale(language)).replace(
        " ", "\u00a0"
    )


@lru_cache(maxsize=NUMBER_TEXTS)
def number(value: float, language: str, decimals: int = 1) -> str:
    """A number with the language's decimal mark and grouping ("1 234,5" / "1,234.5")."""
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return babel_numbers.format_decimal(value, pattern, locale=_locale(language))


def date_text(value: date, language: str) -> str:
    """A date as readers of the language write it ("25.11.2026" / "25 Nov 2026")."""
    return babel_dates.format_date(value, "medium", locale=_locale(language))


def request_language() -> Language:
    """The language of the page being served: from `?lang=` or from a Dash callback's URL."""
    if not flask.has_request_context():
        return DEFAULT_LANGUAGE
    if "lang" in flask.request.args:
        return normalise_language(flask.request.args["lang"])
    body = flask.request.get_json(silent=True) if flask.request.is_json else None
    for item in (body or {}).get("inputs", []) if isinstance(body, dict) else []:
        if isinstance(item, dict) and item.get("property") == "search":
            query = parse_qs(str(item.get("value") or "").lstrip("?"))
            return normalise_language(query.get("lang"))
    return DEFAULT_LANGUAGE
