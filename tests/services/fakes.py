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
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.parse_result: dict = {"intent": {"name": "ask_policy", "confidence": 0.9},
                                   "entities": []}

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append(body)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail:
            return web.Response(status=500, text="boom")
        if body["message"] == "转人工":
            return web.json_response([
                {"recipient_id": body["sender"], "text": "正在为您转接人工"},
                {"recipient_id": body["sender"],
                 "custom": {"handoff": {"reason": "request_human", "summary": "想找真人"}}}])
        return web.json_response([
            {"recipient_id": body["sender"], "text": f"收到：{body['message']}"},
            {"recipient_id": body["sender"], "custom": {"echo_metadata": body.get("metadata")}},
        ])

    async def _parse(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append(body)
        if self.fail:
            return web.Response(status=500, text="boom")
        return web.json_response({"text": body["text"], **self.parse_result})

    async def _version(self, request):
        return web.json_response({"version": "fake"})

    async def start(self) -> FakeRasa:
        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", self._webhook)
        app.router.add_get("/version", self._version)
        app.router.add_post("/model/parse", self._parse)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        await self._runner.cleanup()
