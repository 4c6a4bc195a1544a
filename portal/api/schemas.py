"""The shapes of the API's requests and responses, as pydantic models.

The same models parse every request, build every response and write the OpenAPI document's
schemas (`model_json_schema`), so the document cannot describe a body the code does not send.
Indicator definitions are the engine's own `Indicator` model for the same reason.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from indicators import Indicator

Level = Literal["nation", "region", "trust", "hospital", "department"]
Status = Literal["draft", "complete", "locked"]

MAX_ID: Final = 2**31 - 1
"""The largest number the database's integer columns hold (PostgreSQL's `integer`). An id,
version or offset above it names nothing, so it is refused (400) before it reaches the
database or the engine, where it would fail (500) instead."""
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Texts(BaseModel):
    """A text in bokmål and English."""

    nb: str
    en: str


# --- errors ---------------------------------------------------------------------------------


class IssueOut(BaseModel):
    """One finding of the record rules about one field."""

    field: str = Field(description="The field at fault, e.g. `values.nihss_admission`.")
    rule: str = Field(description="The rule's id, e.g. `nihss_admission:maximum`.")
    severity: Literal["error", "warning"]
    message: str


class ErrorDetail(BaseModel):
    message: str
    field: str | None = Field(description="The parameter or body field at fault, if one is.")
    code: str = Field(description="A stable, machine-readable reason, e.g. `invalid`, `stale`.")
    current_version: int | None = Field(
        default=None, description="With `stale` (409): the registration's version now."
    )
    issues: list[IssueOut] = Field(default_factory=list)


class ErrorBody(BaseModel):
    """Every error answer: `{"error": {"message", "field", "code", ...}}`."""

    error: ErrorDetail


# --- query parameters -------------------------------------------------------------------------


class LanguageQuery(_Strict):
    lang: Literal["nb", "en"] | None = Field(
        default=None, description="Language of messages; else Accept-Language; else bokmål."
    )


class ResultsQuery(LanguageQuery):
    indicator: str | None = Field(default=None, description="Only this indicator (its key).")
    period: int | None = Field(default=None, ge=1900, le=2999, description="Only this year.")
    level: Level | None = Field(default=None, description="Only units of this level.")
    unit: Id | None = Field(default=None, description="Only this unit (unit id).")
    limit: int = Field(default=1000, ge=1, le=10_000)
    offset: int = Field(default=0, ge=0, le=MAX_ID)


class FhirQuery(LanguageQuery):
    registry: str | None = Field(
        default=None,
        max_length=40,
        description="Registry key; may be left out while one installed registry has a FHIR "
        "mapping.",
    )


class RegistrationsQuery(LanguageQuery):
    unit: Id | None = Field(default=None, description="Only this unit (and none else).")
    status: Status | None = None
    from_: date | None = Field(default=None, alias="from", description="Events on or after.")
    to: date | None = Field(default=None, description="Events on or before.")
    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)


# --- request bodies ---------------------------------------------------------------------------


class RegistrationCreate(_Strict):
    """A new registration; `values` by dictionary variable, as text or JSON numbers."""

    unit_id: Id
    national_id: str = Field(min_length=1, max_length=20, description="Fødselsnummer/D-number.")
    values: dict[str, Any] = Field(default_factory=dict)
    status: Literal["draft", "complete"] = "draft"
    acknowledged: list[str] = Field(default_factory=list, description="Warning rule ids.")


class RegistrationUpdate(_Strict):
    """A change based on `version`; `values` overlays the stored ones (null clears a field)."""

    version: Id = Field(description="The version the change is based on.")
    values: dict[str, Any] = Field(default_factory=dict)
    status: Status | None = None
    reason: str | None = Field(default=None, max_length=500)
    acknowledged: list[str] = Field(default_factory=list)


class FhirBundle(BaseModel):
    """A FHIR R4 Bundle as JSON. Only `resourceType` is read here: FHIR R4 and the registry's
    mapping judge the rest, and name each fault's element in `issues`."""

    model_config = ConfigDict(extra="allow")

    resource_type: Literal["Bundle"] = Field(alias="resourceType")

    def resource(self) -> dict[str, Any]:
        """The bundle as it was sent."""
        return {"resourceType": self.resource_type, **(self.model_extra or {})}


# --- responses -------------------------------------------------------------------------------


class RegistryOut(BaseModel):
    key: str
    name: Texts
    description: Texts
    forms: list[str]
    event_date_variable: str
    indicators: list[str]
    dictionary_version: str | None


class RegistryList(BaseModel):
    registries: list[RegistryOut]


class IndicatorList(BaseModel):
    registry: str
    indicators: list[Indicator]


class ChoiceOut(BaseModel):
    code: str
    label: Texts


class ValidationOut(BaseModel):
    expression: str
    severity: Literal["error", "warning"]
    message: Texts


class VariableOut(BaseModel):
    name: str
    form: str
    type: str
    label: Texts
    unit: str | None
    choices: list[ChoiceOut]
    minimum: str | None
    maximum: str | None
    required: bool
    shown_when: str | None
    calculation: str | None
    validations: list[ValidationOut]
    identifier: bool


class Codebook(BaseModel):
    registry: str
    dictionary_version: str | None
    variables: list[VariableOut]


class ResultRow(BaseModel):
    """One indicator × period × unit. On a suppressed row every number is null (see `note`)."""

    indicator: str
    period: int
    unit_id: int
    level: str
    unit_name: str | None
    unit_short_name: str | None
    parent_id: int | None
    numerator: float | None
    denominator: float | None
    estimate: float | None
    lower: float | None
    upper: float | None
    achievement: str | None
    coverage: float | None
    suppressed: bool
    note: str | None = Field(description="`<N`: fewer than N; `:` hidden against subtraction.")
    confidential: bool = Field(
        description="Numbers shown only because the caller's grants cover the unit: "
        "suppressed for the public, not to be published."
    )
    observed: float | None = None
    expected: float | None = None
    oe_ratio: float | None = None
    oe_lower: float | None = None
    oe_upper: float | None = None
    risk_standardised: float | None = None
    funnel_lower_95: float | None = None
    funnel_upper_95: float | None = None
    funnel_lower_998: float | None = None
    funnel_upper_998: float | None = None
    funnel_position: str | None = None


class ResultList(BaseModel):
    registry: str
    total: int
    offset: int
    limit: int
    results: list[ResultRow]


class RegistrationOut(BaseModel):
    id: int
    unit_id: int
    event_date: date
    status: Status
    version: int
    national_id_masked: str
    values: dict[str, Any]
    skipped: list[str] = Field(description="Fields hidden by the form's logic.")
    acknowledged: list[str] = Field(description="Warnings acknowledged, by rule id.")


class RegistrationDetail(RegistrationOut):
    registry: str
    editable: bool
    created_at: datetime
    updated_at: datetime


class RegistrationList(BaseModel):
    registry: str
    offset: int
    limit: int
    next_offset: int | None = Field(description="Where the next page starts; null at the end.")
    registrations: list[RegistrationOut]


class SaveOut(BaseModel):
    id: int
    version: int
    status: Status
    changed: bool
    errors: list[IssueOut] = Field(description="Findings a draft may still carry.")
    warnings: list[IssueOut]


class FhirSaveOut(SaveOut):
    """The draft a FHIR bundle made or updated."""

    registry: str
    created: bool = Field(description="A new draft (201), or one updated (200).")
    source_key: str = Field(
        description="What posting again is matched by: `<system>|<value>` of the Encounter's "
        "identifier, else of the Bundle's."
    )
