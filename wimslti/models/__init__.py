"""Database access: engine, sessions bound to the request transaction, tables."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
import zope.sqlalchemy
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid_retry import mark_error_retryable
from sqlalchemy.orm import Session, sessionmaker

from wimslti.models.activity import Activity, ActivityKind, ActivityState
from wimslti.models.admin_user import AdminUser
from wimslti.models.config_reload import ConfigReload
from wimslti.models.grade_link import GradeLink
from wimslti.models.lms import Lms
from wimslti.models.meta import Base, utcnow
from wimslti.models.oauth_nonce import OAuthNonce
from wimslti.models.wims_class import ClassState, WimsClass
from wimslti.models.wims_server import WimsServer, wims_server_lms
from wimslti.models.wims_user import UserState, WimsUser
from wimslti.models.worker_pass import WorkerPass

__all__ = [
    "Activity",
    "ActivityKind",
    "ActivityState",
    "AdminUser",
    "Base",
    "ClassState",
    "ConfigReload",
    "GradeLink",
    "Lms",
    "OAuthNonce",
    "UserState",
    "WimsClass",
    "WimsServer",
    "WimsUser",
    "WorkerPass",
    "committed_session",
    "get_engine",
    "utcnow",
    "wims_server_lms",
]


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets launches read while a worker writes; the busy timeout makes
    # concurrent writers wait for each other instead of failing at once.
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode this keeps the database consistent after a crash; only the
    # last transactions may be lost on a power failure.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def get_engine(url: str, **kwargs: Any) -> sa.Engine:
    """Create the engine for ``url``, tuned for the database it names."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
        engine = sa.create_engine(url, **kwargs)
        sa.event.listen(engine, "connect", _tune_sqlite)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(url, **kwargs)


def get_session_factory(engine: sa.Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def get_tm_session(
    session_factory: sessionmaker[Session], transaction_manager: Any, request=None
) -> Session:
    """Return a session whose commit and abort follow ``transaction_manager``."""
    dbsession = session_factory(info={"request": request})
    zope.sqlalchemy.register(dbsession, transaction_manager=transaction_manager)
    return dbsession


@contextmanager
def committed_session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """Run a short transaction of its own, committed before the block returns.

    Claims (a class or a user being created) and used nonces must be visible
    to other launches at once and survive the abort of the request that made
    them, so they do not ride on the request transaction.
    """
    session = session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    # The explicit manager lets tests hand in their own transaction manager.
    settings["tm.manager_hook"] = "pyramid_tm.explicit_manager"
    config.include("pyramid_tm")
    # Transient database errors (a lost connection, a unique key raced by a
    # concurrent launch) replay the whole request once more.
    settings.setdefault("retry.attempts", 3)
    config.include("pyramid_retry")
    mark_error_retryable(sa.exc.IntegrityError)
    # A lost connection, a locked SQLite file, a serialization failure.
    mark_error_retryable(sa.exc.OperationalError)

    engine = config.registry.get("dbengine") or get_engine(settings["sqlalchemy.url"])
    config.registry["dbengine"] = engine
    session_factory = get_session_factory(engine)
    config.registry["dbsession_factory"] = session_factory

    def dbsession(request: Request) -> Session:
        session = request.environ.get("app.dbsession")
        if session is None:
            session = get_tm_session(session_factory, request.tm, request=request)
        return session

    config.add_request_method(dbsession, reify=True)
