"""Account administration: the admin pages, users.py rules, the demo seed and the CLI."""

import io
import re
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from console import cli, users, views
from console.models import StaffUser
from hotline.db import Base, session_factory
from tests.services.console.conftest import PASSWORD, form_login, unique


def flash(html: str) -> str:
    m = re.search(r'<div class="flash (\w+)" role="status">([^<]*)</div>', html)
    return f"{m.group(1)}:{m.group(2)}" if m else ""


async def user_id(sessions, username: str) -> int:
    async with sessions() as s:
        return await s.scalar(select(StaffUser.id).where(StaffUser.username == username))


@pytest.fixture
async def admin(make_user, login):
    return await login(await make_user("admin"))


async def test_admin_creates_a_unit_clerk_who_can_log_in(admin, login, sessions):
    username = unique("clerk")
    r = await admin.post_form("/console/users", {
        "username": username, "display_name": "平桥乡民政专干", "password": PASSWORD,
        "role": "staff", "department": "civil_affairs", "units": "平桥乡人民政府\n"})
    assert r.status_code == 302
    page = (await admin.client.get("/console/users")).text
    assert flash(page) == f"ok:已创建用户 {username}。" and "平桥乡民政专干" in page
    async with sessions() as s:
        user = await s.scalar(select(StaffUser).where(StaffUser.username == username))
    # the unit is kept as its code in the unit directory (平桥乡, 六安市裕安区)
    assert (user.role, user.department, user.units) == ("staff", "civil_affairs", ["341503204"])
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    clerk = await login(username)
    assert "平桥乡人民政府" in (await clerk.client.get("/console/queue")).text


@pytest.mark.parametrize("form, message", [
    ({"role": "staff", "department": ""}, "部门工作人员必须选择所属部门"),
    ({"role": "supervisor", "department": "medical"}, "坐席、督办人员和管理员不设部门"),
    ({"role": "root"}, "未知角色"),
    ({"password": "short"}, "密码至少 10 位"),
    ({"username": "a b"}, "用户名为 3–64 位"),
])
async def test_bad_accounts_are_refused_with_a_reason(admin, form, message):
    body = {"username": unique("u"), "password": PASSWORD, "role": "staff",
            "department": "civil_affairs"} | form
    await admin.post_form("/console/users", body)
    assert message in flash((await admin.client.get("/console/users")).text)


async def test_duplicate_usernames_are_refused(admin, make_user):
    taken = await make_user()
    await admin.post_form("/console/users", {"username": taken, "password": PASSWORD,
                                             "role": "supervisor"})
    assert flash((await admin.client.get("/console/users")).text) == f"error:用户名 {taken} 已存在"


async def test_scope_changes_apply_to_open_sessions_at_once(admin, make_user, login, file_ticket,
                                                            sessions):
    username = await make_user("staff", "civil_affairs")
    clerk = await login(username)
    ref = await file_ticket(street="苏埠镇人民政府")
    assert (await clerk.client.get(f"/console/tickets/{ref}")).status_code == 200
    uid = await user_id(sessions, username)
    r = await admin.post_form(f"/console/users/{uid}/profile", {
        "role": "staff", "department": "civil_affairs", "units": "平桥乡人民政府",
        "display_name": "改名"})
    assert r.status_code == 302
    assert (await clerk.client.get(f"/console/tickets/{ref}")).status_code == 404


async def test_password_reset_ends_sessions_and_lifts_a_lockout(admin, make_user, login, sessions):
    username = await make_user()
    clerk = await login(username)
    for i in range(5):
        await form_login(clerk.client, username, f"wrong-{i}")
    uid = await user_id(sessions, username)
    page = (await admin.client.get(f"/console/users/{uid}")).text
    assert "锁定至" in page
    await admin.post_form(f"/console/users/{uid}/password", {"password": "a-brand-new-pass"})
    assert "已重置密码" in flash((await admin.client.get(f"/console/users/{uid}")).text)
    assert (await clerk.client.get("/console/queue")).status_code == 302
    fresh = await login(username, "a-brand-new-pass")
    assert (await fresh.client.get("/console/queue")).status_code == 200


async def test_deactivation_logs_out_at_once(admin, make_user, login, sessions):
    username = await make_user()
    clerk = await login(username)
    uid = await user_id(sessions, username)
    await admin.post_form(f"/console/users/{uid}/deactivate")
    assert (await clerk.client.get("/console/queue")).status_code == 302
    assert (await clerk.client.get("/api/tickets")).status_code == 401
    assert (await form_login(clerk.client, username, PASSWORD)).status_code == 401
    await admin.post_form(f"/console/users/{uid}/activate")
    assert (await form_login(clerk.client, username, PASSWORD)).status_code == 302


async def test_admins_cannot_lock_themselves_out(admin, sessions):
    uid = await user_id(sessions, admin.username)
    await admin.post_form(f"/console/users/{uid}/deactivate")
    page = (await admin.client.get(f"/console/users/{uid}")).text
    assert flash(page) == "error:不能停用自己的账号或修改自己的角色。"
    await admin.post_form(f"/console/users/{uid}/profile", {"role": "staff",
                                                           "department": "civil_affairs"})
    assert "不能停用自己的账号" in flash((await admin.client.get(f"/console/users/{uid}")).text)
    async with sessions() as s:
        me = await s.get(StaffUser, uid)
    assert me.active and me.role == "admin"


async def test_unknown_user_page_is_404(admin):
    assert (await admin.client.get("/console/users/999999")).status_code == 404


@pytest.fixture
async def empty_db(tmp_path):
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'seed.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: Base.metadata.create_all(c, tables=[StaffUser.__table__]))
    yield session_factory(engine)
    await engine.dispose()


async def test_demo_seed_only_fills_an_empty_table(empty_db):
    created = await users.seed_demo_users(empty_db)
    names = {u for u, _, _ in created}
    assert {"admin", "supervisor", "clerk_civil_affairs", "clerk_medical"} <= names
    assert len({p for _, _, p in created}) == len(created)  # every password its own
    username, _, password = created[0]
    assert (await users.authenticate(empty_db, username, password)).username == username
    assert await users.seed_demo_users(empty_db) == []


def test_cli_creates_a_user_with_the_password_from_stdin(settings, monkeypatch, capsys):
    username = unique("cli")
    monkeypatch.setattr("sys.stdin", io.StringIO("cli-password-123\n"))
    code = cli.main([username, "--role", "staff", "--department", "education",
                     "--unit", "平桥乡人民政府", "--password-stdin"], settings=settings)
    assert code == 0 and f"created staff {username}" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli.main([unique("cli"), "--role", "admin", "--password-stdin"], settings=settings) == 2
    assert "password" in capsys.readouterr().err


async def test_demo_seed_runs_at_start_when_asked(empty_db, capsys, tmp_path):
    app = SimpleNamespace(ctx=SimpleNamespace(
        settings=SimpleNamespace(seed_demo_users=True, var_dir=tmp_path), sessions=empty_db))
    await views._seed_demo_users(app)
    printed = capsys.readouterr().err
    saved = tmp_path / "demo-users.txt"
    assert "Demo console users" in printed and str(saved) in printed
    assert saved.stat().st_mode & 0o777 == 0o600  # this account only
    rows = [line.split() for line in saved.read_text().splitlines()]
    assert "clerk_civil_affairs" in {r[0] for r in rows}
    for _, _, password in rows:
        assert password not in printed  # never on the terminal or in a log
    username, _, password = rows[0]
    assert (await users.authenticate(empty_db, username, password)).username == username
    await views._seed_demo_users(app)
    assert capsys.readouterr().err == ""  # created once only
