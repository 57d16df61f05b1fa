"""Twilio, shared by the SMS and voice channels: checking a webhook's X-Twilio-Signature against
the public URL Twilio called, and the REST API (Messages) reached at TWILIO_API_BASE, so tests
run a fake Twilio on 127.0.0.1. twilio-python's own HTTP client is synchronous; the REST calls
are made with the app's async client, the signature with twilio's RequestValidator."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sanic import Request
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

from channels.webhooks import body_guard
from hotline.errors import ApiError

# Twilio error codes that mean "this number will not get it", not "try later".
OPTED_OUT = 21610  # the recipient replied STOP
PERMANENT = {21211, 21212, 21214, 21408, 21612, 21614, 21610}


def public_url(request: Request, base: str) -> str:
    """The URL Twilio called (behind a proxy the app sees another): PUBLIC_BASE_URL + path + query."""
    query = f"?{request.query_string}" if request.query_string else ""
    return f"{base}{request.path}{query}"


def form(request: Request):
    """The posted fields, empty ones kept: Twilio signs them too (an SMS with no Body)."""
    return request.get_form(keep_blank_values=True) or {}


def checked_form(request: Request, settings, enabled: bool):
    """The posted fields of a genuine Twilio request: 404 while the channel is off, 413 / 400 for
    a body too large or not UTF-8, 403 for a wrong signature."""
    if not enabled:
        raise ApiError(404, "not_found", "this Twilio channel is not configured")
    body_guard(request, settings.max_body_bytes)
    verify(request, settings)
    return form(request)


def verify(request: Request, settings) -> None:
    """403 unless X-Twilio-Signature is Twilio's signature of this request with our auth token;
    a request for another Twilio account is refused too."""
    signature = request.headers.get(SIGNATURE_HEADER, "")
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
    validator = RequestValidator(settings.twilio_auth_token)
    if not signature or not validator.validate(public_url(request, settings.public_base_url),
                                               form(request), signature, algorithm):
        raise ApiError(403, "bad_signature", "X-Twilio-Signature does not match this request")
    account = form(request).get("AccountSid")
    if account and account != settings.twilio_account_sid:
        raise ApiError(403, "wrong_account", "this request is for another Twilio account")


@dataclass(frozen=True)
class Sent:
    ok: bool
    sid: str | None = None
    retry: bool = False  # a passing fault: try again later
    code: int | None = None
    detail: str = ""


class TwilioApi:
    def __init__(self, http: httpx.AsyncClient, settings):
        self.http, self.settings = http, settings

    async def send_sms(self, to: str, body: str, status_callback: str | None = None) -> Sent:
        s = self.settings
        data = {"To": to, "From": s.twilio_sms_from, "Body": body}
        if status_callback:
            data["StatusCallback"] = status_callback
        url = f"{s.twilio_api_base}/2010-04-01/Accounts/{s.twilio_account_sid}/Messages.json"
        try:
            resp = await self.http.post(url, data=data, auth=(s.twilio_account_sid, s.twilio_auth_token),
                                        timeout=10)
        except httpx.HTTPError as exc:
            return Sent(False, retry=True, detail=f"Twilio unreachable: {type(exc).__name__}")
        try:
            body_json = resp.json()
        except ValueError:
            body_json = {}
        if resp.status_code in (200, 201):
            return Sent(True, sid=body_json.get("sid"), detail=body_json.get("status") or "queued")
        code = body_json.get("code")
        detail = f"Twilio {resp.status_code} {code or ''} {body_json.get('message') or ''}".strip()
        transient = resp.status_code >= 500 or resp.status_code == 429
        return Sent(False, retry=transient and code not in PERMANENT, code=code, detail=detail[:300])
