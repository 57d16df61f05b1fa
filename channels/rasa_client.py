"""The gateway's client of the Rasa server's REST channel."""

from __future__ import annotations

import httpx


class RasaUnavailable(Exception):
    pass


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
