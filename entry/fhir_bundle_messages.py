"""What each problem of a FHIR bundle says, in bokmål and English (`entry.fhir_bundle`).

Kept in `entry/` beside the reader, as the record rules keep theirs: the problems are made in
pure code and reach the API, and later the import pages, in the caller's language.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

from entry.dictionary_model import Text

ProblemReason = Literal[
    "not_bundle", "no_resource", "unsupported", "invalid", "bundle_type", "count",
    "national_id", "national_id_kind", "no_national_id", "partial_date", "no_time",
    "event_date", "reference", "unit_number", "no_unit", "key_length", "no_key", "status",
    "other_patient", "medication", "no_code", "unknown_code", "unit", "value_kind", "type",
    "conflict", "hidden", "unknown_unit", "key_patient", "key_unit",
]  # fmt: skip

MESSAGES: Final[Mapping[ProblemReason, Text]] = {
    "not_bundle": Text(
        "Innholdet må være en FHIR-ressurs med resourceType Bundle.",
        "The body must be a FHIR resource with resourceType Bundle.",
    ),
    "no_resource": Text("Oppføringen har ingen ressurs.", "The entry has no resource."),
    "unsupported": Text(
        "Registeret leser ikke ressurstypen «{kind}»; ta den ut av bunten.",
        "The registry does not read resources of type “{kind}”; leave it out of the bundle.",
    ),
    "invalid": Text("Ikke gyldig FHIR R4: {detail}", "Not valid FHIR R4: {detail}"),
    "bundle_type": Text(
        "Bunten må ha type collection eller transaction, ikke {kind}.",
        "The bundle's type must be collection or transaction, not {kind}.",
    ),
    "count": Text(
        "Bunten må ha nøyaktig én {kind} (den har {found}).",
        "The bundle must hold exactly one {kind} (it holds {found}).",
    ),
    "national_id": Text(
        "Fødselsnummeret eller D-nummeret er ikke gyldig ({detail}).",
        "The fødselsnummer or D-number is not valid ({detail}).",
    ),
    "national_id_kind": Text(
        "Nummeret er et {found}, men identifikatorsystemet sier {kind}.",
        "The number is a {found}, but the identifier system says {kind}.",
    ),
    "no_national_id": Text(
        "Pasienten har ikke fødselsnummer eller D-nummer i et system registeret kjenner.",
        "The patient has no fødselsnummer or D-number in a system the registry knows.",
    ),
    "partial_date": Text(
        "En hel dato trengs, ikke «{value}».", "A full date is needed, not “{value}”."
    ),
    "no_time": Text(
        "Klokkeslett trengs også: variabelen er et tidspunkt.",
        "A time of day is needed too: the variable is a date and time.",
    ),
    "event_date": Text(
        "Oppholdets start trengs: den gir hendelsesdatoen ({variable}).",
        "The stay's start is needed: it gives the event date ({variable}).",
    ),
    "reference": Text(
        "Referansen peker ikke på en organisasjon i bunten.",
        "The reference points to no Organization in the bundle.",
    ),
    "unit_number": Text(
        "Enhetens identifikator må være et tall.", "The unit's identifier must be a number."
    ),
    "no_unit": Text(
        "Encounter.serviceProvider må gi enheten med en identifikator i {systems}.",
        "Encounter.serviceProvider must name the unit by an identifier in {systems}.",
    ),
    "key_length": Text(
        "Identifikatoren er for lang (system|verdi høyst {most} tegn).",
        "The identifier is too long (system|value at most {most} characters).",
    ),
    "no_key": Text(
        "Oppholdet trenger en identifikator (system og verdi), så en ny innsending "
        "oppdaterer samme utkast.",
        "The stay needs an identifier (system and value), so that posting it again updates "
        "the same draft.",
    ),
    "status": Text(
        "Status «{status}» sier ikke at dette skjedde; registeret leser bare {allowed}.",
        "Status “{status}” does not say this happened; the registry reads only {allowed}.",
    ),
    "other_patient": Text(
        "Ressursen gjelder en annen pasient enn bunten.",
        "The resource is about another patient than the bundle's.",
    ),
    "medication": Text(
        "Legemiddelet må gis som medicationCodeableConcept (ATC).",
        "The medication must be given as medicationCodeableConcept (ATC).",
    ),
    "no_code": Text("Ressursen har ingen kode.", "The resource has no code."),
    "unknown_code": Text(
        "Ukjent kode for registeret: {codes}.", "A code the registry does not know: {codes}."
    ),
    "unit": Text(
        "Måleenheten er {found}, men registeret krever {wanted}.",
        "The unit is {found}, but the registry needs {wanted}.",
    ),
    "value_kind": Text(
        "Verdien må være valueQuantity (enhet {unit}) eller valueInteger.",
        "The value must be valueQuantity (unit {unit}) or valueInteger.",
    ),
    "type": Text(
        "Verdien passer ikke variabelen {variable} ({kind}).",
        "The value does not fit the variable {variable} ({kind}).",
    ),
    "conflict": Text(
        "Gir {variable} = {value}, men {other} ga {first}.",
        "Gives {variable} = {value}, but {other} gave {first}.",
    ),
    "hidden": Text(
        "Skjemaets logikk skjuler {variable} (vises når {shown_when}), så verdien ville gått tapt.",
        "The form's logic hides {variable} (shown when {shown_when}), so the value would be lost.",
    ),
    "unknown_unit": Text(
        "Ingen enhet har dette organisasjonsnummeret.",
        "No unit has this organisation number.",
    ),
    "key_patient": Text(
        "Oppholdet er allerede registrert for en annen pasient.",
        "The stay is already registered for another patient.",
    ),
    "key_unit": Text(
        "Oppholdet er allerede registrert ved en annen enhet.",
        "The stay is already registered at another unit.",
    ),
}


def message(reason: ProblemReason, **values: object) -> Text:
    template = MESSAGES[reason]
    return Text(template.nb.format(**values), template.en.format(**values))
