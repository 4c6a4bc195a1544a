"""Registry folders: one per registry, each with its dictionary, indicators and questionnaires."""
