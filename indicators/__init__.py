"""The indicator engine: pure polars, no Flask, no database, no files, no clock."""

from indicators.definition import Indicator, IndicatorDefinitionError, indicator_from_mapping

__all__ = ["Indicator", "IndicatorDefinitionError", "indicator_from_mapping"]
