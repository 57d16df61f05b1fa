"""Fake peers served on 127.0.0.1 for tests: they record what they were sent."""

from __future__ import annotations

import asyncio

from aiohttp import web


class FakeRasa:
    """Answers the REST channel like Rasa does; can be told to fail or to be slow."""

    def __init__(self):
        self.received: list[dict] = []
        self.fail = False
        self.delay_s = 0.0
        self.reply_text: str | None = None  # answer every message with this
        self.silent = False  # answer with nothing, as Rasa does when an action fails
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.parse_result: dict = {"intent": {"name": "ask_policy", "confidence": 0.9},
                                   "entities": []}
        self.parse_for = None  # text -> parse result, when the answer depends on the text

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append(body)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail:
            return web.Response(status=500, text="boom")
        if self.silent:
            return web.json_response([])
        if body["message"] == "转人工":
            return web.json_response([
                {"recipient_id": body["sender"], "text": "正在为您转接人工"},
                {"recipient_id": body["sender"],
                 "custom": {"handoff": {"reason": "request_human", "summary": "想找真人"}}}])
        if body["message"].startswith("我要投诉"):  # the bot's `complain`: told, then handed over
            return web.json_response([
                {"recipient_id": body["sender"], "text": "很抱歉给您添麻烦了，正在为您转接工作人员"},
                {"recipient_id": body["sender"],
                 "custom": {"handoff": {"reason": "complaint", "summary": f"投诉：{body['message']}"}}}])
        if self.reply_text:
            return web.json_response([{"recipient_id": body["sender"], "text": self.reply_text}])
        return web.json_response([
            {"recipient_id": body["sender"], "text": f"收到：{body['message']}"},
            {"recipient_id": body["sender"], "custom": {"echo_metadata": body.get("metadata")}},
        ])

    async def _parse(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append(body)
        if self.fail:
            return web.Response(status=500, text="boom")
        result = self.parse_for(body["text"]) if self.parse_for else self.parse_result
        return web.json_response({"text": body["text"], **result})

    async def _version(self, request):
        return web.json_response({"version": "fake"})

    async def start(self, port: int = 0) -> FakeRasa:
        """On a free port, or again on `port` (a restarted Rasa)."""
        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", self._webhook)
        app.router.add_get("/version", self._version)
        app.router.add_post("/model/parse", self._parse)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port, reuse_address=True)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        await self._runner.cleanup()


class _FakeServer:
    """An aiohttp app on a free port of 127.0.0.1."""

    def __init__(self):
        self._runner: web.AppRunner | None = None
        self.url = ""

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def start(self):
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        return self

    async def stop(self) -> None:
        await self._runner.cleanup()


class FakeWeChat(_FakeServer):
    """The official-account API: stable_token, customer-service and subscription messages.
    `script` holds errcodes to answer the next sends with (0 = ok); `invalid` tokens get 40001."""

    def __init__(self):
        super().__init__()
        self.sent: list[dict] = []  # customer-service messages, as sent
        self.notices: list[dict] = []  # subscription notices
        self.token_calls: list[dict] = []
        self.script: list[int] = []
        self.invalid: set[str] = set()
        self.down = False
        self.delay_s = 0.0  # before answering a send (a slow provider)
        self._n = 0

    def routes(self, app):
        app.router.add_post("/cgi-bin/stable_token", self._token)
        app.router.add_post("/cgi-bin/message/custom/send", self._send)
        app.router.add_post("/cgi-bin/message/subscribe/bizsend", self._notice)

    async def _token(self, request):
        body = await request.json()
        self.token_calls.append(body)
        self._n += 1
        return web.json_response({"access_token": f"tok-{self._n}", "expires_in": 7200})

    def _answer(self, request, record: list, body: dict):
        if self.down:
            return web.Response(status=502, text="bad gateway")
        token = request.query.get("access_token", "")
        if token in self.invalid:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        code = self.script.pop(0) if self.script else 0
        if code == 0:
            record.append({**body, "access_token": token})
        return web.json_response({"errcode": code, "errmsg": "ok" if code == 0 else "scripted"})

    async def _send(self, request):
        body = await request.json()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return self._answer(request, self.sent, body)

    async def _notice(self, request):
        return self._answer(request, self.notices, await request.json())


class FakeTwilio(_FakeServer):
    """Twilio's Messages API. `script`: (status, code) to answer the next sends with."""

    def __init__(self, account_sid: str, auth_token: str):
        super().__init__()
        self.account_sid, self.auth_token = account_sid, auth_token
        self.sent: list[dict] = []
        self.script: list[tuple[int, int | None]] = []
        self.delay_s = 0.0  # before answering a send (a slow provider)
        self._n = 0

    def routes(self, app):
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._messages)

    async def _messages(self, request):
        import base64

        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("Authorization") != expected or request.match_info["sid"] != self.account_sid:
            return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
        form = dict(await request.post())
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        status, code = self.script.pop(0) if self.script else (201, None)
        if status >= 300:
            return web.json_response({"code": code, "message": "scripted failure", "status": status},
                                     status=status)
        self._n += 1
        sid = f"SM{self._n:032d}"
        self.sent.append({**form, "sid": sid})
        return web.json_response({"sid": sid, "status": "queued"}, status=201)
