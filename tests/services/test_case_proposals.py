"""一门受理: the referrals a description (every need read in its clauses) and a screen (every
program likely or possible) propose: referral/needs.py and POST /api/cases/proposals (a fake
Rasa whose classifier answers by the words of each piece it is sent)."""

import pytest

from referral import needs

NEEDS = {"住院": ("medical", 0.92), "学费": ("education", 0.88), "房子": ("housing", 0.45),
         "打零工": ("employment", 0.55)}  # not cue words (referral/needs_cues.yml), but 住院 and 学费 are


def need_of(text: str) -> dict:
    hits = [(p, c) for word, (p, c) in NEEDS.items() if word in text]
    if len(hits) != 1:  # the whole story: the classifier sees several and is less sure
        return {"program": hits[0][0] if hits else None, "confidence": 0.45}
    return {"program": hits[0][0], "confidence": hits[0][1]}


@pytest.fixture
def classifier(rasa):
    rasa.parse_for = lambda text: {"intent": {"name": "request_help", "confidence": 0.9},
                                   "entities": [], "need": need_of(text)}
    yield rasa
    rasa.parse_for = None


def test_a_description_is_cut_at_punctuation_and_at_the_words_that_join_two_hardships():
    assert needs.clauses("老伴住院花了好几万，孙子上学的学费也交不起了") == [
        "老伴住院花了好几万", "孙子上学的学费也交不起了"]
    assert needs.clauses("俺家娃上学莫得钱还有他爹腿断了干不了活") == [
        "俺家娃上学莫得钱", "他爹腿断了干不了活"]
    # a piece too short to tell a need stays with its neighbour
    assert needs.clauses("他爸，住院了") == ["他爸住院了"]


def test_a_run_on_sentence_is_also_read_in_overlapping_spans():
    text = "老伴住院花了好几万孙子上学学费交不起房子也漏雨"
    pieces = needs.pieces(text)
    assert list(pieces)[0] == text and len(pieces) > 2
    spans = list(pieces)[1:]
    assert all(len(p) <= needs.SPAN_CHARS for p in spans)
    assert any("住院" in p and "学费" not in p for p in spans)
    assert any("学费" in p and "住院" not in p for p in spans)
    # a span may start or end mid-word: its need must be surer than a clause's
    assert pieces[text].first == needs.CLAUSE_MIN_CONFIDENCE < needs.SPAN_MIN_CONFIDENCE
    assert pieces[spans[0]].first == needs.SPAN_MIN_CONFIDENCE
    assert pieces[spans[0]].second is None  # a span's second need is never read


def test_a_clause_that_tells_two_needs_proposes_both_when_the_second_is_ranked_high_enough():
    def need(*ranking):
        return {"program": ranking[0][0], "confidence": ranking[0][1],
                "ranking": [{"program": p, "confidence": c} for p, c in ranking]}

    both = "摔断了腿住院要交押金包工头还欠着工钱"
    reads = {both: (need(("medical", 0.55), ("legal_aid", 0.33), ("temporary", 0.05)), needs.CLAUSE_CUT),
             both[:12]: (need(("medical", 0.7), ("employment", 0.4)), needs.SPAN_CUT)}
    found = needs.from_reads({"program": None, "confidence": 0.3}, reads)
    assert [p["program"] for p in found] == ["medical", "legal_aid"]  # not the span's second
    # a second need below its cut, or a first below the clause's, proposes nothing more
    weak = {both: (need(("medical", 0.55), ("legal_aid", 0.29)), needs.CLAUSE_CUT)}
    assert [p["program"] for p in needs.from_reads({}, weak)] == ["medical"]
    unsure = {both: (need(("medical", 0.45), ("legal_aid", 0.4)), needs.CLAUSE_CUT)}
    assert needs.from_reads({}, unsure) == []


def test_a_department_whose_programs_together_are_sure_enough_is_proposed_by_its_likeliest():
    def need(*ranking):
        return {"program": ranking[0][0], "confidence": ranking[0][1],
                "ranking": [{"program": p, "confidence": c} for p, c in ranking]}

    # 家底掏空了: the classifier hesitates between three of civil affairs' programs
    drained = "看病把家底都掏空了欠了一屁股债"
    split = need(("expenditure_hardship", 0.3), ("temporary", 0.15), ("medical", 0.14), ("dibao", 0.1))
    found = needs.from_reads({"program": "medical", "confidence": 0.6},
                             {drained: (split, needs.CLAUSE_CUT)})
    assert [(p["program"], p["department"], p["confidence"], p.get("by_department"))
            for p in found] == [("medical", "medical", 0.6, None),
                                ("expenditure_hardship", "civil_affairs", 0.55, True)]
    # not below the cut of its kind of piece: 0.55 is short of a span's
    assert [p["program"] for p in needs.from_reads({}, {drained[:12]: (split, needs.SPAN_CUT)})] == []
    # a department already proposed is not proposed again under another of its programs
    told = need(("dibao", 0.7), ("temporary", 0.2))
    assert [p["program"] for p in needs.from_reads({}, {drained: (told, needs.CLAUSE_CUT)})] == ["dibao"]
    # the whole text counts as a clause does
    assert [p["program"] for p in needs.from_reads(split, {})] == ["expenditure_hardship"]

def test_a_clause_proposes_the_need_its_words_tell_outright_once_per_department():
    told = "俺老头子瘫在床上好几年了，屋头房子又漏雨，老伴住院，住院押金也交不上"
    found = needs.from_cues(told, [])
    assert [(p["program"], p["cue"], p["clause"]) for p in found] == [
        ("disability", "瘫", "俺老头子瘫在床上好几年了"), ("housing", "漏雨", "屋头房子又漏雨"),
        ("medical", "住院", "老伴住院")]  # the second 住院 adds nothing
    # a department already proposed (here by the classifier, under another program) is not again
    read = [needs._proposal("disaster", "description", 0.8, clause=None)]
    assert [p["program"] for p in needs.from_cues("台风过后又遇上暴雨，房子漏雨", read)] == [
        "disaster", "housing"]
    assert needs.from_cues("家里没有收入，吃饭都成问题", []) == []  # civil affairs' needs have no cues


async def test_two_needs_in_one_clause_are_both_proposed(rasa_client, classifier):
    r = await rasa_client.post("/api/cases/proposals", json={"text": "老伴住院孩子学费都没着落"})
    proposals = r.json()["proposals"]
    assert [(p["program"], p.get("cue")) for p in proposals] == [("medical", None), ("education", "学费")]


async def test_a_need_as_sure_as_a_clause_needs_but_read_in_a_span_is_not_proposed(rasa_client, classifier):
    punctuated = await rasa_client.post("/api/cases/proposals",
                                        json={"text": "孩子学费交不起，我也只能打零工"})
    run_on = await rasa_client.post("/api/cases/proposals",
                                    json={"text": "孩子学费交不起了还没钱吃饭我也只能打零工"})
    assert [p["program"] for p in punctuated.json()["proposals"]] == ["education", "employment"]
    assert [p["program"] for p in run_on.json()["proposals"]] == ["education"]


async def test_each_need_read_with_confidence_and_each_hopeful_program_of_the_screen_is_proposed(
        rasa_client, classifier):
    screen = {"programs": [{"program": "dibao", "status": "likely_eligible"},
                           {"program": "tekun", "status": "not_eligible"},
                           {"program": "medical", "status": "possibly_eligible"}]}
    r = await rasa_client.post("/api/cases/proposals", json={
        "text": "老伴住院花了好几万，孙子的学费也交不起，房子也旧了", "screen": screen})
    assert r.status_code == 200, r.text
    proposals = r.json()["proposals"]
    assert [(p["program"], p["department"], p["source"]) for p in proposals] == [
        ("medical", "medical", "description"), ("education", "education", "description"),
        ("dibao", "civil_affairs", "screen")]
    # the housing clause was read, but not with confidence: not proposed
    assert any("房子" in body.get("text", "") for body in classifier.received)
    # the first from the whole text (as one referral would get it), the second from its clause
    assert proposals[0]["clause"] is None and proposals[1]["clause"] == "孙子的学费也交不起"
    assert proposals[0]["screen_status"] == "possibly_eligible"
    assert proposals[2]["status"] == "likely_eligible"


async def test_the_whole_texts_need_comes_first_as_one_referral_would_get_it(rasa_client, classifier):
    r = await rasa_client.post("/api/cases/proposals", json={"text": "孩子的学费交不起了"})
    assert [p["program"] for p in r.json()["proposals"]] == ["education"]
    assert r.json()["proposals"][0]["clause"] is None


@pytest.mark.parametrize(("body", "field"), [
    ({}, "text"), ({"text": "   "}, "text"), ({"text": 5}, "text"), ({"text": "x" * 2001}, "text"),
    ({"text": "学费", "screen": [1]}, "screen")])
async def test_bad_requests_name_their_field(rasa_client, classifier, body, field):
    r = await rasa_client.post("/api/cases/proposals", json=body)
    assert r.status_code == 422 and field in r.json()["error"]["message"]


async def test_the_classifier_unreachable_is_a_503_not_an_empty_proposal(rasa_client, classifier):
    classifier.fail = True
    try:
        r = await rasa_client.post("/api/cases/proposals", json={"text": "老伴住院了，学费也没着落"})
    finally:
        classifier.fail = False
    assert r.status_code == 503 and r.json()["error"]["code"] == "bot_unavailable"
