"""One pass of a grade worker, for the dashboard and the log of what happened."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from wimslti.models.meta import Base, utcnow


class WorkerPass(Base):
    __tablename__ = "worker_pass"

    id: Mapped[int] = mapped_column(primary_key=True)
    # host:pid:nonce of the worker process.
    worker: Mapped[str] = mapped_column(sa.String(255))
    # A full pass syncs every activity; the others only those that are due.
    full: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # NULL while the pass runs, and forever if its worker was killed.
    finished_at: Mapped[datetime | None]
    activities_synced: Mapped[int] = mapped_column(default=0)
    activities_skipped: Mapped[int] = mapped_column(default=0)
    activities_failed: Mapped[int] = mapped_column(default=0)
    grades_sent: Mapped[int] = mapped_column(default=0)
    grades_failed: Mapped[int] = mapped_column(default=0)
    lms_requests: Mapped[int] = mapped_column(default=0)
    wims_requests: Mapped[int] = mapped_column(default=0)

    def __repr__(self) -> str:
        return f"<WorkerPass {self.id} {self.worker!r}>"
