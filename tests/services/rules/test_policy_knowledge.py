"""The policy knowledge base: complete, SMS-sized, and every statement traceable to its clause.

The grounding tests read the five documents in ../shared/policy_docs/ (beside the repository):
each citation's clause must exist in its document, its quote must lie inside that clause, and
every number an answer states must appear in one of the clauses it cites."""

from __future__ import annotations

import re
import shutil
import unicodedata
from functools import cache
from pathlib import Path

import pytest
import yaml

from referral.domain import PROGRAMS
from rules import knowledge as kb
from rules.regions import regions

REPO_ROOT = Path(__file__).resolve().parents[3]
DOCS_DIR = REPO_ROOT.parent / "shared" / "policy_docs"
CN_NUMERALS = "一二三四五六七八九十"
NUMBER = re.compile(r"\d+(?:\.\d+)?")
_INDENT = r"^[ \t\u3000]*"


# --- finding a clause in a document -------------------------------------------------------------

def _heading(level: int, value: str | None) -> re.Pattern:
    """Headings of the documents: 三、 / (二) or （二） / 5. or 5、 (or a bare 18 where the
    published text lost its dot), each at the start of a line."""
    if level == 0:
        return re.compile(_INDENT + f"({value or f'[{CN_NUMERALS}]+'})、", re.M)
    if level == 1:
        return re.compile(_INDENT + f"[(（]({value or f'[{CN_NUMERALS}]+'})[)）]", re.M)
    number = value or r"\d+"
    return re.compile(_INDENT + number + r"(?:[.、．]|(?=[^\d.、．\s]))", re.M)


def clause_text(document_text: str, clause: str) -> str:
    """The text of a clause such as "三(二)5", "四(二)", "一" or "文首" (the header)."""
    if clause == "文首":
        first = _heading(0, "一").search(document_text)
        return document_text[: first.start()] if first else ""
    m = re.fullmatch(rf"([{CN_NUMERALS}]+)(?:\(([{CN_NUMERALS}]+)\))?(\d+)?", clause)
    if not m:
        raise LookupError(f"clause label {clause!r} is not like 三(二)5")
    text = document_text
    for level, value in enumerate(m.groups()):
        if value is None:
            continue
        start = _heading(level, value).search(text)
        if start is None:
            raise LookupError(f"clause {clause!r}: heading {value} not found")
        following = _heading(level, None).search(text, start.end())
        text = text[start.start(): following.start() if following else len(text)]
    return text


def normalized(text: str) -> str:
    """Full-width and ASCII punctuation alike, no whitespace."""
    return "".join(unicodedata.normalize("NFKC", text).split())


@cache
def document(name: str) -> str:
    return (DOCS_DIR / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def docs_available():
    # CI clones the repo with shared/ beside it; without the documents nothing can be checked.
    assert DOCS_DIR.is_dir(), f"policy documents not found at {DOCS_DIR}"


def all_answers() -> list[kb.Answer]:
    return [a for p in kb.knowledge().values() for a in p.answers.values()]


def answer_id(a: kb.Answer) -> str:
    return f"{a.program}/{a.aspect}/{a.region}"


ANSWERS = all_answers()


# --- completeness and shape ---------------------------------------------------------------------

def test_every_program_and_aspect_has_a_default_answer():
    assert set(kb.knowledge()) == set(PROGRAMS)
    for program, p in kb.knowledge().items():
        assert p.name
        for aspect in kb.ASPECTS:
            assert (aspect, kb.DEFAULT_REGION) in p.answers, f"{program}/{aspect} has no default"


def test_region_answers_are_for_seeded_regions_and_cite_that_region_s_document():
    for a in ANSWERS:
        if a.region != kb.DEFAULT_REGION:
            own = regions()[a.region]["document"]
            assert own in {c.document for c in a.citations}, f"{answer_id(a)} does not cite {own}"


@pytest.mark.parametrize("a", ANSWERS, ids=answer_id)
def test_short_answer_fits_an_sms_and_reads_politely(a):
    assert kb.char_count(a.short) <= kb.SHORT_MAX_CHARS, a.short
    assert len(kb.sentences(a.short)) <= kb.SHORT_MAX_SENTENCES, a.short
    assert "您" in a.short, f"address the citizen as 您: {a.short}"
    for text in (a.short, a.long):
        assert "你" not in text
        assert not re.search(r"[A-Za-z]", text), f"no codes or English in answers: {text}"
    if "一证一书" in a.short:
        assert "身份证" in a.short, "explain 一证一书 where it is used"


def test_answers_point_to_the_hotline_only_with_its_source():
    """12349 is a number like any other: the answer that gives it cites where it comes from."""
    for a in ANSWERS:
        if "12349" in a.short + a.long:
            assert any("12349" in c.quote for c in a.citations), answer_id(a)


# --- grounding in the documents -----------------------------------------------------------------

@pytest.mark.parametrize("a", ANSWERS, ids=answer_id)
def test_each_citation_is_found_in_its_document(a, docs_available):
    for c in a.citations:
        assert (DOCS_DIR / c.document).is_file(), c.document
        text = clause_text(document(c.document), c.clause)
        assert normalized(c.quote) in normalized(text), (
            f"{answer_id(a)}: quote not in {c.document} {c.clause}: {c.quote}")


@pytest.mark.parametrize("a", ANSWERS, ids=answer_id)
def test_every_number_in_an_answer_is_in_a_cited_clause(a, docs_available):
    cited = set()
    for c in a.citations:
        cited |= set(NUMBER.findall(normalized(clause_text(document(c.document), c.clause))))
    for text in (a.short, a.long):
        invented = set(NUMBER.findall(text)) - cited
        assert not invented, f"{answer_id(a)}: {sorted(invented)} not in the cited clauses"


def test_clause_finder_tells_clauses_apart(docs_available):
    wuxi = document(regions()["320200"]["document"])
    assert "16周岁延长至18周岁" in clause_text(wuxi, "三(二)5")
    assert "1.5倍" not in clause_text(wuxi, "三(二)5")
    assert "1.5倍" in clause_text(wuxi, "三(二)6")
    with pytest.raises(LookupError):
        clause_text(wuxi, "三(一)9")  # item 9 is in part (三)
    yuan = document(regions()["341503"]["document"])
    assert "封顶1000元" in clause_text(yuan, "四(三)2")
    assert "12349" in clause_text(yuan, "四(三)3")


# --- lookup -------------------------------------------------------------------------------------

def test_lookup_returns_the_region_s_own_answer():
    a = kb.lookup("temporary", "金额", "341503")
    assert set(a) == {"program", "aspect", "region", "short", "long", "citations", "verified"}
    assert (a["program"], a["aspect"], a["region"]) == ("temporary", "金额", "341503")
    assert "1000" in a["short"] and a["verified"] is True
    assert a["citations"][0] == {"document": "004_661d87b0b2d25674.txt", "clause": "四(三)2"}


def test_lookup_falls_back_to_the_default_answer():
    p = kb.knowledge()["dibao"]
    assert ("材料", "430200") not in p.answers  # 株洲's document says nothing on materials
    a = kb.lookup("dibao", "材料", "430200")
    assert a["region"] == "default"
    assert a == kb.lookup("dibao", "材料") == kb.lookup("dibao", "材料", "999999")


def test_lookup_unknown_program_or_aspect_is_none():
    assert kb.lookup("lottery", "条件", "320200") is None
    assert kb.lookup("dibao", "好处", "320200") is None


def test_regional_figures_reach_the_citizen():
    assert "700元/月" in kb.lookup("dibao", "标准", "430200")["short"]
    assert "1.5倍" in kb.lookup("tekun", "标准", "320200")["short"]
    assert "24个月" in kb.lookup("dibao", "条件", "220000")["short"]
    assert "20个工作日" in kb.lookup("dibao", "时限", "341503")["short"]
    assert "6倍" in kb.lookup("temporary", "标准", "511700")["short"]


# --- validation of edited data ------------------------------------------------------------------

@pytest.fixture
def data_copy(tmp_path):
    shutil.copytree(kb.KNOWLEDGE_DIR, tmp_path, dirs_exist_ok=True)
    return tmp_path


def edit(directory: Path, program: str, change) -> None:
    path = directory / f"{program}.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data["answers"])
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


@pytest.mark.parametrize("change, problem", [
    (lambda a: a["条件"].pop("default"), "条件: no `default` answer"),
    (lambda a: a["条件"]["default"].update(short="您好。" * 4), "short answer has"),
    (lambda a: a["条件"]["default"].update(short="您" * 121), "121 characters"),
    (lambda a: a["条件"]["default"].update(citations=[]), "needs at least one citation"),
    (lambda a: a["条件"]["default"]["citations"][0].update(document="x.txt"), "unknown document"),
    (lambda a: a["条件"]["default"].pop("verified"), "`verified` must be true or false"),
    (lambda a: a["条件"].update({"110000": a["条件"]["default"]}), "not a seeded region code"),
    (lambda a: a.update({"好处": a["条件"]}), "unknown aspect '好处'"),
])
def test_load_rejects_broken_data(data_copy, change, problem):
    edit(data_copy, "dibao", change)
    with pytest.raises(kb.KnowledgeError, match=re.escape(problem)):
        kb.load(data_copy)


def test_load_rejects_a_missing_program_file(data_copy):
    (data_copy / "vagrant.yml").unlink()
    with pytest.raises(kb.KnowledgeError, match="vagrant.yml: missing"):
        kb.load(data_copy)
