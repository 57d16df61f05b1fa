"""Faults on more than one process, against the real PostgreSQL and Redis: two app processes
(replicas behind a load balancer) and two workers; citizens keep writing on the web chat, SMS
and WeChat (signed and encrypted with the providers' own libraries) while Rasa goes down, the
database and Redis restart and a worker is killed. Afterwards every message is stored once and
has exactly one answer, which reached the citizen exactly once; no ticket is doubled; every
notice is sent once; SLA events and escalations are recorded once."""

from __future__ import annotations

import asyncio
import os
import random
import re
import uuid
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from sqlalchemy import func, select, update

from channels.models import Conversation, Message
from hotline.db import utcnow
from referral import service
from referral.access import Viewer
from referral.models import OutboxMessage, SlaEvent, Ticket
from tests.services.channels.conftest import (
    TWILIO_SID,
    TWILIO_TOKEN,
    provider_env,
    read_reply,
    sms,
    twilio_signed,
    wechat_request,
    wechat_text,
)
from tests.services.conftest import free_port
from tests.services.fakes import FakeRasa, FakeTwilio, FakeWeChat
from tests.services.faults import Process, Proxy, processes

pytestmark = pytest.mark.e2e
CITIZENS_PER_CHANNEL = 4
MESSAGES_EACH = 4
FAULT_REDIS_DB = 12
CLERK = Viewer("fault_clerk", "staff", "civil_affairs")


def _via(url: str, port: int, path: str | None = None) -> str:
    p = urlsplit(url.replace("+asyncpg", ""))
    netloc = f"{p.username + '@' if p.username else ''}127.0.0.1:{port}"
    return urlunsplit((p.scheme, netloc, path if path is not None else p.path, "", ""))


@pytest.fixture(scope="module")
async def world(settings, tmp_path_factory):
    if not settings.uses_real_servers or not settings.redis_url:
        pytest.skip("the fault tests need the real PostgreSQL and Redis (DATABASE_URL, REDIS_URL)")
    db = await Proxy(urlsplit(settings.database_url.replace("+asyncpg", "")).port or 5432).start()
    redis = await Proxy(urlsplit(settings.redis_url).port or 6379).start()
    rasa, wechat = await FakeRasa().start(), await FakeWeChat().start()
    twilio = await FakeTwilio(TWILIO_SID, TWILIO_TOKEN).start()
    from hotline.cache import create_redis

    direct = create_redis(_via(settings.redis_url, urlsplit(settings.redis_url).port or 6379,
                               f"/{FAULT_REDIS_DB}"))
    await direct.flushdb()
    env = {"DATABASE_URL": _via(settings.database_url, db.port),
           "REDIS_URL": _via(settings.redis_url, redis.port, f"/{FAULT_REDIS_DB}"),
           "RASA_URL": rasa.url, "RASA_TIMEOUT_S": "3", "HOTLINE_VAR_DIR": str(settings.var_dir),
           "LOG_LEVEL": "WARNING", "WORKER_INTERVAL_S": "1", "DELIVERY_INTERVAL_S": "0.5",
           **provider_env(wechat.url, twilio.url),
           "WECHAT_PASSIVE_BUDGET_S": "1.5", "TWILIO_BUDGET_S": "2"}
    env = {**{k: v for k, v in os.environ.items() if k not in ("SERVICES_API_TOKEN",)}, **env}
    logs = tmp_path_factory.mktemp("faults")
    apps = [Process("serve", env, logs, f"app{i}", port=free_port()) for i in (1, 2)]
    workers = [Process("worker", env, logs, f"worker{i}") for i in (1, 2)]
    async with processes(*apps, *workers):
        yield {"apps": apps, "workers": workers, "db": db, "redis": redis, "rasa": rasa,
               "wechat": wechat, "twilio": twilio, "direct_redis": direct}
    await direct.aclose()
    for fake in (rasa, wechat, twilio):
        await fake.stop()
    await db.stop()
    await redis.stop()


class Citizen:
    """One citizen on one channel; `write` is a provider (or a page) delivering one message:
    it retries the same message, on either replica, until one answers 2xx."""

    def __init__(self, channel: str, n: int):
        self.channel, self.n = channel, n
        self.contact = {"web": f"fault-web-{uuid.uuid4().hex[:8]}",
                        "sms": f"+86139{uuid.uuid4().int % 10**8:08d}",
                        "wechat": f"o-fault-{uuid.uuid4().hex[:10]}"}[channel]
        self.sent: list[tuple[str, str]] = []  # (external id, text)
        self.passive: list[str] = []  # texts given back in the successful responses
        self.tries = 0

    async def write(self, http: httpx.AsyncClient, apps, text: str) -> None:
        ext = {"web": str(uuid.uuid4()), "sms": f"SM{uuid.uuid4().hex}",
               "wechat": str(uuid.uuid4().int % 10**18)}[self.channel]
        self.sent.append((ext, text))
        for attempt in range(120):
            app = apps[(self.n + attempt) % len(apps)]
            self.tries += 1
            try:
                texts = await self._post(http, app.url, ext, text)
            except (httpx.HTTPError, _Refused):
                await asyncio.sleep(0.5)
                continue
            self.passive.extend(texts)
            return
        raise AssertionError(f"{self.channel} message {text!r} never accepted")

    async def _post(self, http, base: str, ext: str, text: str) -> list[str]:
        if self.channel == "web":
            r = await http.post(f"{base}/channels/web/messages", json={
                "sender": self.contact, "text": text, "message_id": ext}, timeout=15)
            if r.status_code != 200:  # 503: the page shows the notice and sends it again
                raise _Refused(r.status_code)
            return [m.get("text", "") for m in r.json()["replies"]]
        if self.channel == "sms":
            params = sms(text, from_=self.contact, sid=ext)
            r = await http.post(f"{base}/channels/sms/twilio", data=params,
                                headers=twilio_signed("/channels/sms/twilio", params), timeout=15)
            if r.status_code != 200:
                raise _Refused(r.status_code)
            return re.findall(r"<Message>(.*?)</Message>", r.text, re.S)
        query, body = wechat_request(wechat_text(self.contact, text, msg_id=ext))
        r = await http.post(f"{base}/channels/wechat?{query}", content=body,
                            headers={"Content-Type": "text/xml"}, timeout=6)
        if r.status_code != 200:
            raise _Refused(r.status_code)
        if r.text in ("", "success"):
            return []
        reply = read_reply(r.text)
        return [reply.get("Content") or ""]


class _Refused(Exception):
    pass


async def _faults(world) -> list[str]:
    """Rasa down, PostgreSQL and Redis restarted, a worker killed: while citizens write."""
    done = []
    await asyncio.sleep(1.5)
    await world["rasa"].stop()
    await asyncio.sleep(3)
    await world["rasa"].start(port=int(world["rasa"].url.rsplit(":", 1)[1]))
    done.append("rasa down 3 s")
    await asyncio.sleep(1)
    await world["db"].restart(3)
    done.append("postgresql restarted (3 s)")
    await asyncio.sleep(1)
    await world["redis"].restart(3)
    done.append("redis restarted (3 s)")
    await asyncio.sleep(1)
    # What an orchestrator does (docker stop, a Kubernetes rollout): SIGTERM, and the worker
    # finishes what it is sending. A SIGKILL between a provider's "accepted" and the record of it
    # may repeat that one message (the providers take no idempotency key): see channels/outbound.
    await world["workers"][0].stop()
    await asyncio.sleep(2)
    await world["workers"][0].start()
    done.append("worker stopped and restarted")
    return done


async def _quiet(sessions, seconds: float = 150) -> None:
    """Until nothing waits: every message answered, every outbound message final."""
    for _ in range(int(seconds * 2)):
        async with sessions() as s:
            waiting = await s.scalar(select(func.count()).select_from(Message).where(
                Message.state.in_(("received", "ready", "queued", "sending"))))
            pending = await s.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.status.in_(("pending", "handed"))))
        if not waiting and not pending:
            return
        await asyncio.sleep(0.5)
    async with sessions() as s:
        stuck = [(m.id, m.direction, m.state, m.attempts, m.next_attempt_at, m.lease_until, m.detail)
                 for m in await s.scalars(select(Message).where(
                     Message.state.in_(("received", "ready", "queued", "sending"))))]
    raise AssertionError(f"still waiting after {seconds} s: {waiting} messages, {pending} notices: "
                         f"{stuck}")


async def test_nothing_lost_nothing_doubled_through_faults(world, sessions):
    apps = world["apps"]
    citizens = [Citizen(ch, i) for ch in ("web", "sms", "wechat") for i in range(CITIZENS_PER_CHANNEL)]
    refs: dict[str, str] = {}

    async def citizen_writes(c: Citizen, http):
        for k in range(MESSAGES_EACH):
            await c.write(http, apps, f"第{k + 1}句 {c.contact[-4:]}")
            await asyncio.sleep(random.uniform(0.3, 1.2))

    async def file_tickets(http):
        """The action server filing help requests through the internal API, retrying on error
        with the same Idempotency-Key."""
        for k in range(6):
            key = f"fault-{uuid.uuid4().hex}"
            body = {"program": "dibao", "region": "341503", "channel": "sms",
                    "citizen": {"name": "王秀英", "phone": f"+86138{k:08d}"},
                    "description": f"故障期间的求助 {k}"}
            for attempt in range(120):
                try:
                    r = await http.post(f"{apps[attempt % 2].url}/api/referrals", json=body,
                                        headers={"Idempotency-Key": key}, timeout=15)
                    if r.status_code in (200, 201):
                        refs[key] = r.json()["reference_no"]
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.5)
            await asyncio.sleep(0.8)

    async with httpx.AsyncClient() as http:
        faults, *_ = await asyncio.gather(_faults(world),
                                          *(citizen_writes(c, http) for c in citizens),
                                          file_tickets(http))
        assert len(faults) == 4
        # notices: the clerk takes each ticket; both workers relay and deliver
        for ref in refs.values():
            await service.claim(sessions, CLERK, ref)
        # SLA: half the tickets past their first-response deadline, both workers sweeping
        async with sessions() as s, s.begin():
            late = list(refs.values())[:3]
            await s.execute(update(Ticket).where(Ticket.reference_no.in_(late)).values(
                first_responded_at=None, first_response_due=utcnow() - timedelta(minutes=5),
                first_response_warn_at=utcnow() - timedelta(minutes=10)))
        await asyncio.sleep(4)  # several sweeps of both workers
        await _quiet(sessions)

    problems = []
    async with sessions() as s:
        for c in citizens:
            conv = await s.scalar(select(Conversation).where(Conversation.channel == c.channel,
                                                             Conversation.contact_id == c.contact))
            rows = list(await s.scalars(select(Message).where(Message.conversation_id == conv.id)
                                        .order_by(Message.id)))
            for ext, text in c.sent:
                inbound = [m for m in rows if m.direction == "in" and m.external_id == ext]
                if len(inbound) != 1:
                    problems.append(f"{c.channel} {text}: stored {len(inbound)} times")
                    continue
                answers = [m for m in rows if m.reply_to_id == inbound[0].id and m.author == "bot"
                           and m.text == f"收到：{text}"]
                if inbound[0].state != "answered" or len(answers) != 1:
                    problems.append(f"{c.channel} {text}: {inbound[0].state}, {len(answers)} answers")
                    continue
                reached = c.passive.count(f"收到：{text}") + _sent_to(world, c, f"收到：{text}")
                if c.channel == "web":
                    reached += int(answers[0].state in ("sent", "delivered"))
                if reached != 1:
                    a = answers[0]
                    problems.append(f"{c.channel} {text}: reached the citizen {reached} times "
                                    f"({a.state}, {a.attempts} attempts, "
                                    f"{(a.payload or {}).get('path')})")
            said = [m.text for m in rows if m.direction == "in"]
            if said != [t for _, t in c.sent]:
                problems.append(f"{c.channel} {c.contact}: out of order or extra: {said}")
        tickets = list(await s.scalars(select(Ticket).where(Ticket.reference_no.in_(refs.values()))))
        assert len(tickets) == len(refs) == 6, "every help request filed exactly once"
        dupes = await s.scalar(select(func.count()).select_from(Ticket).where(
            Ticket.description.like("故障期间的求助%")))
        assert dupes == 6
        for t in tickets:
            sent = [m for m in world["twilio"].sent if m["To"] == t.citizen_phone]
            if len(sent) != 1:
                problems.append(f"{t.reference_no}: accepted notice sent {len(sent)} times")
        late_ids = [t.id for t in tickets if t.reference_no in late]
        events = list(await s.execute(select(SlaEvent.ticket_id, SlaEvent.kind, func.count())
                                      .where(SlaEvent.ticket_id.in_(late_ids))
                                      .group_by(SlaEvent.ticket_id, SlaEvent.kind)))
        for ticket_id, kind, n in events:
            if n != 1:
                problems.append(f"ticket {ticket_id}: {kind} recorded {n} times")
        for t in tickets:
            if t.id in late_ids and (t.escalation_level, t.priority) != (1, 1):
                problems.append(f"{t.reference_no}: escalation {t.escalation_level}, "
                                f"priority {t.priority}")
    assert not problems, "\n".join(problems)
    assert sum(c.tries for c in citizens) > len(citizens) * MESSAGES_EACH  # the faults were felt


def _sent_to(world, c: Citizen, text: str) -> int:
    if c.channel == "sms":
        return sum(1 for m in world["twilio"].sent if m["To"] == c.contact and m["Body"] == text)
    if c.channel == "wechat":
        return sum(1 for m in world["wechat"].sent if m.get("touser") == c.contact
                   and m.get("text", {}).get("content") == text)
    return 0
