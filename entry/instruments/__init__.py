"""Scoring rules of standard questionnaire instruments, one module per instrument.

Each module holds pure functions of item answers and the published constants they use; they
know nothing of registries, forms or storage. `entry.scoring` dispatches to them by
instrument and version.
"""
