"""The services app factory: one Sanic app, one blueprint per package."""

from __future__ import annotations

import logging

import httpx
from sanic import Sanic

from hotline import errors
from hotline.cache import create_redis
from hotline.db import create_engine, session_factory
from hotline.settings import Settings
from referral import workdays


def create_app(settings: Settings | None = None, name: str = "hotline") -> Sanic:
    settings = settings or Settings.from_env()
    app = Sanic(name, configure_logging=False)
    app.config.REQUEST_MAX_SIZE = settings.max_body_bytes
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.ctx.settings = settings
    app.ctx.log = logging.getLogger("hotline")

    @app.before_server_start
    async def _open_clients(app_, _loop=None):
        workdays.calendar()  # a bad calendar file stops the start, naming the file
        app_.ctx.engine = create_engine(settings.database_url)
        app_.ctx.sessions = session_factory(app_.ctx.engine)
        app_.ctx.redis = create_redis(settings.redis_url)
        app_.ctx.http = httpx.AsyncClient(timeout=settings.rasa_timeout_s)

    @app.after_server_stop
    async def _close_clients(app_, _loop=None):
        await app_.ctx.http.aclose()
        await app_.ctx.redis.aclose()
        await app_.ctx.engine.dispose()

    from channels.web import bp as web_bp
    from console.views import bp as console_bp
    from hotline.health import bp as health_bp
    from referral.api import bp as referral_bp
    from rules.api import bp as rules_bp
    from rules.policy_api import bp as policy_bp

    for bp in (health_bp, web_bp, referral_bp, rules_bp, policy_bp, console_bp):
        app.blueprint(bp)
    errors.register(app)
    return app
