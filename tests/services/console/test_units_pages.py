"""The unit directory in the console: 待分派 in the queue, placing a ticket from its page (which
hands it to the unit's clerk), and the admins' 承办单位 page."""

from __future__ import annotations

from tests.services.console.test_pages import act, flash

PINGQIAO = "341503204"
UNPLACED_TAG = '<span class="tag urgent" title="没有找到对应的乡镇/街道，请分派">待分派</span>'


async def test_an_unplaced_ticket_is_flagged_and_placed_to_the_units_clerk(make_user, login,
                                                                            file_ticket):
    office = await login(await make_user("staff", "civil_affairs"))
    street_clerk = await login(await make_user("staff", "civil_affairs", units=("平桥乡人民政府",)))
    ref = await file_ticket(street="我们村口小卖部旁边")
    queue = (await office.client.get("/console/queue", params={"unplaced": "1", "q": ref})).text
    assert f'data-reference="{ref}"' in queue and UNPLACED_TAG in queue
    assert (await street_clerk.client.get(f"/console/tickets/{ref}")).status_code == 404
    page = (await office.client.get(f"/console/tickets/{ref}")).text
    assert f'<option value="{PINGQIAO}">裕安区 平桥乡人民政府</option>' in page  # the region's units

    page = await act(office, ref, "place", unit="火星乡")
    assert flash(page).startswith("error:") and "火星乡" in page
    page = await act(office, ref, "place", unit=PINGQIAO)
    assert flash(page) == "ok:已分派至平桥乡人民政府。" and "分派至：平桥乡人民政府" in page
    assert (await street_clerk.client.get(f"/console/tickets/{ref}")).status_code == 200
    mine = (await street_clerk.client.get("/console/queue", params={"q": ref})).text
    assert f'data-reference="{ref}"' in mine and UNPLACED_TAG not in mine
    # the street clerk's header names the unit they are scoped to
    assert "裕安区平桥乡人民政府（341503204）" in mine


async def test_a_street_clerk_who_places_a_ticket_elsewhere_is_told_it_left(make_user, login,
                                                                            file_ticket):
    street_clerk = await login(await make_user("staff", "civil_affairs", units=(PINGQIAO,)))
    ref = await file_ticket(street="平桥乡")
    r = await street_clerk.post_form(f"/console/tickets/{ref}/place", {"unit": "苏埠镇"})
    assert r.status_code == 302 and r.headers["location"] == "/console/queue"
    page = (await street_clerk.client.get("/console/queue")).text
    assert f"{ref} 已分派至苏埠镇人民政府" in page


async def test_admins_edit_a_units_office_name_and_aliases(make_user, login):
    admin = await login(await make_user("admin"))
    page = (await admin.client.get("/console/units", params={"region": "341503", "q": "狮子岗"})).text
    assert 'data-code="341503206"' in page and 'value="狮子岗乡人民政府"' in page
    assert 'data-code="341503204"' not in page  # the search narrowed it
    r = await admin.post_form("/console/units/341503206", {
        "office": "狮子岗乡社会事务办", "aliases": "狮子岗老街，狮岗", "region": "341503", "q": "狮子岗"})
    assert r.status_code == 302
    page = (await admin.client.get(r.headers["location"])).text
    assert flash(page) == "ok:已保存 341503206：狮子岗乡社会事务办。"
    assert 'value="狮子岗乡社会事务办"' in page and "原名：狮子岗乡人民政府" in page
    r = await admin.post_form("/console/units/341503206", {"office": "狮子岗乡人民政府", "aliases": ""})
    page = (await admin.client.get("/console/units?region=341503&q=狮子岗")).text
    assert "原名" not in page
    clerk = await login(await make_user("staff"))
    assert (await clerk.client.get("/console/units")).status_code == 403
    r = await clerk.post_form("/console/units/341503206", {"office": "x"})
    assert r.status_code == 403


async def test_an_ambiguous_unit_for_an_account_asks_for_the_code(make_user, login):
    admin = await login(await make_user("admin"))
    r = await admin.post_form("/console/users", {
        "username": "clerk_chengnan", "password": "long-enough-pw", "role": "staff",
        "department": "civil_affairs", "units": "城南街道"})
    page = (await admin.client.get(r.headers["location"])).text
    assert flash(page).startswith("error:") and "220602005" in page and "220802006" in page
