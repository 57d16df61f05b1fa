"""Console accounts (工作人员账号). Owned by console/; sessions live in Redis, not here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, UTCDateTime, utcnow


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64), default="")
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id, PHC string
    role: Mapped[str] = mapped_column(String(16))  # staff | agent | supervisor | admin
    # Department code (ARCHITECTURE.md §4.1) for staff; NULL for supervisor and admin.
    department: Mapped[str | None] = mapped_column(String(32))
    # Handling-unit names a clerk is limited to (e.g. ["平桥乡人民政府"]); empty = whole department.
    units: Mapped[list[str]] = mapped_column(JSON, default=list)
    # A department clerk who also takes conversations at the agents' desk (agents always do).
    desk: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
