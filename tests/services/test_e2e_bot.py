"""End to end, the bot's conversations through POST /channels/web/messages with every real
process (`python -m hotline stack`, started once for this module): a policy answer with the
region asked once, the eligibility screen, an emergency filed as urgent, the status of a
request, and the handoff signal for crisis words and 转人工."""

from __future__ import annotations

import asyncio
import re
import uuid

import httpx
import pytest

from bench import dialogues
from referral import service
from referral.access import PermissionDenied, Viewer
from tests.services import stack_fixture
from tests.services.stack_fixture import say, turn

pytestmark = pytest.mark.e2e
stack = stack_fixture.stack  # one whole-stack start for this module
REFERENCE = re.compile(r"12349-\d{8}-\d{4}(?:-\d{3})?")


def new_sender() -> str:
    return f"e2e-bot-{uuid.uuid4().hex[:8]}"


def handoffs(replies: list[dict]) -> list[dict]:
    return [r["custom"]["handoff"] for r in replies
            if isinstance(r.get("custom"), dict) and "handoff" in r["custom"]]


@pytest.fixture
async def http(stack):
    async with httpx.AsyncClient(base_url=stack["base"], timeout=90) as client:
        yield client


async def test_policy_answer_region_asked_once_and_follow_up(http):
    sender = new_sender()
    assert "地区" in await say(http, sender, "特困供养要什么条件")
    reply = await say(http, sender, "无锡")
    assert "特困供养（条件）" in reply
    # the follow-up keeps the program and does not ask the region again
    reply = await say(http, sender, "那要带什么材料")
    assert "特困供养（材料）" in reply and "地区" not in reply
    # the region preset by the channel is never asked
    other = new_sender()
    reply = await say(http, other, "低保一个月多少钱", region="430200")
    assert "低保（标准）" in reply and "地区" not in reply


async def test_eligibility_screen_then_offer_to_file(http):
    sender, region = new_sender(), "430200"
    assert "几口人" in await say(http, sender, "我家能吃低保吗", region)
    assert "城里" in await say(http, sender, "四口人", region)
    assert "收入" in await say(http, sender, "城里", region)
    reply = await say(http, sender, "一个月一千八", region)
    assert "1800" in reply and "存款" in reply
    reply = await say(http, sender, "不对，是五口人", region)  # a correction; the question is asked again
    assert "5口人" in reply and "存款" in reply
    reply = await say(http, sender, "存款两万", region)
    assert "亲属" in reply
    reply = await say(http, sender, "有个儿子", region)
    assert "低保" in reply and "民政" in reply and "登记" in reply
    assert "称呼" in await say(http, sender, "是的", region)


async def test_emergency_filed_as_urgent_then_status(http):
    sender, region = new_sender(), "511700"
    reply = await say(http, sender, "家里着火了 东西都烧没了 一家人没地方住", region)
    assert "120" in reply and "转接人工" in reply
    assert "称呼" in await say(http, sender, "不用", region)
    assert "手机" in await say(http, sender, "刘秀兰", region)
    assert "乡镇" in await say(http, sender, "13900005678", region)
    # what happened was told with the emergency: not asked again
    reply = await say(http, sender, "不知道", region)
    assert "遇到了什么困难" not in reply, reply
    if "都帮您登记吗" in reply:  # 一门受理: more than one need read in what was told
        assert "临时救助" in reply
        reply = await say(http, sender, "是", region)
    assert "紧急" in reply
    ref = REFERENCE.search(reply).group(0)
    # the status: number and phone known from this conversation, nothing asked
    reply = await say(http, sender, "我的申请到哪一步了", region)
    assert ref in reply and "民政" in reply


async def test_a_household_asks_once_and_each_department_gets_its_referral(http, sessions):
    """一门受理 with the real bot: two needs told in one sentence, both filed as one case; each
    department's clerk sees their own referral; the lookup tells both; when both departments
    are done the citizen is told once, on the web page, with each outcome."""
    sender, region, phone = new_sender(), "341503", f"139{uuid.uuid4().int % 10**8:08d}"
    for text in ("我要求助", "王秀英", phone, "苏埠镇"):
        await say(http, sender, text, region)
    reply = await say(http, sender, "老伴住院花了好几万 孙女上学的学费也交不起了", region)
    assert "都帮您登记吗" in reply and "医疗救助" in reply and "教育救助" in reply, reply
    reply = await say(http, sender, "都要", region)
    ref = REFERENCE.search(reply).group(0)
    assert "医保" in reply and "教育" in reply, reply
    clerks = {"medical": Viewer("e2e_yibao", "staff", "medical"),
              "education": Viewer("e2e_jiaoyu", "staff", "education")}
    refs = {}
    for department, clerk in clerks.items():
        mine, _ = await service.list_tickets(sessions, clerk, q=phone[-4:])
        cases = {t["reference_no"]: await service.get_case(sessions, clerk, t["reference_no"]) for t in mine}
        (refs[department],) = [own for own, case in cases.items() if case["reference_no"] == ref]
    assert ref in refs.values() and len(set(refs.values())) == 2
    reply = await say(http, sender, "我的申请到哪一步了", region)
    assert "医疗救助" in reply and "教育救助" in reply and "等待受理" in reply, reply

    outcomes = {"medical": "已按规定救助2800元", "education": "已发放助学金1000元"}
    for department, clerk in clerks.items():
        await service.claim(sessions, clerk, refs[department])
        await service.resolve(sessions, clerk, refs[department], outcomes[department])
    told = []
    for _ in range(60):  # the stack's worker relays the notices (every 2 s)
        got = (await http.get("/channels/web/messages", params={"sender": sender})).json()
        told = [m["text"] for m in got["messages"] if all(o in m["text"] for o in outcomes.values())]
        if told:
            break
        await asyncio.sleep(1)
    assert len(told) == 1 and ref in told[0], got


async def test_a_hardship_told_before_any_request_is_offered_to_every_department_it_needs(http, sessions):
    """The way people start: the hardship first, no 我要求助. The offer names each department
    (not civil affairs alone), 好 starts the form without asking what happened again, and the
    form's last question files both needs as one case."""
    sender, region, phone = new_sender(), "341503", f"139{uuid.uuid4().int % 10**8:08d}"
    reply = await say(http, sender, "俺老伴腰椎做了手术躺了半年 家里借遍了亲戚 孙子的书本钱也没着落", region)
    assert "医保部门" in reply and "教育部门" in reply and "回复“好”" in reply, reply
    assert "称呼" in await say(http, sender, "好", region)
    assert "手机" in await say(http, sender, "王秀英", region)
    assert "乡镇" in await say(http, sender, phone, region)
    reply = await say(http, sender, "苏埠镇", region)
    assert "都帮您登记吗" in reply and "医疗救助" in reply and "教育" in reply, reply
    reply = await say(http, sender, "都要", region)
    ref = REFERENCE.search(reply).group(0)
    assert "医保" in reply and "教育" in reply, reply
    supervisor = Viewer("e2e_sup", "supervisor")
    case = await service.get_case(sessions, supervisor, ref)
    # 家里借遍了亲戚 may be read as civil affairs' need too: the operation and the schooling must be there
    assert {"education", "medical"} <= {r["department"] for r in case["referrals"]}, case


async def test_status_lookup_asks_number_then_digits(http):
    filer = new_sender()
    for text in ("我要求助", "王秀英", "13800001234", "苏埠镇"):
        await say(http, filer, text, "341503")
    ref = REFERENCE.search(await say(http, filer, "老伴住院了 交不起医药费", "341503")).group(0)

    lost = new_sender()
    assert "编号" in await say(http, lost, "我的申请办到哪了")
    assert "转人工" in await say(http, lost, "不记得了")  # no number: a person can look it up

    sender = new_sender()
    assert "编号" in await say(http, sender, "查一下进度")
    assert "后4位" in await say(http, sender, ref)
    assert "没有查到" in await say(http, sender, "0000")
    assert "后4位" in await say(http, sender, ref)
    reply = await say(http, sender, "1234")
    assert ref in reply and "医疗救助" in reply


async def test_crisis_words_hand_over_from_inside_a_form(http):
    """In the middle of the screening form (the bot waits for a household size), words of crisis
    are not an answer to it: the gateway hands the conversation to a person before the bot is
    asked, and what the citizen writes next waits for that person."""
    sender = new_sender()
    assert "几口人" in await say(http, sender, "帮我看看我能申请啥", "320200")
    body = {"sender": sender, "text": "我不想活了", "message_id": str(uuid.uuid4()),
            "metadata": {"region": "320200"}}
    r = await http.post("/channels/web/messages", json=body)
    assert r.status_code == 200 and r.json()["status"] == "pending", r.text
    text = " ".join(x.get("text", "") for x in r.json()["replies"])
    assert "110" in text and "12356" in text and "转接人工" in text
    later = await http.post("/channels/web/messages", json={
        "sender": sender, "text": "3", "message_id": str(uuid.uuid4()), "metadata": {"region": "320200"}})
    assert later.status_code == 200 and later.json()["status"] == "pending"
    assert "几口人" not in " ".join(x.get("text", "") for x in later.json()["replies"])


async def test_request_human_and_complaint_hand_over(http):
    replies = await turn(http, new_sender(), "转人工")
    assert handoffs(replies)[0]["reason"] == "request_human"
    replies = await turn(http, new_sender(), "你们工作人员态度太差了 我要投诉")
    assert handoffs(replies)[0]["reason"] == "complaint"


async def test_a_complaint_told_to_the_bot_reaches_a_supervisor_and_the_answer_the_citizen(http, sessions):
    """投诉 with the real bot: the complaint is filed (its number told), a supervisor finds it,
    a clerk cannot; the supervisor's answer reaches the citizen's web page, once."""
    from referral import complaints

    sender = new_sender()
    replies = await turn(http, sender, "街道办的人态度太差了 材料交了三次都不给办 我要投诉", "430200")
    told = "".join(r.get("text", "") for r in replies)
    number = re.search(r"TS\d{8}-\d{4}", told).group(0)
    boss = Viewer("e2e_duban", "supervisor")
    (mine,) = [c for c in await complaints.list_complaints(sessions, boss)
               if c["reference_no"] == number]
    assert "材料交了三次" in mine["what_happened"] and mine["department"] == "civil_affairs"
    with pytest.raises(PermissionDenied):  # the clerk complained about never sees it
        await complaints.list_complaints(sessions, Viewer("e2e_mz", "staff", "civil_affairs"))
    await complaints.answer(sessions, boss, number, "已约谈街道经办人，明天上午上门收取材料")
    got = {}
    for _ in range(60):  # the stack's worker hands outreach over (every 2 s)
        got = (await http.get("/channels/web/messages", params={"sender": sender})).json()
        if any("明天上午上门收取材料" in m["text"] for m in got["messages"]):
            break
        await asyncio.sleep(1)
    answers = [m["text"] for m in got["messages"] if "明天上午上门收取材料" in m["text"]]
    assert len(answers) == 1 and number in answers[0], got


# A few dialogues of the conversation suite (bench/conversations, all of them in `make bench`),
# one for each class of failure citizens met: a phone said in Chinese digits, "none" in dialect
# word order, a name said with 我姓…叫…, follow-ups in context, a hardship told without a
# program word, a digression while a form waits.
REPRESENTATIVE = [
    "幺三八 phone number said in Chinese digits, elderly woman filing for 低保",
    "积蓄没得, word order flipped",
    "我姓陈 耳东陈 叫陈玉珍, spelling out the surname",
    "株洲低保 conditions, then where, how long and what to bring",
    "株洲 dialect, child's school fees",
    "asks how much 低保 pays while the form wants a phone number",
    "citizen has lost the reference number, bot should offer a person",
]


@pytest.mark.parametrize("name", REPRESENTATIVE)
async def test_a_citizen_gets_what_they_came_for(http, sessions, name):
    (dialogue,) = dialogues.load([name])
    await dialogues.prepare(sessions)
    outcome = await dialogues.run(http, sessions, dialogue)
    assert outcome.success, (outcome.why, outcome.turns)
    assert max(outcome.reply_lengths) <= dialogues.MAX_REPLY_CHARS
