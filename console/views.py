"""Staff console pages. Lists show masked personal data only."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from sanic import Blueprint, Request

from hotline.db import utcnow
from hotline.errors import invalid
from hotline.privacy import mask_name, mask_phone
from hotline.templating import render
from referral import domain, service
from referral.workdays import CHINA
from rules.regions import regions

bp = Blueprint("console", url_prefix="/console")


@cache
def labels() -> dict:
    return yaml.safe_load(Path(__file__).with_name("labels.yml").read_text(encoding="utf-8"))


@bp.get("/queue")
async def queue(request: Request):
    department = request.args.get("department", "civil_affairs")
    departments = domain.routing()["departments"]
    if department not in departments:
        raise invalid("department", f"unknown department {department!r}")
    now = utcnow()
    rows = []
    for t in await service.department_queue(request.app.ctx.sessions, department):
        rows.append({
            "reference_no": t.reference_no, "program": t.program, "urgency": t.urgency,
            "status": t.status, "street": t.street,
            "masked_name": mask_name(t.citizen_name), "masked_phone": mask_phone(t.citizen_phone),
            "region_name": regions().get(t.region, {}).get("name", t.region),
            "resolution_due_local": t.resolution_due.astimezone(CHINA).strftime("%Y-%m-%d %H:%M"),
            "overdue": t.resolution_due < now,
        })
    return await render(request, "queue.html", tickets=rows, department_name=departments[department],
                        departments=departments, **labels())
