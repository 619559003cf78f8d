"""Run the alembic migrations from code: initdb, start-up checks, tests."""

from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from alembic import command

# alembic/ sits beside the package in the project checkout.
DEFAULT_SCRIPT_LOCATION = Path(__file__).resolve().parents[2] / "alembic"


def alembic_config(ini_file: str | None = None) -> Config:
    """Return the alembic configuration of ``ini_file``, or the project default."""
    config = Config(ini_file) if ini_file else Config()
    if not config.get_main_option("script_location"):
        config.set_main_option("script_location", str(DEFAULT_SCRIPT_LOCATION))
    return config


def upgrade(engine: sa.Engine, ini_file: str | None = None) -> None:
    """Migrate the database of ``engine`` to the newest revision."""
    config = alembic_config(ini_file)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def is_current(engine: sa.Engine, ini_file: str | None = None) -> bool:
    """Tell whether the database of ``engine`` is at the newest revision."""
    script = ScriptDirectory.from_config(alembic_config(ini_file))
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    return set(current) == set(script.get_heads())
