"""A learning platform that launches the gateway with an LTI consumer key."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from wimslti.models.meta import Base, utcnow


class Lms(Base):
    __tablename__ = "lms"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The OAuth consumer key identifies the LMS: a launch belongs to the LMS
    # whose key signed it, whatever tool_consumer_instance_guid it claims.
    key: Mapped[str] = mapped_column(sa.String(255), unique=True)
    secret: Mapped[str] = mapped_column(sa.String(255))
    guid: Mapped[str | None] = mapped_column(sa.String(255))
    name: Mapped[str] = mapped_column(sa.String(255))
    url: Mapped[str | None] = mapped_column(sa.String(1024))
    # "yaml" records are owned by a file under config/, "admin" ones by the
    # web admin.
    source: Mapped[str] = mapped_column(sa.String(16), default="admin")
    source_file: Mapped[str | None] = mapped_column(sa.String(255))
    retired_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def is_active(self) -> bool:
        return self.retired_at is None

    def __repr__(self) -> str:
        return f"<Lms {self.key!r}>"
