"""Alembic environment: the database named by the same ini as the app."""

import os

from alembic import context
from pyramid.paster import get_appsettings, setup_logging

from wimslti.models import get_engine
from wimslti.models.meta import Base
from wimslti.settings import load_settings

config = context.config
if config.attributes.get("connection") is None:
    setup_logging(config.config_file_name)


def _database_url() -> str:
    settings = get_appsettings(config.config_file_name)
    return load_settings(settings, os.environ)["sqlalchemy.url"]


def run_migrations_offline() -> None:
    context.configure(url=_database_url(), target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=Base.metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = get_engine(_database_url())
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
