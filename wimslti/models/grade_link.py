"""Where to send one user's grade for one activity (LTI 1.1 Basic Outcomes)."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wimslti.models.activity import Activity
from wimslti.models.meta import Base, utcnow
from wimslti.models.wims_user import WimsUser


class GradeLink(Base):
    __tablename__ = "grade_link"
    __table_args__ = (sa.UniqueConstraint("user_id", "activity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("wims_user.id"))
    activity_id: Mapped[int] = mapped_column(sa.ForeignKey("activity.id"), index=True)
    # Sourcedids can be long (Moodle sends JSON, Blackboard long tokens).
    sourcedid: Mapped[str] = mapped_column(sa.Text)
    outcome_url: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_score_sent: Mapped[float | None]
    last_sent_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_outcome: Mapped[str | None] = mapped_column(sa.String(32))
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    next_attempt_at: Mapped[datetime | None]
    # The score read from WIMS that the LMS has not accepted yet.
    pending_score: Mapped[float | None]
    # Where last_score_sent went: a relaunch with a new sourcedid resends.
    last_sent_sourcedid: Mapped[str | None] = mapped_column(sa.Text)
    # The LMS's own words about the last attempt, whatever its outcome.
    last_message: Mapped[str | None] = mapped_column(sa.Text)
    # Set when the LMS refused the grade for good; the link is kept.
    dead_at: Mapped[datetime | None]

    user: Mapped[WimsUser] = relationship()
    activity: Mapped[Activity] = relationship()
