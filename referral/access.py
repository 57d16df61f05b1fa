"""Who may see and change which tickets (the role matrix), with no web or database code.

- staff: only tickets of their own department, and within it only their units when units
  are set (a 乡镇/街道 office sees its own street's tickets; units are directory codes, so a
  ticket the bot filed for "平桥" reaches the clerks of 平桥乡人民政府);
- supervisor: every department (watch backlog and breaches), may transfer and reassign;
- admin: manages accounts and the unit directory, and sees no ticket or conversation (least
  privilege: seeing citizens' data needs a department or the supervisor role);
- agent (12349 坐席): the agents' desk (conversations); tickets only as the desk shows them
  (a conversation's own, masked). A staff account may be given the desk too (`desk`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

ROLES = ("staff", "agent", "supervisor", "admin")
TICKET_ROLES = ("staff", "supervisor")  # who may open the ticket views at all


@dataclass(frozen=True)
class Viewer:
    username: str
    role: str
    department: str | None = None
    units: tuple[str, ...] = field(default_factory=tuple)
    desk: bool = False  # a clerk who also works the agents' desk

    @property
    def sees_all(self) -> bool:
        return self.role == "supervisor"

    @property
    def on_desk(self) -> bool:
        """May see and take conversations (agents' desk): agents, supervisors, clerks given it."""
        return self.role in ("agent", "supervisor") or (self.role == "staff" and self.desk)

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.username}"


class PermissionDenied(Exception):
    pass


def can_view(viewer: Viewer, department: str, unit_code: str | None) -> bool:
    """`viewer.units` and `unit_code` are codes of the unit directory (referral/units)."""
    if viewer.sees_all:
        return True
    if viewer.role != "staff" or viewer.department != department:
        return False
    return not viewer.units or (unit_code in viewer.units)


def ensure_can_view(viewer: Viewer, department: str, unit_code: str | None) -> None:
    if not can_view(viewer, department, unit_code):
        raise PermissionDenied(f"{viewer.username} may not see tickets of {department}")
