"""HTTP client of the services API, used by the actions (never blocking: aiohttp)."""

from __future__ import annotations

import os
from typing import Any, Dict, Optional

import aiohttp


class ServiceUnavailable(Exception):
    """The services API could not be reached or answered with a server error."""


class ServiceRejected(Exception):
    """The services API refused the request (4xx); `body` holds its error JSON."""

    def __init__(self, status: int, body: Dict[str, Any]):
        super().__init__(f"{status}: {body}")
        self.status, self.body = status, body


def services_url() -> str:
    return os.environ.get("SERVICES_URL", "http://127.0.0.1:8000").rstrip("/")


def _auth() -> Dict[str, str]:
    """The service token (SERVICES_API_TOKEN) the internal routes ask for, when one is set."""
    token = os.environ.get("SERVICES_API_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


async def request(
    method: str, path: str, json: Optional[dict] = None,
    headers: Optional[Dict[str, str]] = None, params: Optional[dict] = None,
    timeout_s: float = 10,
) -> Dict[str, Any]:
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as s:
            async with s.request(method, services_url() + path, json=json,
                                 headers={**_auth(), **(headers or {})}, params=params) as resp:
                body = await resp.json(content_type=None)
                if resp.status >= 500:
                    raise ServiceUnavailable(f"{resp.status} from {path}")
                if resp.status >= 400:
                    raise ServiceRejected(resp.status, body or {})
                return body
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise ServiceUnavailable(f"{type(exc).__name__}: {exc}") from exc
