"""Jinja2 environment for the server-rendered pages (chat page, staff console)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from sanic import HTTPResponse, Request, html

ROOT = Path(__file__).resolve().parent.parent


@cache
def environment() -> Environment:
    loader = ChoiceLoader([FileSystemLoader(str(ROOT / pkg / "templates"))
                           for pkg in ("console", "channels")])
    return Environment(loader=loader, autoescape=select_autoescape(), enable_async=True)


async def render(request: Request, name: str, status: int = 200, **context) -> HTTPResponse:
    body = await environment().get_template(name).render_async(request=request, **context)
    return html(body, status=status)
