"""What every channel webhook checks before it reads a provider's request."""

from __future__ import annotations

from sanic import Request

from hotline.errors import ApiError


def body_guard(request: Request, limit: int) -> None:
    """413 over `limit` bytes (providers send a few kilobytes), 400 for bytes that are not UTF-8."""
    body = request.body or b""
    if len(body) > limit:
        raise ApiError(413, "body_too_large", f"request body is over {limit} bytes")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "not_utf8", "request body is not UTF-8") from None


def need(form, name: str) -> str:
    value = (form.get(name) or "").strip()
    if not value:
        raise ApiError(400, "missing_field", f"{name} is required", field=name)
    return value
