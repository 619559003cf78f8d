"""OAuth nonces already used, kept for the timestamp window."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from wimslti.models.meta import Base, utcnow


class OAuthNonce(Base):
    __tablename__ = "oauth_nonce"
    # The unique key makes "use once" atomic across web workers.
    __table_args__ = (sa.UniqueConstraint("consumer_key", "nonce", "timestamp"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    consumer_key: Mapped[str] = mapped_column(sa.String(255))
    nonce: Mapped[str] = mapped_column(sa.String(255))
    timestamp: Mapped[int] = mapped_column(sa.BigInteger, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
