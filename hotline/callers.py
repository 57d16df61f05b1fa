"""Who is calling, for every package: the client's address (as the proxies in front report it,
PROXIES_COUNT / REAL_IP_HEADER, for limits and the audit log) and the internal routes' check
(ARCHITECTURE.md §4.2): `Authorization: Bearer <SERVICES_API_TOKEN>`, or with no token set
(the embedded default) callers on the loopback interface only."""

from __future__ import annotations

import hmac
import ipaddress

from sanic import Request


def client_ip(request: Request) -> str:
    return request.remote_addr or request.ip or "unknown"


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def internal_caller(request: Request) -> bool | None:
    """True for the platform's own callers; False for a wrong token (with one set); None for
    anyone else (no token set and not on the loopback interface, or no token given)."""
    token = request.app.ctx.settings.services_api_token
    if token:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return hmac.compare_digest(value.strip().encode(), token.encode())
    return True if _loopback(client_ip(request)) else None


def citizen_key(request: Request) -> str:
    """Whom a citizen-facing limit counts: the client's address, or for the platform's own
    callers the citizen they ask for (the bot's conversation, X-Hotline-Citizen), since all the
    bot's lookups come from the action server's one address."""
    citizen = request.headers.get("x-hotline-citizen", "").strip()
    if citizen and internal_caller(request):
        return "citizen:" + citizen[:128]
    return "ip:" + client_ip(request)
