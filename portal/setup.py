"""What happens when the application starts: migrate the embedded database, sync configuration."""

from __future__ import annotations

import logging

import flask
from sqlalchemy import func, select

from data_access import migrate
from data_access.accounts import create_demo_users
from data_access.database import Database
from data_access.models import Registration, Registry
from data_access.org_tree import read_unit_tree
from data_access.reference_data import ensure_registry, sync_units
from entry.registry_folder import RegistryFolder
from entry.synthetic_description import DESCRIPTION_FILE
from portal.catalogue import installed_registries
from portal.demo import seed_demo
from portal.settings import Settings

log = logging.getLogger(__name__)


def prepare_on_start(server: flask.Flask, settings: Settings, database: Database) -> None:
    """The embedded default migrates itself; a production database is migrated by the operator."""
    if settings.auto_migrate:
        prepare_database(server, database)
    elif not migrate.is_current(database):
        log.warning("The database schema is not current: run `flask --app app db upgrade`.")


def prepare_database(server: flask.Flask, database: Database) -> None:
    """Bring the schema to head and load the shipped organisation tree and registries."""
    migrate.upgrade(database)
    sync_units(database, read_unit_tree())
    with server.app_context():
        for registry in installed_registries():
            ensure_registry(database, registry.key, registry.name.nb, registry.name.en)


def seed_empty_demo_registries(server: flask.Flask) -> None:
    """On a first run, give every registry that can make demo data something to show."""
    settings: Settings = server.config["PORTAL_SETTINGS"]
    database: Database = server.extensions["database"]
    with server.app_context():
        for registry in installed_registries():
            if _has_generator(registry) and registration_count(database, registry.key) == 0:
                log.info(
                    "First run: generating the %s demo registry (a minute at most).", registry.key
                )
                seed_demo(
                    database, settings, registry, settings.demo_registrations, settings.demo_seed
                )
                if settings.environment != "production":  # their password is public
                    create_demo_users(
                        database, registry.key, settings.demo_password, units=registry.demo_units
                    )


def registration_count(database: Database, registry_key: str) -> int:
    with database.reading() as session:
        count = session.scalar(
            select(func.count(Registration.id))
            .join(Registry, Registry.id == Registration.registry_id)
            .where(Registry.key == registry_key)
        )
    return int(count or 0)


def _has_generator(registry: RegistryFolder) -> bool:
    return any((registry.path / name).exists() for name in (DESCRIPTION_FILE, "synthetic.py"))
