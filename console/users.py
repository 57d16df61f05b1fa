"""Console accounts: create, authenticate with lockout, administer. No web code here.

Passwords are hashed with argon2id (argon2-cffi's recommended parameters). Hashing costs
tens of milliseconds of CPU, so it runs in a thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from console.models import StaffUser
from hotline.db import utcnow
from referral import domain, service
from referral.access import ROLES, Viewer

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10
_USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")

_hasher = PasswordHasher()
# Verified against when the username is unknown, so a miss costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class UserError(ValueError):
    """Bad input for an account; `field` names the form field."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class LoginFailed(Exception):
    def __init__(self, locked: bool):
        super().__init__("locked" if locked else "bad credentials")
        self.locked = locked


@dataclass(frozen=True)
class Profile:
    """Role and scope of an account, validated together (the role matrix needs all three)."""

    role: str
    department: str | None = None
    units: tuple[str, ...] = ()
    desk: bool = False

    @classmethod
    def checked(cls, role: str, department: str | None, units: Iterable[str],
                desk: bool = False) -> Profile:
        if role not in ROLES:
            raise UserError("role", f"未知角色 {role!r}")
        units = tuple(dict.fromkeys(u.strip() for u in units if u and u.strip()))
        if role == "staff":
            if department not in domain.departments():
                raise UserError("department", "部门工作人员必须选择所属部门")
            return cls(role, department, units, desk)
        if department or units:
            raise UserError("department", "坐席、督办人员和管理员不设部门和承办单位")
        return cls(role)


async def unit_codes(sf: async_sessionmaker, entries: Iterable[str]) -> list[str]:
    """Units as an admin types them (a code, or a name, office or alias of the unit
    directory) -> their codes; UserError for one that names no unit or several."""
    entries = [e.strip() for e in entries if e and e.strip()]
    if not entries:
        return []
    async with sf() as s:
        directory = await service.unit_directory(s)
    codes = []
    for entry in entries:
        hits = directory.resolve(entry)
        if not hits:
            raise UserError("units", f"承办单位目录里没有“{entry}”，请填写乡镇/街道的名称或代码")
        if len(hits) > 1:
            raise UserError("units", f"“{entry}”有多个同名单位，请改填代码：" + "、".join(
                f"{u.label} {u.code}" for u in hits[:6]))
        codes.append(hits[0].code)
    return codes


def viewer_of(user: StaffUser) -> Viewer:
    return Viewer(username=user.username, role=user.role, department=user.department,
                  units=tuple(user.units or ()), desk=bool(user.desk))


def is_locked(user: StaffUser, now: datetime | None = None) -> bool:
    return user.locked_until is not None and user.locked_until > (now or utcnow())


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise UserError("password", f"密码至少 {MIN_PASSWORD_LENGTH} 位")


async def _hash(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def create_user(sf: async_sessionmaker, username: str, password: str, role: str,
                      department: str | None = None, units: Iterable[str] = (),
                      display_name: str | None = None, desk: bool = False) -> StaffUser:
    username = (username or "").strip()
    if not _USERNAME_RE.match(username):
        raise UserError("username", "用户名为 3–64 位字母、数字、点、下划线或连字符")
    profile = Profile.checked(role, department or None, await unit_codes(sf, units), desk)
    _check_password(password)
    user = StaffUser(username=username, display_name=(display_name or username).strip()[:64],
                     password_hash=await _hash(password), role=profile.role,
                     department=profile.department, units=list(profile.units),
                     desk=profile.desk, active=True,
                     failed_logins=0, created_at=utcnow())
    try:
        async with sf() as s, s.begin():
            s.add(user)
    except IntegrityError:
        raise UserError("username", f"用户名 {username} 已存在") from None
    return user


async def authenticate(sf: async_sessionmaker, username: str, password: str) -> StaffUser:
    """The active account with this password, or LoginFailed. Each try is counted before the
    password is checked (one atomic increment), so a burst of parallel guesses gets at most
    MAX_FAILED_LOGINS of them checked; the fifth failure locks the account for LOCKOUT, and
    while locked even the right password fails. Locked, unknown and wrong answer alike."""
    now = utcnow()
    async with sf() as s:
        user = await s.scalar(select(StaffUser).where(StaffUser.username == (username or "").strip()))
    if user is None or not user.active:
        await asyncio.to_thread(_verify, _DUMMY_HASH, password or "")
        raise LoginFailed(locked=False)
    this = update(StaffUser).where(StaffUser.id == user.id)
    async with sf() as s, s.begin():
        tries = await s.scalar(
            this.where((StaffUser.locked_until.is_(None)) | (StaffUser.locked_until <= now))
            .values(failed_logins=StaffUser.failed_logins + 1).returning(StaffUser.failed_logins))
    if tries is None or tries > MAX_FAILED_LOGINS:  # locked, or others' tries used the rest
        if tries is not None:  # whatever became of those tries, the lock ends by itself
            async with sf() as s, s.begin():
                await s.execute(this.values(failed_logins=0, locked_until=now + LOCKOUT))
        await asyncio.to_thread(_verify, _DUMMY_HASH, password or "")  # the same time taken
        raise LoginFailed(locked=True)
    ok = await asyncio.to_thread(_verify, user.password_hash, password or "")
    async with sf() as s, s.begin():
        if ok:
            values: dict = {"failed_logins": 0, "locked_until": None}
            if _hasher.check_needs_rehash(user.password_hash):
                values["password_hash"] = await _hash(password)
            await s.execute(this.values(**values))
            return user
        if tries == MAX_FAILED_LOGINS:
            await s.execute(this.values(failed_logins=0, locked_until=now + LOCKOUT))
    raise LoginFailed(locked=tries == MAX_FAILED_LOGINS)


async def get_user(sf: async_sessionmaker, user_id: int) -> StaffUser | None:
    async with sf() as s:
        return await s.get(StaffUser, user_id)


async def by_username(sf: async_sessionmaker, username: str) -> StaffUser | None:
    async with sf() as s:
        return await s.scalar(select(StaffUser).where(StaffUser.username == (username or "").strip()))


async def list_users(sf: async_sessionmaker) -> list[StaffUser]:
    async with sf() as s:
        return list(await s.scalars(select(StaffUser).order_by(StaffUser.role, StaffUser.username)))


async def _change(sf: async_sessionmaker, user_id: int, **values) -> StaffUser:
    async with sf() as s, s.begin():
        user = await s.get(StaffUser, user_id)
        if user is None:
            raise UserError("user", "用户不存在")
        for k, v in values.items():
            setattr(user, k, v)
    return user


async def update_profile(sf: async_sessionmaker, user_id: int, role: str, department: str | None,
                         units: Iterable[str], display_name: str, desk: bool = False) -> StaffUser:
    profile = Profile.checked(role, department or None, await unit_codes(sf, units), desk)
    names = {"display_name": display_name.strip()[:64]} if (display_name or "").strip() else {}
    return await _change(sf, user_id, role=profile.role, department=profile.department,
                         units=list(profile.units), desk=profile.desk, **names)


async def set_password(sf: async_sessionmaker, user_id: int, password: str) -> StaffUser:
    """A new password also lifts a lockout."""
    _check_password(password)
    return await _change(sf, user_id, password_hash=await _hash(password), failed_logins=0,
                         locked_until=None)


async def set_active(sf: async_sessionmaker, user_id: int, active: bool) -> StaffUser:
    return await _change(sf, user_id, active=active)


async def seed_demo_users(sf: async_sessionmaker) -> list[tuple[str, str, str]]:
    """Development only: an admin, a supervisor, an agent and one clerk per department, with
    random passwords returned once as (username, role, password). Does nothing unless the table
    is empty."""
    async with sf() as s:
        if await s.scalar(select(func.count()).select_from(StaffUser)):
            return []
    accounts = [("admin", "admin", None, "系统管理员"), ("supervisor", "supervisor", None, "督办员"),
                ("agent", "agent", None, "12349坐席")]
    accounts += [(f"clerk_{code}", "staff", code, f"{name}经办人")
                 for code, name in domain.departments().items()]
    created = []
    for username, role, department, display_name in accounts:
        password = secrets.token_urlsafe(12)
        try:
            await create_user(sf, username, password, role, department, display_name=display_name)
        except UserError:  # another worker seeded first
            return created
        created.append((username, role, password))
    return created
