"""Who the rules apply to: a person, and the household (共同生活的家庭成员) they belong to."""

from openfisca_core.entities import build_entity

Household = build_entity(
    key="household",
    plural="households",
    label="家庭（共同生活的家庭成员）",
    doc="低保、低收入等按户认定：收入、财产按共同生活的家庭成员合计，再按人均比较。",
    roles=[{"key": "member", "plural": "members", "label": "家庭成员"}],
)

Person = build_entity(
    key="person",
    plural="persons",
    label="个人",
    doc="特困供养、单独纳入低保、教育和就业救助等按人认定。",
    is_person=True,
)

entities = [Household, Person]
