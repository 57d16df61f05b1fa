"""The role matrix through the console pages and the /api/tickets API: a clerk sees only their
department (and units), supervisors see all, only admins manage users. A ticket one may not
see answers exactly like a ticket that does not exist."""

import uuid

import httpx
import pytest
from sqlalchemy import select

from referral.models import AuditEntry, Ticket
from tests.services.console.conftest import logged_in, new_ticket, new_user

UNIT_A, UNIT_B = "平桥乡人民政府", "苏埠镇人民政府"


@pytest.fixture(scope="module")
async def world(live_app, sessions):
    """Three tickets (civil affairs in two 乡镇, one medical) and five logged-in accounts,
    shared by this module's tests (none of them changes a ticket)."""
    marker = uuid.uuid4().hex[:12]  # lets a search pick out these tickets in a shared database
    async with httpx.AsyncClient(base_url=live_app.url, timeout=30) as api:
        tickets = {
            "ca_a": await new_ticket(api, "dibao", "341503", UNIT_A, description=f"家中困难 {marker}"),
            "ca_b": await new_ticket(api, "tekun", "341503", UNIT_B, description=f"无人照料 {marker}"),
            "med": await new_ticket(api, "medical", "341503", description=f"住院费用 {marker}"),
        }
    accounts = {
        "clerk_ca": ("staff", "civil_affairs", ()),
        "clerk_unit_a": ("staff", "civil_affairs", (UNIT_A,)),
        "clerk_med": ("staff", "medical", ()),
        "supervisor": ("supervisor", None, ()),
        "admin": ("admin", None, ()),
    }
    people = {who: await logged_in(live_app.url, await new_user(sessions, *spec))
              for who, spec in accounts.items()}
    yield tickets, people, marker
    for staff in people.values():
        await staff.client.aclose()


MATRIX = {  # who sees which ticket
    "clerk_ca": {"ca_a", "ca_b"},
    "clerk_unit_a": {"ca_a"},
    "clerk_med": {"med"},
    "supervisor": {"ca_a", "ca_b", "med"},
    "admin": set(),  # accounts, not citizens' data
}


async def test_tickets_are_routed_as_the_matrix_assumes(world, sessions):
    tickets, _, _ = world
    async with sessions() as s:
        rows = {t.reference_no: t for t in await s.scalars(
            select(Ticket).where(Ticket.reference_no.in_(tickets.values())))}
    assert (rows[tickets["ca_a"]].department, rows[tickets["ca_a"]].handling_unit) == \
        ("civil_affairs", UNIT_A)
    assert rows[tickets["ca_b"]].handling_unit == UNIT_B
    assert rows[tickets["med"]].department == "medical"


@pytest.mark.parametrize("who", list(MATRIX))
async def test_queue_page_lists_only_visible_tickets(world, who):
    tickets, people, marker = world
    staff = people[who]
    page = await staff.client.get("/console/queue", params={"status": "all", "q": marker})
    if who == "admin":
        assert page.status_code == 302 and page.headers["location"] == "/console/users"
        return
    assert page.status_code == 200
    listed = {name for name, ref in tickets.items() if f'data-reference="{ref}"' in page.text}
    assert listed == MATRIX[who]
    for name, ref in tickets.items():  # search cannot find a hidden ticket either
        found = await staff.client.get("/console/queue", params={"q": ref, "status": "all"})
        assert (f'data-reference="{ref}"' in found.text) == (name in MATRIX[who]), (who, name)


@pytest.mark.parametrize("who", list(MATRIX))
async def test_detail_page_is_404_outside_the_viewers_scope(world, who):
    tickets, people, marker = world
    unknown = await people[who].client.get("/console/tickets/12349-20000101-9999")
    if who == "admin":  # accounts, not tickets: no ticket page opens at all
        assert unknown.status_code == 403
        for ref in tickets.values():
            r = await people[who].client.get(f"/console/tickets/{ref}")
            assert r.status_code == 403 and ref not in r.text and "王秀英" not in r.text
        return
    assert unknown.status_code == 404
    for name, ref in tickets.items():
        r = await people[who].client.get(f"/console/tickets/{ref}")
        if name in MATRIX[who]:
            assert r.status_code == 200 and "王秀英" in r.text and "13800001234" in r.text
        else:
            assert r.status_code == 404 and ref not in r.text and "王秀英" not in r.text
            assert r.text == unknown.text.replace("12349-20000101-9999", ref)


@pytest.mark.parametrize("who", list(MATRIX))
async def test_api_lists_and_opens_only_visible_tickets(world, who):
    tickets, people, marker = world
    c = people[who].client
    r = await c.get("/api/tickets", params={"status": "all", "q": marker})
    if who == "admin":
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        return
    assert r.status_code == 200
    listed = {t["reference_no"] for t in r.json()["tickets"]}
    assert {n for n, ref in tickets.items() if ref in listed} == MATRIX[who]
    unknown = await c.get("/api/tickets/12349-20000101-9999")
    for name, ref in tickets.items():
        r = await c.get(f"/api/tickets/{ref}")
        if name in MATRIX[who]:
            assert r.status_code == 200 and r.json()["citizen_phone"] == "13800001234"
        else:
            assert r.status_code == 404 and r.json() == unknown.json()


async def test_hidden_tickets_cannot_be_changed_either(world):
    tickets, people, marker = world
    med = people["clerk_med"]
    page = await med.post_form(f"/console/tickets/{tickets['ca_a']}/note", {"text": "越权备注"})
    assert page.status_code == 404
    api = await med.api_post(f"/api/tickets/{tickets['ca_a']}/notes", {"text": "越权备注"})
    assert api.status_code == 404
    unit_a = people["clerk_unit_a"]
    assert (await unit_a.post_form(f"/console/tickets/{tickets['ca_b']}/claim")).status_code == 404
    supervisor = await people["supervisor"].client.get(f"/console/tickets/{tickets['ca_a']}")
    assert "越权备注" not in supervisor.text


async def test_queue_lists_mask_personal_data(world):
    tickets, people, marker = world
    page = await people["supervisor"].client.get("/console/queue", params={"q": marker})
    assert "王**" in page.text and "138****1234" in page.text
    assert "王秀英" not in page.text and "13800001234" not in page.text


async def test_only_admins_manage_users(world):
    _, people, _ = world
    for who in ("clerk_ca", "supervisor"):
        c = people[who]
        assert (await c.client.get("/console/users")).status_code == 403
        r = await c.post_form("/console/users", {"username": "sneaky_admin", "password": "x" * 12,
                                                 "role": "admin"})
        assert r.status_code == 403
        assert "用户管理" not in (await c.client.get("/console/queue")).text
    admin = people["admin"]
    assert (await admin.client.get("/console/users")).status_code == 200
    assert "用户管理" in (await admin.client.get("/console/users")).text


async def test_dashboard_shows_staff_their_department_and_supervisors_all(world):
    _, people, _ = world
    clerk = await people["clerk_med"].client.get("/console/dashboard")
    assert clerk.status_code == 200
    assert 'data-department="medical"' in clerk.text
    assert 'data-department="civil_affairs"' not in clerk.text
    sup = await people["supervisor"].client.get("/console/dashboard")
    assert 'data-department="medical"' in sup.text and 'data-department="civil_affairs"' in sup.text
    assert "<svg" in sup.text and "<rect" in sup.text


async def test_each_view_of_personal_data_is_audited(world, sessions):
    tickets, people, marker = world
    clerk = people["clerk_ca"]
    async with sessions() as s:
        ticket_id = await s.scalar(select(Ticket.id).where(Ticket.reference_no == tickets["ca_a"]))

    async def views():
        async with sessions() as s:
            return list(await s.scalars(select(AuditEntry).where(
                AuditEntry.ticket_id == ticket_id, AuditEntry.action == "view").order_by(AuditEntry.id)))

    before = len(await views())
    await clerk.client.get(f"/console/tickets/{tickets['ca_a']}")
    await clerk.client.get(f"/console/tickets/{tickets['ca_a']}")
    await people["clerk_med"].client.get(f"/console/tickets/{tickets['ca_a']}")  # refused: no view
    entries = await views()
    assert len(entries) == before + 2
    assert {e.actor for e in entries[-2:]} == {f"staff:{clerk.username}"}
    assert entries[-1].ip == "127.0.0.1"
    # list pages show masked data only and are not audited as views
    await clerk.client.get("/console/queue")
    assert len(await views()) == before + 2
