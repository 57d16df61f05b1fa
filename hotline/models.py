"""Tables of the app itself (not of any one package)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, UTCDateTime


class WorkerHeartbeat(Base):
    __tablename__ = "worker_heartbeats"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_result: Mapped[str] = mapped_column(String(255), default="")


def import_all_models() -> None:
    """Register every package's tables on the shared metadata (for Alembic and tests)."""
    import channels.models  # noqa: F401
    import console.models  # noqa: F401
    import referral.models  # noqa: F401
