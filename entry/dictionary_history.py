"""A registry's dictionary change history (`registries/<key>/dictionary_changes.yaml`).

Researchers who read data collected over years must know when a variable appeared, changed
meaning or went away (issue 4, "a dictionary version and a change history"). The file lists
versions oldest first, each with its label, date and changes in bokmål and English:

```yaml
versions:
  - version: "1.1"
    date: 2020-01-01
    changes:
      - kind: added                 # optional: added, changed or removed
        variables: [door_to_needle_minutes]   # optional
        nb: Ny beregnet variabel ...
        en: New calculated variable ...
```

The newest entry names the dictionary in use. Reading is strict and reports every problem
at once: labels must rise (1.0 < 1.1 < 1.10 < 2.0), dates may not go back, every text needs
both languages, and variables named by a change must be in the current dictionary, or
absent from it when the change removed them. The file is optional; without it the history
is empty.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final

import yaml

from entry.dictionary_model import Dictionary, Text

HISTORY_FILE: Final = "dictionary_changes.yaml"
CHANGE_KINDS: Final = ("added", "changed", "removed")
_VERSION: Final = re.compile(r"\d+(\.\d+)*")
_VERSION_KEYS: Final = frozenset({"version", "date", "changes"})
_CHANGE_KEYS: Final = frozenset({"kind", "variables", "nb", "en"})


class DictionaryHistoryError(ValueError):
    """The history file cannot be read; the message names the file and every problem."""


@dataclass(frozen=True)
class DictionaryChange:
    text: Text
    kind: str | None = None
    variables: tuple[str, ...] = ()


@dataclass(frozen=True)
class DictionaryVersion:
    version: str
    date: date
    changes: tuple[DictionaryChange, ...]


def read_history(path: Path, dictionary: Dictionary) -> tuple[DictionaryVersion, ...]:
    """The versions in `path`, oldest first; empty when the file does not exist."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ()
    except yaml.YAMLError as error:
        raise DictionaryHistoryError(f"{path}: not valid YAML: {error}") from error
    versions, problems = parse_history(raw, dictionary)
    if problems:
        raise DictionaryHistoryError(f"{path}:\n" + "\n".join(problems))
    return versions


def parse_history(
    raw: object, dictionary: Dictionary
) -> tuple[tuple[DictionaryVersion, ...], list[str]]:
    """The versions of a loaded YAML document and every problem found, each with its place."""
    if not isinstance(raw, Mapping) or set(raw) != {"versions"}:
        return (), ["expected a mapping with the one key `versions`"]
    entries = raw["versions"]
    if not isinstance(entries, list) or not entries:
        return (), ["`versions` must be a non-empty list"]
    names = {v.name for v in dictionary.variables}
    versions: list[DictionaryVersion] = []
    problems: list[str] = []
    for position, entry in enumerate(entries):
        place = f"versions[{position}]"
        found, entry_problems = _version(entry, names, place)
        problems += entry_problems
        if found is not None:
            versions.append(found)
    for older, newer in itertools.pairwise(versions):
        if _order(newer.version) <= _order(older.version):
            problems.append(
                f"version {newer.version}: must come after {older.version} (oldest first)"
            )
        if newer.date < older.date:
            problems.append(
                f"version {newer.version}: dated {newer.date}, before {older.version} "
                f"({older.date})"
            )
    return tuple(versions), problems


def _version(
    entry: object, names: set[str], place: str
) -> tuple[DictionaryVersion | None, list[str]]:
    if not isinstance(entry, Mapping):
        return None, [f"{place}: expected a mapping with version, date and changes"]
    label = entry.get("version")
    good_label = isinstance(label, str) and _VERSION.fullmatch(label) is not None
    if good_label:
        place = f"{place} (version {label})"
    problems = [f"{place}: unknown key `{key}`" for key in sorted(set(entry) - _VERSION_KEYS)]
    problems += [f"{place}: missing `{key}`" for key in sorted(_VERSION_KEYS - set(entry))]
    if "version" in entry and not good_label:
        problems.append(
            f'{place}: version must be text of numbers and dots such as "1.2" (in quotes), '
            f"not {label!r}"
        )
    day = entry.get("date")
    if isinstance(day, str):
        with contextlib.suppress(ValueError):
            day = date.fromisoformat(day)
    if "date" in entry and not isinstance(day, date):
        problems.append(f"{place}: date must be a date such as 2024-01-31, not {day!r}")
    changes = entry.get("changes")
    parsed: list[DictionaryChange] = []
    if "changes" in entry and (not isinstance(changes, list) or not changes):
        problems.append(f"{place}: changes must be a non-empty list")
    elif isinstance(changes, list):
        for number, change in enumerate(changes):
            found, change_problems = _change(change, names, f"{place}: changes[{number}]")
            problems += change_problems
            if found is not None:
                parsed.append(found)
    if problems:
        return None, problems
    assert isinstance(label, str) and isinstance(day, date)
    return DictionaryVersion(version=label, date=day, changes=tuple(parsed)), []


def _change(
    change: object, names: set[str], place: str
) -> tuple[DictionaryChange | None, list[str]]:
    if not isinstance(change, Mapping):
        return None, [f"{place}: expected a mapping with nb and en"]
    problems = [f"{place}: unknown key `{key}`" for key in sorted(set(change) - _CHANGE_KEYS)]
    for language in ("nb", "en"):
        text = change.get(language)
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{place}: `{language}` must be a non-empty text")
    kind = change.get("kind")
    if kind is not None and kind not in CHANGE_KINDS:
        problems.append(f"{place}: kind must be one of {', '.join(CHANGE_KINDS)}, not {kind!r}")
    variables = change.get("variables", [])
    if not isinstance(variables, list) or not all(isinstance(v, str) for v in variables):
        problems.append(f"{place}: variables must be a list of variable names")
        variables = []
    for name in variables:
        if kind == "removed" and name in names:
            problems.append(f"{place}: variable {name!r} is removed but still in the dictionary")
        elif kind != "removed" and name not in names:
            problems.append(f"{place}: unknown variable {name!r}")
    if problems:
        return None, problems
    return (
        DictionaryChange(
            text=Text(nb=str(change["nb"]).strip(), en=str(change["en"]).strip()),
            kind=kind,
            variables=tuple(variables),
        ),
        [],
    )


def _order(label: str) -> tuple[int, ...]:
    return tuple(int(part) for part in label.split("."))


__all__ = [
    "CHANGE_KINDS",
    "HISTORY_FILE",
    "DictionaryChange",
    "DictionaryHistoryError",
    "DictionaryVersion",
    "parse_history",
    "read_history",
]
