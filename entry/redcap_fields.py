"""REDCap's data-dictionary columns and field types, and how each maps to ours.

The tables both directions of `entry.redcap` read, kept apart so the mapping can be read (and
checked against docs/dictionary.md) in one place.
"""

from __future__ import annotations

from collections.abc import Mapping

REDCAP_COLUMNS: tuple[str, ...] = (
    "Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
    "Choices, Calculations, OR Slider Labels", "Field Note",
    "Text Validation Type OR Show Slider Number", "Text Validation Min", "Text Validation Max",
    "Identifier?", "Branching Logic (Show field only if...)", "Required Field?",
    "Custom Alignment", "Question Number (surveys only)", "Matrix Group Name", "Matrix Ranking?",
    "Field Annotation",
)  # fmt: skip
NAME, FORM, SECTION, FIELD_TYPE, LABEL, CHOICES, NOTE, VALIDATION = REDCAP_COLUMNS[:8]
MINIMUM, MAXIMUM, IDENTIFIER, LOGIC, REQUIRED, ALIGNMENT = REDCAP_COLUMNS[8:14]
QUESTION, MATRIX, RANKING, ANNOTATION = REDCAP_COLUMNS[14:]

VALIDATIONS: Mapping[str, tuple[str, str | None]] = {
    "integer": ("integer", None),
    **{f"number{dp}{comma}": ("decimal", None) for dp in ("", "_1dp", "_2dp", "_3dp", "_4dp")
       for comma in ("", "_comma_decimal")},
    **{f"date_{order}": ("date", None) for order in ("ymd", "dmy", "mdy")},
    **{f"datetime_{s}{order}": ("datetime", None) for s in ("", "seconds_")
       for order in ("ymd", "dmy", "mdy")},
    "time": ("time", None),
    "time_hh_mm_ss": ("time", None),
    "time_mm_ss": ("text", r"[0-5]\d:[0-5]\d"),
    "email": ("text", r"[^@\s]+@[^@\s]+\.[^@\s]+"),
    "alpha_only": ("text", r"[A-Za-z]+"),
    "phone": ("text", r"\(?[2-9]\d{2}\)?[ .-]?[2-9]\d{2}[ .-]?\d{4}(\s*(x|ext\.?)\s*\d+)?"),
    "phone_australia": ("text", r"(\(0[2-8]\)|0[2-8])?[ -]?\d{4}[ -]?\d{4}"),
    "postalcode_australia": ("text", r"\d{4}"),
    "postalcode_canada": (
        "text",
        r"(?i)[A-CEGHJ-NPR-TVXY]\d[A-CEGHJ-NPR-TV-Z] ?\d[A-CEGHJ-NPR-TV-Z]\d",
    ),
    "postalcode_french": ("text", r"\d{5}"),
    "postalcode_germany": ("text", r"\d{5}"),
    "ssn": ("text", r"\d{3}-\d{2}-\d{4}"),
    "zipcode": ("text", r"\d{5}(-\d{4})?"),
    "mrn_10d": ("text", r"\d{10}"),
    "mrn_generic": ("text", r"[A-Za-z0-9-]+"),
    "vmrn": ("text", r"\d{4,9}"),
}  # fmt: skip
"""REDCap's built-in text validations: our type and, for text, a pattern close to REDCap's."""

TYPES_OF_FIELDS: Mapping[str, str] = {
    "notes": "notes",
    "dropdown": "single",
    "radio": "single",
    "checkbox": "multiple",
    "yesno": "yesno",
    "truefalse": "yesno",
    "calc": "calculated",
    "descriptive": "descriptive",
    "slider": "integer",
    "file": "text",
    "sql": "text",
}
"""Our type for each REDCap field type other than text (which its validation decides)."""
FIELDS_OF_TYPES: Mapping[str, str] = {
    "text": "text", "notes": "notes", "integer": "text", "decimal": "text", "date": "text",
    "datetime": "text", "time": "text", "yesno": "yesno", "single": "radio",
    "multiple": "checkbox", "calculated": "calc", "descriptive": "descriptive",
}  # fmt: skip
"""The REDCap field type each of our types exports as, unless `redcap_type` says otherwise."""
CANONICAL_VALIDATIONS: Mapping[str, str] = {
    "integer": "integer",
    "decimal": "number",
    "date": "date_ymd",
    "datetime": "datetime_ymd",
    "time": "time",
}
LOSSY_FIELDS: Mapping[str, str] = {
    "file": "a file upload is kept as text (REDCap's document id); forms here cannot upload",
    "sql": "dynamic SQL choices are kept verbatim in redcap_choices and entered as text",
    "slider": "a slider is a whole number within its bounds; its labels stay in redcap_choices",
    "truefalse": "true/false is a yes/no here (1 = true, 0 = false)",
}
OUR_COLUMN_IN_REDCAP: Mapping[str, str] = {
    "variable": NAME, "form": FORM, "section_nb": SECTION, "section_en": SECTION,
    "type": FIELD_TYPE, "redcap_type": FIELD_TYPE, "label_nb": LABEL, "label_en": LABEL,
    "help_nb": NOTE, "help_en": NOTE, "choices_nb": CHOICES, "choices_en": CHOICES,
    "calculation": CHOICES, "redcap_choices": CHOICES, "pattern": VALIDATION,
    "redcap_validation": VALIDATION, "min": MINIMUM, "max": MAXIMUM, "identifier": IDENTIFIER,
    "show_if": LOGIC, "required": REQUIRED, "alignment": ALIGNMENT, "question_number": QUESTION,
    "matrix_group": MATRIX, "matrix_ranking": RANKING, "annotation": ANNOTATION,
}  # fmt: skip
"""Where each of our columns comes from in REDCap's, to name REDCap's column in problems."""
