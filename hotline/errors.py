"""The JSON error format of the whole API: {"error": {"code", "message", ...}}."""

from __future__ import annotations

import json as jsonlib
from typing import Any

from sanic import Request, json
from sanic.exceptions import SanicException


class ApiError(SanicException):
    """An error with a stable machine-readable code. `field` names the offending input."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None,
                 **details: Any):
        super().__init__(message, status_code=status, headers=headers)
        self.code = code
        self.details = details


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "invalid", message, field=field)


def error_body(code: str, message: str, **details: Any) -> dict:
    return {"error": {"code": code, "message": message, **details}}


async def read_json(request: Request) -> dict:
    """Parse the body as a JSON object or raise a clear 400/415."""
    if not request.body:
        raise ApiError(400, "empty_body", "request body is empty; send a JSON object")
    try:
        data = jsonlib.loads(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "body must be a JSON object")
    if _has_nul(data):  # no text the platform stores may hold one (PostgreSQL refuses it)
        raise ApiError(400, "invalid_character", "the body contains a NUL character (\\u0000)")
    return data


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def register(app) -> None:
    @app.exception(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return json(error_body(exc.code, str(exc), **exc.details), status=exc.status_code,
                    headers=exc.headers)

    @app.exception(SanicException)
    async def _sanic_error(request: Request, exc: SanicException):
        code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(
            exc.status_code, "http_error"
        )
        return json(error_body(code, str(exc)), status=exc.status_code)

    @app.exception(Exception)
    async def _unexpected(request: Request, exc: Exception):
        app.ctx.log.exception("unhandled error on %s %s", request.method, request.path)
        return json(error_body("internal", "internal error; it has been logged"), status=500)
