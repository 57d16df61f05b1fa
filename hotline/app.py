"""The services app factory: one Sanic app, one blueprint per package."""

from __future__ import annotations

import asyncio
import logging

import httpx
from sanic import Sanic

from channels import rasa_client
from channels import runtime as channels_runtime
from hotline import auth, errors, headers
from hotline.cache import create_redis
from hotline.db import create_engine, session_factory
from hotline.settings import Settings
from referral import workdays


def create_app(settings: Settings | None = None, name: str = "hotline") -> Sanic:
    settings = settings or Settings.from_env()
    app = Sanic(name, configure_logging=False)
    app.config.REQUEST_MAX_SIZE = settings.max_body_bytes
    # No response may be cut off before its own limit: the web chat's wait for the bot (Rasa's
    # timeout and a little) and its long poll. The webhooks' budgets are shorter (settings).
    from channels import web

    app.config.RESPONSE_TIMEOUT = max(settings.rasa_timeout_s + web.WEB_SLACK_S, web.LONG_POLL_S) + 10
    app.config.FALLBACK_ERROR_FORMAT = "json"
    # The client's address (console.auth.client_ip) as the proxies in front report it; with
    # neither set, forwarding headers are ignored (a client could write them).
    app.config.PROXIES_COUNT = settings.proxies_count
    app.config.REAL_IP_HEADER = settings.real_ip_header
    app.ctx.settings = settings
    app.ctx.log = logging.getLogger("hotline")

    @app.before_server_start
    async def _open_clients(app_, _loop=None):
        workdays.calendar()  # a bad calendar file stops the start, naming the file
        app_.ctx.engine = create_engine(settings.database_url)
        app_.ctx.sessions = session_factory(app_.ctx.engine)
        app_.ctx.redis = create_redis(settings.redis_url)
        # Reads that block on purpose (the desk's event stream, the chat's long poll) have a
        # client of their own, whose socket waits as long as they block.
        app_.ctx.redis_stream = (create_redis(settings.redis_url, blocking_s=web.LONG_POLL_S)
                                 if settings.redis_url else app_.ctx.redis)
        app_.ctx.http = httpx.AsyncClient(timeout=settings.rasa_timeout_s)
        app_.ctx.rasa_http = rasa_client.client(settings)
        app_.ctx.gateway, app_.ctx.outbound = channels_runtime.build(app_.ctx)

    @app.after_server_start
    async def _embedded_deliveries(app_, _loop=None):
        # The worker cannot share an in-process Redis substitute: the app delivers itself.
        app_.ctx.stop_deliveries = asyncio.Event()
        if settings.embedded:
            from hotline.worker import delivery_loop

            app_.ctx.deliveries = asyncio.get_running_loop().create_task(
                delivery_loop(app_.ctx, app_.ctx.stop_deliveries))

    @app.before_server_stop
    async def _stop_deliveries(app_, _loop=None):
        app_.ctx.stop_deliveries.set()
        if getattr(app_.ctx, "deliveries", None) is not None:
            await app_.ctx.deliveries

    @app.after_server_stop
    async def _close_clients(app_, _loop=None):
        await app_.ctx.outbound.drain()
        await app_.ctx.http.aclose()
        await app_.ctx.rasa_http.aclose()
        await app_.ctx.redis.aclose()
        if app_.ctx.redis_stream is not app_.ctx.redis:
            await app_.ctx.redis_stream.aclose()
        await app_.ctx.engine.dispose()

    headers.install(app, settings.cookie_secure)
    from console.auth import current_viewer

    auth.install(app, staff_viewer=current_viewer)  # who may call which route, for every package

    from channels.sms import bp as sms_bp
    from channels.voice import bp as voice_bp
    from channels.web import bp as web_bp
    from channels.wechat import bp as wechat_bp
    from console import desk as _desk  # noqa: F401 - the desk's routes, on the console blueprint
    from console import outreach as _outreach  # noqa: F401 - complaints and call-backs, likewise
    from console.views import bp as console_bp
    from hotline.health import bp as health_bp
    from referral.api import bp as referral_bp
    from rules.api import bp as rules_bp
    from rules.policy_api import bp as policy_bp

    for bp in (health_bp, web_bp, wechat_bp, sms_bp, voice_bp, referral_bp, rules_bp, policy_bp,
               console_bp):
        app.blueprint(bp)
    errors.register(app)
    return app
