"""The gateway's client of the Rasa server's REST channel."""

from __future__ import annotations

import httpx


class RasaUnavailable(Exception):
    pass


def client(settings) -> httpx.AsyncClient:
    """The one HTTP client for Rasa's API and REST channel: it carries Rasa's token
    (RASA_AUTH_TOKEN, `?token=` as Rasa's token auth reads it) on every request, and only there."""
    token = settings.rasa_token
    return httpx.AsyncClient(timeout=settings.rasa_timeout_s, params={"token": token} if token else None)


async def send_to_rasa(
    http: httpx.AsyncClient, rasa_url: str, sender: str, text: str, metadata: dict, timeout: float
) -> list[dict]:
    """One citizen turn; returns Rasa's replies ({"text"} / {"custom"} / {"buttons"} ...)."""
    try:
        resp = await http.post(
            f"{rasa_url}/webhooks/rest/webhook",
            json={"sender": sender, "message": text, "metadata": metadata},
            timeout=timeout,
        )
        resp.raise_for_status()
        replies = resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise RasaUnavailable(f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(replies, list):
        raise RasaUnavailable("unexpected reply from Rasa")
    return [{k: v for k, v in r.items() if k != "recipient_id"} for r in replies]


async def tracker_slots(http: httpx.AsyncClient, rasa_url: str, sender: str, timeout: float = 3) -> dict:
    """What the bot remembers of a conversation (its slots), for the agent who takes it over;
    {} when Rasa cannot say."""
    try:
        resp = await http.get(f"{rasa_url}/conversations/{sender}/tracker",
                              params={"include_events": "NONE"}, timeout=timeout)
        resp.raise_for_status()
        slots = resp.json().get("slots") or {}
    except (httpx.HTTPError, ValueError):
        return {}
    return {k: v for k, v in slots.items() if isinstance(v, str | int | float) and v != ""}
