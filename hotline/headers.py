"""Security headers on every response of the services app (console pages, the chat page, the
JSON API, the webhooks): a per-request script nonce for the pages' own scripts, no framing, no
MIME sniffing, nothing cached (pages and answers carry personal data), and HSTS when the
deployment is on HTTPS (COOKIE_SECURE)."""

from __future__ import annotations

import secrets

from sanic import HTTPResponse, Request, Sanic

HSTS = "max-age=31536000; includeSubDomains"


def install(app: Sanic, secure: bool) -> None:
    @app.on_request
    async def _nonce(request: Request):
        request.ctx.csp_nonce = secrets.token_urlsafe(16)

    @app.on_response
    async def _headers(request: Request, response: HTTPResponse):
        nonce = getattr(request.ctx, "csp_nonce", "")
        headers = response.headers
        headers.setdefault(
            "Content-Security-Policy",
            f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Cache-Control", "no-store")
        if secure:
            headers.setdefault("Strict-Transport-Security", HSTS)
