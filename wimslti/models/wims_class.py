"""The WIMS class that serves one LMS course on one WIMS server."""

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wimslti.models.lms import Lms
from wimslti.models.meta import Base, utcnow
from wimslti.models.wims_server import WimsServer


def enum_values(enum_class: type[enum.Enum]) -> list[str]:
    return [member.value for member in enum_class]


class ClassState(enum.StrEnum):
    # Claimed by a launch that has picked the qclass and is asking WIMS for it.
    CREATING = "creating"
    READY = "ready"
    # WIMS said the class does not exist any more; the row is kept.
    GONE = "gone"


class WimsClass(Base):
    __tablename__ = "wims_class"
    __table_args__ = (
        # One live class per course and WIMS server; gone classes stay beside it.
        sa.Index(
            "uq_wims_class_live_course",
            "lms_id",
            "context_id",
            "wims_server_id",
            unique=True,
            sqlite_where=sa.text("state != 'gone'"),
            postgresql_where=sa.text("state != 'gone'"),
        ),
        sa.UniqueConstraint("wims_server_id", "qclass"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lms_id: Mapped[int] = mapped_column(sa.ForeignKey("lms.id"))
    context_id: Mapped[str] = mapped_column(sa.String(255))
    wims_server_id: Mapped[int] = mapped_column(sa.ForeignKey("wims_server.id"))
    qclass: Mapped[str] = mapped_column(sa.String(16))
    state: Mapped[ClassState] = mapped_column(
        sa.Enum(ClassState, native_enum=False, length=16, values_callable=enum_values),
        default=ClassState.CREATING,
    )
    claim_token: Mapped[str | None] = mapped_column(sa.String(64))
    claimed_at: Mapped[datetime | None]
    name: Mapped[str] = mapped_column(sa.String(255))
    institution: Mapped[str] = mapped_column(sa.String(255), default="")
    lang: Mapped[str] = mapped_column(sa.String(8), default="en")
    email: Mapped[str] = mapped_column(sa.String(255), default="")
    expiration: Mapped[date | None]
    user_limit: Mapped[int] = mapped_column(default=150)
    # Given to the class supervisor (by mail, see the credentials mail).
    class_password: Mapped[str] = mapped_column(sa.String(64))
    supervisor_password: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ready_at: Mapped[datetime | None]
    gone_at: Mapped[datetime | None]

    lms: Mapped[Lms] = relationship()
    wims_server: Mapped[WimsServer] = relationship()

    def __repr__(self) -> str:
        return f"<WimsClass {self.qclass} {self.state}>"
