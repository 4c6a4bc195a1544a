"""Reading a registry's folder: `registry.yaml`, `indicators.yaml`, `dictionary.csv` and the
optional `dictionary_changes.yaml` (its change history, see `entry.dictionary_history`),
`questionnaires.yaml` (patient questionnaires, see `entry.questionnaires`) and
`fhir_map.yaml` (how FHIR bundles become drafts, see `entry.fhir_mapping`).

A registry is configuration first: adding a folder adds a registry. Reading is strict, so
a broken folder stops start-up with the file and the problem named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from entry.dictionary import Dictionary, DictionaryError, load_dictionary, variable_types
from entry.dictionary_history import (
    HISTORY_FILE,
    DictionaryHistoryError,
    DictionaryVersion,
    read_history,
)
from entry.expressions import ExpressionError, ValueType, check, parse
from entry.fhir_mapping import MAPPING_FILE, FhirMapping, FhirMappingError, read_fhir_mapping
from entry.questionnaires import Questionnaire, QuestionnaireError, read_questionnaires
from indicators import Indicator, IndicatorDefinitionError, indicator_from_mapping
from indicators.definition import Text


class RegistryFolderError(ValueError):
    """A registry folder cannot be read; the message names the file and every problem."""


@dataclass(frozen=True)
class Form:
    key: str
    title: Text


@dataclass(frozen=True)
class RegistryFolder:
    key: str
    name: Text
    description: Text
    forms: tuple[Form, ...]
    event_date_variable: str
    indicators: tuple[Indicator, ...]
    dictionary: Dictionary
    path: Path
    history: tuple[DictionaryVersion, ...] = ()
    """The dictionary's versions, oldest first; the last names the dictionary in use."""
    questionnaires: tuple[Questionnaire, ...] = ()
    """Every version of every patient questionnaire, in the order of `questionnaires.yaml`."""
    fhir_mapping: FhirMapping | None = None
    """How FHIR bundles become draft registrations; None where the folder has no mapping."""
    demo_units: Mapping[str, int] = field(default_factory=dict)
    """The unit of a demo account in this registry, by user name (`demo_units:`), where the
    accounts' own departments hold none of its records."""
    position: int = 100
    """Where the registry stands in lists (`position:` in registry.yaml), lower first, then
    by key; the first is the one a page without `?registry=` shows."""

    @property
    def dictionary_path(self) -> Path:
        return self.path / "dictionary.csv"

    @property
    def dictionary_version(self) -> DictionaryVersion | None:
        return self.history[-1] if self.history else None

    def questionnaire(self, key: str, version: int | None = None) -> Questionnaire:
        """One version of a questionnaire, the newest when `version` is None; KeyError if none."""
        found = [q for q in self.questionnaires if q.key == key and version in (None, q.version)]
        if not found:
            raise KeyError(f"{key} v{version}" if version else key)
        return max(found, key=lambda q: q.version)


def discover_registries(root: Path) -> tuple[RegistryFolder, ...]:
    """Every folder under `root` that holds a `registry.yaml`, by position and key."""
    folders = sorted(p.parent for p in root.glob("*/registry.yaml"))
    registries = [read_registry_folder(folder) for folder in folders]
    return tuple(sorted(registries, key=lambda registry: (registry.position, registry.key)))


def read_registry_folder(folder: Path) -> RegistryFolder:
    settings_file = folder / "registry.yaml"
    raw = _read_yaml(settings_file)
    if not isinstance(raw, dict):
        raise RegistryFolderError(f"{settings_file}: expected a mapping at the top level")
    dictionary = _read_dictionary(folder / "dictionary.csv")
    try:
        history = read_history(folder / HISTORY_FILE, dictionary)
    except DictionaryHistoryError as error:
        raise RegistryFolderError(str(error)) from error
    try:
        questionnaires = read_questionnaires(folder, dictionary)
    except QuestionnaireError as error:
        raise RegistryFolderError(str(error)) from error
    try:
        key = str(raw["key"])
        if key != folder.name:
            raise RegistryFolderError(
                f"{settings_file}: key {key!r} differs from the folder name {folder.name!r}"
            )
        return RegistryFolder(
            key=key,
            name=Text.model_validate(raw["name"]),
            description=Text.model_validate(raw["description"]),
            forms=tuple(
                Form(key=str(form["key"]), title=Text.model_validate(form["title"]))
                for form in raw["forms"]
            ),
            event_date_variable=str(raw["event_date_variable"]),
            indicators=read_indicators(folder / "indicators.yaml", dictionary),
            dictionary=dictionary,
            path=folder,
            history=history,
            questionnaires=questionnaires,
            fhir_mapping=_read_fhir_mapping(
                folder / MAPPING_FILE, dictionary, str(raw["event_date_variable"])
            ),
            position=int(raw.get("position", 100)),
            demo_units={str(k): int(v) for k, v in (raw.get("demo_units") or {}).items()},
        )
    except KeyError as error:
        raise RegistryFolderError(f"{settings_file}: missing key {error}") from error
    except (TypeError, ValueError) as error:
        if isinstance(error, RegistryFolderError):
            raise
        raise RegistryFolderError(f"{settings_file}: {error}") from error


def read_indicators(path: Path, dictionary: Dictionary | None = None) -> tuple[Indicator, ...]:
    """All indicators of one file; reports the problems of every indicator at once.

    With the registry's dictionary, every expression is also parsed and type-checked, so a
    misspelt variable stops start-up with the indicator, the key and the position.
    """
    raw = _read_yaml(path)
    entries = raw.get("indicators") if isinstance(raw, dict) else raw
    if not isinstance(entries, list):
        raise RegistryFolderError(f"{path}: expected a list of indicators")
    indicators: list[Indicator] = []
    problems: list[str] = []
    for position, entry in enumerate(entries):
        try:
            indicators.append(indicator_from_mapping(entry, position))
        except IndicatorDefinitionError as error:
            problems.append(str(error))
    if dictionary is not None:
        types = variable_types(dictionary)
        problems += [p for i in indicators for p in _expression_problems(i, types)]
    keys = [indicator.key for indicator in indicators]
    problems += [
        f"indicator {k}: key used more than once" for k in sorted(set(keys)) if keys.count(k) > 1
    ]
    if problems:
        raise RegistryFolderError(f"{path}:\n" + "\n".join(problems))
    return tuple(indicators)


def _expression_problems(indicator: Indicator, types: Mapping[str, ValueType]) -> list[str]:
    wanted = {"denominator": "boolean", "numerator": "boolean", "value": "number"}
    problems = []
    for key, expected in wanted.items():
        text = getattr(indicator, key)
        if not text:
            continue
        try:
            found = check(parse(text), types)
        except ExpressionError as error:
            problems.append(
                f"indicator {indicator.key}: {key}: {error.message} at position {error.position}"
            )
            continue
        if found != expected:
            problems.append(f"indicator {indicator.key}: {key}: gives {found}, not {expected}")
    model = indicator.risk_model
    named = [
        *(model.covariates if model else ()),
        *([model.expected] if model and model.expected else []),
    ]
    problems += [
        f"indicator {indicator.key}: risk_model: unknown variable {name!r}"
        for name in named
        if name not in types
    ]
    return problems


def _read_fhir_mapping(
    path: Path, dictionary: Dictionary, event_date_variable: str
) -> FhirMapping | None:
    if not path.exists():
        return None
    try:
        return read_fhir_mapping(path, dictionary, event_date_variable)
    except FhirMappingError as error:
        raise RegistryFolderError(f"{path}:\n" + "\n".join(error.problems)) from error


def _read_dictionary(path: Path) -> Dictionary:
    try:
        return load_dictionary(path)
    except DictionaryError as error:
        listing = "\n".join(str(problem) for problem in error.problems)
        raise RegistryFolderError(f"{path}:\n{listing}") from error
    except FileNotFoundError as error:
        raise RegistryFolderError(f"{path}: file not found") from error


def _read_yaml(path: Path) -> object:
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except FileNotFoundError as error:
        raise RegistryFolderError(f"{path}: file not found") from error
    except yaml.YAMLError as error:
        raise RegistryFolderError(f"{path}: not valid YAML: {error}") from error
