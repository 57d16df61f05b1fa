"""The OpenAPI document covers every API route the app serves, and nothing it does not."""

import re

from sanic import Sanic

from hotline.app import create_app


def app_api_routes() -> set[tuple[str, str]]:
    Sanic.test_mode = True
    app = create_app(name="openapi_probe")
    app.router.finalize()
    routes = set()
    for r in app.router.routes:
        path = "/" + re.sub(r"<(\w+)(:[^>]*)?>", r"{\1}", r.path)
        if path.startswith("/console") or path == "/chat":
            continue  # HTML pages, not API
        for method in r.methods:
            if method not in ("HEAD", "OPTIONS"):
                routes.add((method.lower(), path))
    return routes


async def test_every_route_is_documented(api):
    spec = (await api.get("/api/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    documented = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    served = app_api_routes()
    assert served - documented == set(), "routes missing from hotline/openapi.yml"
    assert documented - served == set(), "documented routes the app does not serve"
