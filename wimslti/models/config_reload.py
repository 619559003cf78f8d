"""One reload of the YAML declarations, as the admin shows it afterwards."""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from wimslti.models.meta import Base, utcnow


class ConfigReload(Base):
    __tablename__ = "config_reload"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None]
    # Who asked: "admin <login>" or "command line".
    trigger: Mapped[str] = mapped_column(sa.String(255))
    config_dir: Mapped[str] = mapped_column(sa.String(1024))
    # The names of the YAML files that were read, in the order they were read.
    files: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    succeeded: Mapped[bool]
    # What the sync did (SyncReport's lists: record names and field names,
    # never values), or None when it failed.
    report: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    # Why it failed: file, line, entry, field and message of each problem.
    problems: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)

    def __repr__(self) -> str:
        outcome = "ok" if self.succeeded else "failed"
        return f"<ConfigReload {self.id} {outcome}>"
