"""The indicator engine: pure polars, no Flask, no database, no files, no clock."""

from indicators.definition import Indicator, IndicatorDefinitionError, indicator_from_mapping
from indicators.engine import RESULT_SCHEMA, compute_results, fit_risk_models
from indicators.public import public_results
from indicators.risk import ModelReport

__all__ = [
    "RESULT_SCHEMA",
    "Indicator",
    "IndicatorDefinitionError",
    "ModelReport",
    "compute_results",
    "fit_risk_models",
    "indicator_from_mapping",
    "public_results",
]
