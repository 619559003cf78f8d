"""A WIMS installation, reached at its wims.cgi URL through adm/raw."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wimslti.models.lms import Lms
from wimslti.models.meta import Base, utcnow

wims_server_lms = sa.Table(
    "wims_server_lms",
    Base.metadata,
    sa.Column(
        "wims_server_id",
        sa.ForeignKey("wims_server.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("lms_id", sa.ForeignKey("lms.id", ondelete="CASCADE"), primary_key=True),
)


class WimsServer(Base):
    __tablename__ = "wims_server"

    # The number in the launch URLs /lti/C<id>/: it never changes once given.
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(255))
    url: Mapped[str] = mapped_column(sa.String(1024), unique=True)
    # The connection file log/classes/.connections/<ident> on the WIMS server
    # and its ident_password.
    ident: Mapped[str] = mapped_column(sa.String(64))
    passwd: Mapped[str] = mapped_column(sa.String(255))
    rclass: Mapped[str] = mapped_column(sa.String(64))
    class_limit: Mapped[int] = mapped_column(default=150)
    class_lifetime_days: Mapped[int] = mapped_column(default=365)
    contact_email: Mapped[str | None] = mapped_column(sa.String(255))
    source: Mapped[str] = mapped_column(sa.String(16), default="admin")
    source_file: Mapped[str | None] = mapped_column(sa.String(255))
    retired_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    allowed_lms: Mapped[list[Lms]] = relationship(
        secondary=wims_server_lms, order_by=Lms.key
    )

    @property
    def is_active(self) -> bool:
        return self.retired_at is None

    def allows(self, lms: Lms) -> bool:
        """Tell whether ``lms`` may launch into this server."""
        return any(allowed.id == lms.id for allowed in self.allowed_lms)

    def __repr__(self) -> str:
        return f"<WimsServer {self.id} {self.url!r}>"
