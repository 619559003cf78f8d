"""Reload the YAML declarations and keep a record of each reload.

The admin's "Reload configuration" action and ``wimslti sync-config`` both
call ``recorded_reload``, so that they do the same thing and the admin can
show the last reload whoever asked for it.
"""

import dataclasses
import logging
import os
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from wimslti.config.loader import DeclarationError, Problem, yaml_files
from wimslti.config.sync import SyncReport, reload_config
from wimslti.models import committed_session, utcnow
from wimslti.models.config_reload import ConfigReload

log = logging.getLogger(__name__)


def _file_names(config_dir: str | os.PathLike[str]) -> list[str]:
    try:
        return [path.name for path in yaml_files(config_dir)]
    except OSError:
        return []


def _problem_dict(problem: Problem) -> dict[str, object]:
    return dataclasses.asdict(problem)


def recorded_reload(
    session_factory: sessionmaker[Session],
    config_dir: str | os.PathLike[str],
    *,
    trigger: str,
    environ: Mapping[str, str] | None = None,
) -> SyncReport:
    """Reload the YAML declarations of ``config_dir``, then record the outcome.

    The reload is ``reload_config``'s: every file is validated, then all is
    applied in one transaction, or nothing. The record is committed in a
    transaction of its own, after the reload's.

    :raises DeclarationError: when a file is invalid; nothing but the record
        of the failure is written.
    """
    started = utcnow()
    record = ConfigReload(
        started_at=started,
        trigger=trigger,
        config_dir=str(config_dir),
        files=_file_names(config_dir),
    )
    try:
        report = reload_config(session_factory, config_dir, environ)
    except DeclarationError as error:
        record.succeeded = False
        record.report = None
        record.problems = [_problem_dict(problem) for problem in error.errors]
        _save(session_factory, record)
        log.info(
            "Reload of %s by %s failed: %d problem(s)",
            config_dir,
            trigger,
            len(error.errors),
        )
        raise
    record.succeeded = True
    record.report = dataclasses.asdict(report)
    record.problems = []
    _save(session_factory, record)
    log.info("Reload of %s by %s: %s", config_dir, trigger, report.summary())
    return report


def preview_reload(
    session_factory: sessionmaker[Session], config_dir: str | os.PathLike[str]
) -> SyncReport:
    """Return what a reload would do now, and roll it back.

    :raises DeclarationError: when a file is invalid.
    """
    session = session_factory()
    try:
        return reload_config(session, config_dir)
    finally:
        session.rollback()
        session.close()


def _save(session_factory: sessionmaker[Session], record: ConfigReload) -> None:
    record.finished_at = utcnow()
    with committed_session(session_factory) as session:
        session.add(record)


def last_reloads(session: Session, limit: int = 10) -> list[ConfigReload]:
    """Return the newest reload records first."""
    query = (
        sa.select(ConfigReload)
        .order_by(ConfigReload.started_at.desc(), ConfigReload.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))
