"""POST /api/triage: Rasa's parse (a fake Rasa here) + routing + SLA suggestion."""

import pytest


async def test_program_entity_routes_to_its_department(rasa_client, rasa):
    rasa.parse_result = {"intent": {"name": "request_help", "confidence": 0.93},
                         "entities": [{"entity": "program", "value": "housing"}]}
    r = await rasa_client.post("/api/triage", json={"text": "房子漏雨想申请危房改造", "region": "341503"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["intent"], body["program"], body["department"], body["urgent"]) == (
        "request_help", "housing", "housing", False)
    assert body["confidence"] == 0.93
    assert body["suggested_sla"]["resolution"]["unit"] == "working_days"
    assert rasa.received[-1] == {"text": "房子漏雨想申请危房改造"}


async def test_the_need_read_in_a_description_routes_it(rasa_client, rasa):
    rasa.parse_result = {"intent": {"name": "request_help", "confidence": 0.7}, "entities": [],
                         "need": {"program": "education", "confidence": 0.81,
                                  "ranking": [{"program": "education", "confidence": 0.81}]}}
    body = (await rasa_client.post("/api/triage", json={"text": "闺女读大专的学费没着落"})).json()
    assert (body["program"], body["department"], body["needs_routing"]) == ("education", "education", False)
    assert body["need"]["confidence"] == 0.81


async def test_emergency_is_urgent_temporary_assistance(rasa_client, rasa):
    rasa.parse_result = {"intent": {"name": "report_emergency", "confidence": 0.8}, "entities": [],
                         "need": {"program": "temporary", "confidence": 0.9, "ranking": []}}
    body = (await rasa_client.post("/api/triage", json={"text": "家里着火了什么都没了"})).json()
    assert body["urgent"] and body["program"] == "temporary"
    assert body["department"] == "civil_affairs"
    assert body["suggested_sla"]["resolution"] == {
        "value": 30, "unit": "calendar_days", "verified": True,
        "source": body["suggested_sla"]["resolution"]["source"]}


async def test_urgent_words_override_a_calm_intent(rasa_client, rasa):
    rasa.parse_result = {"intent": {"name": "ask_policy", "confidence": 0.6},
                         "entities": [{"entity": "program", "value": "dibao"}]}
    body = (await rasa_client.post("/api/triage", json={"text": "低保停了家里没饭吃了"})).json()
    assert body["urgent"] is True and body["program"] == "dibao"


async def test_an_unsure_need_goes_to_civil_affairs_for_a_person_to_route(rasa_client, rasa):
    rasa.parse_result = {"intent": {"name": "greet", "confidence": 0.99}, "entities": [],
                         "need": {"program": None, "confidence": 0.2, "ranking": []}}
    body = (await rasa_client.post("/api/triage", json={"text": "你好"})).json()
    assert body["program"] is None and body["needs_routing"] is True
    assert body["department"] == "civil_affairs"  # 一门受理, never silently wrong


@pytest.mark.parametrize("body,field", [({}, "text"), ({"text": " "}, "text"),
                                        ({"text": "x", "region": "000000"}, "region")])
async def test_bad_input(rasa_client, body, field):
    r = await rasa_client.post("/api/triage", json=body)
    assert r.status_code == 422 and r.json()["error"]["field"] == field


async def test_bot_down_is_a_clear_503(rasa_client, rasa):
    rasa.fail = True
    try:
        r = await rasa_client.post("/api/triage", json={"text": "我要申请低保"})
    finally:
        rasa.fail = False
    assert r.status_code == 503 and r.json()["error"]["code"] == "bot_unavailable"
