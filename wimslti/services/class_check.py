"""Find the WIMS classes that WIMS no longer has, and mark them gone.

A class is marked gone only on WIMS's unambiguous answer ``class … not
existing`` (``ClassNotFound``): a refused ident, a class that refuses our
rclass, a timeout or a busy server change nothing, so that one WIMS
misconfiguration cannot retire every class (CASES C29). Nothing is deleted:
the class, its activities and their grade links stay, in state ``gone``.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from wimslti.models import (
    Activity,
    ActivityState,
    ClassState,
    WimsClass,
    WimsServer,
    committed_session,
    utcnow,
)
from wimslti.services.wims_connector import WimsConnector
from wimslti.wims import (
    ClassNotFound,
    IdentificationFailure,
    WimsError,
    WimsUnavailable,
)

log = logging.getLogger(__name__)


def mark_class_gone(
    session_factory: sessionmaker[Session], class_id: int, now: datetime
) -> None:
    """Mark a class and its activities gone, keeping every row."""
    with committed_session(session_factory) as session:
        session.execute(
            sa.update(WimsClass)
            .where(WimsClass.id == class_id, WimsClass.state != ClassState.GONE)
            .values(state=ClassState.GONE, gone_at=now)
        )
        session.execute(
            sa.update(Activity)
            .where(Activity.class_id == class_id)
            .values(state=ActivityState.GONE)
        )


@dataclass
class ServerCheck:
    """What one WIMS server said about our classes."""

    server_id: int
    name: str
    checked: int = 0
    gone: list[str] = field(default_factory=list)
    # qclass → why it could not be checked.
    errors: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        words = f"server {self.server_id} ({self.name}): {self.checked} checked"
        words += f", {len(self.gone)} gone"
        if self.gone:
            words += " (" + ", ".join(self.gone) + ")"
        if self.errors:
            words += f", {len(self.errors)} not checked"
        return words


class ClassChecker:
    """Ask each WIMS server whether our ready classes still exist."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        connector: WimsConnector,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.session_factory = session_factory
        self.connector = connector
        self.clock = clock

    def check_all(self) -> list[ServerCheck]:
        """Check every ready class of every active server; mark missing ones gone."""
        with committed_session(self.session_factory) as session:
            servers = session.scalars(
                sa.select(WimsServer)
                .where(WimsServer.retired_at.is_(None))
                .order_by(WimsServer.id)
            ).all()
            classes = {
                server.id: [
                    (row.id, row.qclass)
                    for row in session.execute(
                        sa.select(WimsClass.id, WimsClass.qclass)
                        .where(
                            WimsClass.wims_server_id == server.id,
                            WimsClass.state == ClassState.READY,
                        )
                        .order_by(WimsClass.id)
                    )
                ]
                for server in servers
            }
        return [self._check_server(server, classes[server.id]) for server in servers]

    def _check_server(
        self, server: WimsServer, classes: list[tuple[int, str]]
    ) -> ServerCheck:
        report = ServerCheck(server.id, server.name)
        client = self.connector.client(server)
        for index, (class_id, qclass) in enumerate(classes):
            try:
                client.checkclass(qclass)
            except (WimsUnavailable, IdentificationFailure) as error:
                # The server, not the class, is the problem: asking about the
                # other classes would only wait for the same answer.
                for _, other in classes[index:]:
                    report.errors[other] = str(error)
                log.warning(
                    "cannot check the classes of WIMS server %s: %s", server.id, error
                )
                break
            except ClassNotFound:
                mark_class_gone(self.session_factory, class_id, self.clock())
                report.gone.append(qclass)
                log.warning(
                    "WIMS class %s of server %s is gone; marked so", qclass, server.id
                )
            except WimsError as error:
                report.errors[qclass] = str(error)
                log.warning(
                    "cannot check WIMS class %s of server %s: %s",
                    qclass,
                    server.id,
                    error,
                )
                continue
            report.checked += 1
        log.info(
            "checked classes of WIMS server %s: %d checked, %d gone, %d errors",
            server.id,
            report.checked,
            len(report.gone),
            len(report.errors),
        )
        return report
