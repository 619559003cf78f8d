"""Fixtures shared by every test: a migrated database per test."""

import os
import shutil
import socket

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from wimslti.models import Base, get_engine, get_session_factory
from wimslti.models.migrations import alembic_config, upgrade

# Set to a PostgreSQL URL (e.g. postgresql://postgres@127.0.0.1/wimslti_test)
# to run the suite against PostgreSQL instead of SQLite files.
POSTGRESQL_URL = os.environ.get("WIMSLTI_TEST_DATABASE_URL", "")
LOOPBACK = ("127.0.0.1", "::1", "localhost")


@pytest.fixture(scope="session")
def _migrated_database(tmp_path_factory):
    """Migrate once per session: a SQLite template file, or the PostgreSQL base."""
    if POSTGRESQL_URL:
        engine = get_engine(POSTGRESQL_URL)
        with engine.begin() as connection:
            Base.metadata.drop_all(connection)
            connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
        upgrade(engine)
        engine.dispose()
        return POSTGRESQL_URL
    template = tmp_path_factory.mktemp("template") / "wimslti.sqlite"
    engine = get_engine(f"sqlite:///{template}")
    upgrade(engine)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return template


@pytest.fixture
def db_url(_migrated_database, tmp_path):
    """Return the URL of an empty, migrated database of this test's own."""
    if POSTGRESQL_URL:
        engine = get_engine(POSTGRESQL_URL)
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        with engine.begin() as connection:
            connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            # A test may have moved the shared database off its revision.
            connection.execute(sa.text("DELETE FROM alembic_version"))
            connection.execute(
                sa.text("INSERT INTO alembic_version VALUES (:head)"),
                {"head": _head_revision()},
            )
        engine.dispose()
        return POSTGRESQL_URL
    path = tmp_path / "wimslti.sqlite"
    shutil.copyfile(_migrated_database, path)
    return f"sqlite:///{path}"


def _head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config())
    return script.get_current_head()


@pytest.fixture
def db_engine(db_url):
    engine = get_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(db_engine):
    return get_session_factory(db_engine)


@pytest.fixture
def dbsession(session_factory):
    """Return a plain session; tests commit when what they test needs it."""
    session = session_factory()
    yield session
    session.rollback()
    session.close()


@pytest.fixture(autouse=True)
def _only_loopback(monkeypatch):
    """Fail loudly on any connection to a host that is not this machine."""
    real_connect = socket.socket.connect

    def connect(self, address):
        # A str address is a Unix socket path (PostgreSQL's, say).
        if isinstance(address, tuple) and address[0] not in LOOPBACK:
            raise AssertionError(f"test tried to reach {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
