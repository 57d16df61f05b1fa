"""Every response of the services app carries the security headers; a page's own script runs
under its nonce; HSTS only when the deployment is on HTTPS."""

import re

import httpx

from tests.services.conftest import serve, shutdown

PATHS = ("/chat", "/console/login", "/api/regions", "/healthz", "/console/queue")


async def test_every_response_carries_the_security_headers(live_app):
    async with httpx.AsyncClient(base_url=live_app.url) as c:
        for path in PATHS:
            r = await c.get(path)
            csp = r.headers.get("content-security-policy", "")
            assert "frame-ancestors 'none'" in csp and "script-src 'nonce-" in csp, path
            assert r.headers["x-content-type-options"] == "nosniff", path
            assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
            assert "strict-transport-security" not in r.headers  # plain HTTP here
        chat = await c.get("/chat")
    nonce = re.search(r"script-src 'nonce-([^']+)'", chat.headers["content-security-policy"]).group(1)
    scripts = re.findall(r"<script([^>]*)>", chat.text)
    assert scripts and all(f'nonce="{nonce}"' in s for s in scripts)


async def test_hsts_when_served_over_https(settings):
    secure, server = await serve(settings, cookie_secure=True)
    try:
        async with httpx.AsyncClient(base_url=secure.url) as c:
            r = await c.get("/api/regions")
        assert r.headers["strict-transport-security"].startswith("max-age=31536000")
    finally:
        await shutdown(server)
