"""The one error of the expression language, pointing at the place in the text.

Registry authors read these messages when a dictionary or an indicator file is loaded, so
an error says what is wrong and shows where: the text with a caret under the position.
"""

from __future__ import annotations


class ExpressionError(ValueError):
    """A parse, type or evaluation error at a 0-based character offset of the expression."""

    def __init__(self, message: str, position: int, text: str = "") -> None:
        super().__init__(message, position, text)
        self.message = message
        self.position = position
        self.text = text

    def __str__(self) -> str:
        if not self.text:
            return f"{self.message} (at position {self.position})"
        start = self.text.rfind("\n", 0, self.position) + 1
        end = self.text.find("\n", self.position)
        line = self.text[start : len(self.text) if end < 0 else end]
        # Tabs and other odd spaces would push the caret out of line; show them as spaces.
        shown = "".join(" " if char.isspace() else char for char in line)
        caret = " " * (self.position - start) + "^"
        return f"{self.message} (at position {self.position})\n    {shown}\n    {caret}"

    def with_text(self, text: str) -> ExpressionError:
        """The same error, carrying the expression's text so `str()` can show the caret."""
        return self if self.text else ExpressionError(self.message, self.position, text)
