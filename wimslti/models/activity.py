"""A WIMS worksheet or exam that an LMS activity links to."""

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wimslti.models.meta import Base, utcnow
from wimslti.models.wims_class import WimsClass, enum_values


class ActivityKind(enum.StrEnum):
    SHEET = "sheet"
    EXAM = "exam"


class ActivityState(enum.StrEnum):
    READY = "ready"
    # WIMS no longer has it (or its class); its grade links are kept.
    GONE = "gone"


class Activity(Base):
    __tablename__ = "activity"
    __table_args__ = (sa.UniqueConstraint("class_id", "kind", "qitem"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(sa.ForeignKey("wims_class.id"))
    kind: Mapped[ActivityKind] = mapped_column(
        sa.Enum(ActivityKind, native_enum=False, length=8, values_callable=enum_values)
    )
    qitem: Mapped[int]
    resource_link_id: Mapped[str | None] = mapped_column(sa.String(255))
    title: Mapped[str] = mapped_column(sa.String(255), default="")
    # WIMS status last seen: 0 pending, 1 active, 2 expired, 3 hidden.
    wims_status: Mapped[int | None]
    state: Mapped[ActivityState] = mapped_column(
        sa.Enum(
            ActivityState, native_enum=False, length=8, values_callable=enum_values
        ),
        default=ActivityState.READY,
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set by a teacher launch: the grade worker syncs this activity first.
    sync_requested_at: Mapped[datetime | None]
    last_synced_at: Mapped[datetime | None]
    # The grade worker that is syncing the activity (host:pid:nonce), and
    # when its lease ends. With no worker, claimed_until is the time before
    # which no worker asks WIMS again, after WIMS could not answer.
    claimed_by: Mapped[str | None] = mapped_column(sa.String(255))
    claimed_until: Mapped[datetime | None]

    wims_class: Mapped[WimsClass] = relationship()

    def __repr__(self) -> str:
        return f"<Activity {self.kind} {self.qitem}>"
