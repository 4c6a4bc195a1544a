"""Alembic environment: runs on the connection that `data_access.migrate` hands it."""

from __future__ import annotations

from alembic import context

from data_access.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "Run migrations through `flask --app app db upgrade` (data_access.migrate), "
        "which supplies the database connection."
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
