"""FHIR R4 validity of a bundle: each resource checked by its own model, every fault named.

The first half of reading a bundle (`entry.fhir_bundle` applies the mapping after it). The
bundle's frame and each entry's resource are validated separately by the `fhir.resources`
models of R4B (the library's R4 line), so a fault names its resource and entry, a resource
type the registry does not read is refused before the library's type dispatch sees it, and
all faults are raised together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.medicationstatement import MedicationStatement
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.procedure import Procedure
from pydantic import BaseModel, ValidationError

from entry.dictionary_model import Text
from entry.fhir_bundle_messages import ProblemReason, message

MODELS: Final[Mapping[str, type[BaseModel]]] = {
    "Patient": Patient,
    "Encounter": Encounter,
    "Organization": Organization,
    "Condition": Condition,
    "Procedure": Procedure,
    "MedicationStatement": MedicationStatement,
    "Observation": Observation,
}


@dataclass(frozen=True)
class BundleProblem:
    """Why one element of the bundle cannot be used; `rule` is `fhir:<reason>`."""

    path: str
    resource: str
    reason: ProblemReason
    message: Text

    @property
    def rule(self) -> str:
        return f"fhir:{self.reason}"


class FhirBundleError(ValueError):
    """The bundle cannot become a draft; `problems` lists every reason, in bundle order."""

    def __init__(self, problems: Sequence[BundleProblem]) -> None:
        super().__init__("; ".join(f"{p.path}: {p.message.en}" for p in problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class Entry:
    """One valid resource of the bundle, with where it stands."""

    index: int
    kind: str
    model: Any
    full_url: str | None

    @property
    def path(self) -> str:
        return f"Bundle.entry[{self.index}].resource"

    @property
    def label(self) -> str:
        name = f"{self.kind}/{self.model.id}" if self.model.id else self.kind
        return f"{name} (entry {self.index})"


def validated_bundle(raw: object) -> tuple[Bundle, list[Entry]]:
    """The bundle and each entry's resource as models; every FHIR fault raised at once."""
    problems: list[BundleProblem] = []
    if not isinstance(raw, Mapping) or raw.get("resourceType") != "Bundle":
        raise FhirBundleError([bundle_problem("Bundle", "Bundle", "not_bundle")])
    items = raw.get("entry")
    shell = dict(raw)
    if isinstance(items, list):
        # Resources are checked one by one below, each by its own model, so a fault names
        # its resource and an unsupported type never reaches the library's dispatch.
        shell["entry"] = [
            {k: v for k, v in item.items() if k != "resource"}
            if isinstance(item, Mapping)
            else item
            for item in items
        ]
    bundle = _model(Bundle, shell, "Bundle", "Bundle", problems)
    entries = []
    for index, item in enumerate(items if isinstance(items, list) else []):
        path = f"Bundle.entry[{index}].resource"
        resource = item.get("resource") if isinstance(item, Mapping) else None
        if not isinstance(resource, Mapping):
            problems.append(bundle_problem(path, f"entry {index}", "no_resource"))
            continue
        kind = str(resource.get("resourceType") or "")
        label = f"{kind or '?'}/{resource.get('id') or '?'} (entry {index})"
        model_class = MODELS.get(kind)
        if model_class is None:
            problems.append(bundle_problem(f"{path}.resourceType", label, "unsupported", kind=kind))
            continue
        model = _model(model_class, resource, path, label, problems)
        if model is not None:
            full_url = item.get("fullUrl") if isinstance(item, Mapping) else None
            entries.append(Entry(index, kind, model, str(full_url) if full_url else None))
    if problems or bundle is None:
        raise FhirBundleError(problems)
    assert isinstance(bundle, Bundle)
    return bundle, entries


def _model(
    model_class: type[BaseModel],
    data: Mapping[str, object],
    path: str,
    label: str,
    problems: list[BundleProblem],
) -> BaseModel | None:
    try:
        return model_class.model_validate(dict(data))
    except ValidationError as error:
        for fault in error.errors():
            where = path + "".join(
                f"[{part}]" if isinstance(part, int) else f".{part}" for part in fault["loc"]
            )
            problems.append(bundle_problem(where, label, "invalid", detail=fault["msg"]))
        return None
    except (KeyError, TypeError):
        # fhir.resources raises these, not a validation error, for a resource nested inside
        # another (`contained`, an entry's `outcome`) whose resourceType it does not know.
        problems.append(bundle_problem(path, label, "invalid", detail="a nested resource's type"))
        return None


def bundle_problem(
    path: str, resource: str, reason: ProblemReason, **values: object
) -> BundleProblem:
    return BundleProblem(path, resource, reason, message(reason, **values))
