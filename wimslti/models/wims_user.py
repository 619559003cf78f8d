"""One LMS user of one WIMS class, and the WIMS login made for them."""

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wimslti.models.meta import Base, utcnow
from wimslti.models.wims_class import WimsClass, enum_values


class UserState(enum.StrEnum):
    # Claimed by a launch that is adding the login to WIMS.
    CREATING = "creating"
    READY = "ready"


class WimsUser(Base):
    __tablename__ = "wims_user"
    __table_args__ = (
        sa.UniqueConstraint("class_id", "lms_user_id"),
        sa.UniqueConstraint("class_id", "quser"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(sa.ForeignKey("wims_class.id"))
    lms_user_id: Mapped[str] = mapped_column(sa.String(255))
    # The participant login; NULL for a person who has only ever been the
    # class supervisor (WIMS has one "supervisor" login per class).
    quser: Mapped[str | None] = mapped_column(sa.String(32))
    state: Mapped[UserState] = mapped_column(
        sa.Enum(UserState, native_enum=False, length=16, values_callable=enum_values),
        default=UserState.READY,
    )
    claim_token: Mapped[str | None] = mapped_column(sa.String(64))
    claimed_at: Mapped[datetime | None]
    is_supervisor: Mapped[bool] = mapped_column(default=False)
    firstname: Mapped[str] = mapped_column(sa.String(255), default="")
    lastname: Mapped[str] = mapped_column(sa.String(255), default="")
    email: Mapped[str] = mapped_column(sa.String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_launch_at: Mapped[datetime | None]

    wims_class: Mapped[WimsClass] = relationship()

    def __repr__(self) -> str:
        return f"<WimsUser {self.lms_user_id!r} {self.quser!r}>"
