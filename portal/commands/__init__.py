"""Operations as Flask CLI commands (`flask --app app …`), one module per concern."""

from __future__ import annotations

import flask

from portal.commands import (
    aggregate,
    audit,
    backup,
    database,
    dictionary,
    import_file,
    prom,
    reports,
    tokens,
    users,
)


def init_app(server: flask.Flask) -> None:
    for module in (
        database,
        users,
        audit,
        backup,
        dictionary,
        tokens,
        import_file,
        prom,
        reports,
        aggregate,
    ):
        for command in module.COMMANDS:
            server.cli.add_command(command)
