"""Entry of registrations: the data dictionary, expressions, validation, scoring and importers."""
