"""Achievement levels (måloppnåelse) as every results page shows them: symbol, colour, words.

SKDE's results portal marks high, moderate and low achievement with a filled, a half-filled
and an empty circle; the shape carries the meaning, so readers who cannot tell the colours
apart (and screen readers, which get the words) lose nothing. The colours are the
Okabe–Ito palette's bluish green, orange and vermillion, chosen to stay distinct under the
common colour-vision deficiencies; the bands behind charts use light tints of them.
"""

from __future__ import annotations

from typing import Final

from dash import html

from portal.i18n import translate

LEVELS: Final = ("high", "moderate", "low")
SYMBOLS: Final = {"high": "●", "moderate": "◐", "low": "○"}
COLOURS: Final = {"high": "#007a5a", "moderate": "#9a5c00", "low": "#c0392b"}
"""Text and marker colours: the palette's hues darkened to 4.5:1 contrast on white."""
BAND_COLOURS: Final = {"high": "#d9f2e9", "moderate": "#fcefd6", "low": "#f9dcd5"}
"""Background bands of charts: light tints, so bars and intervals stay readable on them."""


def achievement_words(level: str | None, language: str) -> str:
    """'High achievement' etc.; 'No achievement level' where there is none."""
    return translate(f"achievement.{level if level in LEVELS else 'none'}", language)


def achievement_mark(level: str | None, language: str) -> html.Span:
    """The symbol (hidden from screen readers) followed by the words, coloured by level."""
    if level not in LEVELS:
        return html.Span(achievement_words(None, language), className="achievement none")
    return html.Span(
        className=f"achievement {level}",
        children=[
            html.Span(SYMBOLS[level], className="achievement-symbol", **{"aria-hidden": "true"}),
            " ",
            achievement_words(level, language),
        ],
    )
