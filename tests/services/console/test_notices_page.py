"""The clerk sees on the ticket page what became of each notice to the citizen, and the queue
flags a ticket whose latest notice did not reach them."""

from __future__ import annotations

from hotline.worker import deliver_once
from tests.services.console.test_pages import act


async def test_an_undelivered_notice_is_shown_on_the_ticket_and_the_queue(live_app, make_user,
                                                                           login, file_ticket):
    clerk = await login(await make_user("staff", "civil_affairs"))
    ref = await file_ticket(channel="sms")  # this app has no SMS provider configured
    await act(clerk, ref, "claim")
    ctx = live_app.app.ctx
    await deliver_once(ctx)  # what the worker does every few seconds
    await ctx.outbound.drain()
    page = (await clerk.client.get(f"/console/tickets/{ref}")).text
    assert 'id="notice-failed"' in page and 'data-notice="accepted" data-state="failed"' in page
    assert "短信渠道未开通" in page
    queue = (await clerk.client.get("/console/queue", params={"q": ref})).text
    assert "通知未送达" in queue
