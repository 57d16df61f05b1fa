"""Every number in the rules has a source (file + clause of ../shared/policy_docs/) or is marked
verified: false with a note; every region has the same parameters."""

from __future__ import annotations

from pathlib import Path

import pytest
from openfisca_core.parameters import Parameter

from rules.openfisca_hotline import tax_benefit_system
from rules.openfisca_hotline.enums import Region
from rules.region_parameters import NATIONAL, parameter_leaves, region_parameters
from rules.regions import regions

ROOT = Path(__file__).resolve().parents[3]
POLICY_DOCS = ROOT.parent / "shared" / "policy_docs"
DOCUMENTS = {f"{n:03d}" for n in range(5)}  # 000_… to 004_…


def _all_values():
    root = tax_benefit_system().parameters
    leaves = list(parameter_leaves(root.regions, "regions.")) + [(n, root.children[n]) for n in NATIONAL]
    for path, parameter in leaves:
        for value in parameter.values_list:
            yield path, parameter, value


def test_regions_directory_enum_and_parameter_folders_agree():
    folders = set(tax_benefit_system().parameters.regions.children)
    assert folders == {r.name for r in Region} == {r["parameters"] for r in regions().values()}
    for code, r in regions().items():
        assert r["parameters"].endswith(f"_{code}")


def test_every_region_has_the_same_parameters():
    shapes = {name: {path for path, _ in parameter_leaves(node)}
              for name, node in tax_benefit_system().parameters.regions.children.items()}
    first = next(iter(shapes.values()))
    assert all(shape == first for shape in shapes.values())


@pytest.mark.parametrize("path,parameter,value", list(_all_values()),
                         ids=lambda x: x if isinstance(x, str) else "")
def test_every_value_has_a_source_or_is_unverified(path, parameter, value):
    meta = value.metadata
    assert parameter.description, path
    assert meta.get("unit"), path
    assert isinstance(meta.get("verified"), bool), f"{path}: verified must be true or false"
    if meta["verified"]:
        reference = meta.get("reference") or ""
        assert reference, f"{path}: a verified value needs a reference"
        for ref in reference.split("；"):
            document, _, clause = ref.partition(" ")
            assert document[:3] in DOCUMENTS and clause, f"{path}: bad reference {ref!r}"
            assert (POLICY_DOCS / document).exists() or not POLICY_DOCS.exists(), ref
    else:
        assert meta.get("note"), f"{path}: an unverified value needs a note saying why"


def test_stated_standards_of_zhuzhou_are_verified():
    p = region_parameters("430200", "2025-01-01")
    assert p["dibao.standard_urban_monthly"].value == 700
    assert p["dibao.standard_urban_monthly"].verified
    assert p["dibao.standard_rural_yearly"].value == 6733
    assert p["tekun.multiplier"].value == 1.3 and p["tekun.multiplier"].verified


@pytest.mark.parametrize("code", ["320200", "511700", "220000", "341503"])
def test_standards_the_documents_do_not_state_are_unverified(code):
    p = region_parameters(code, "2025-01-01")
    assert not p["dibao.standard_urban_monthly"].verified
    assert not p["dibao.standard_rural_yearly"].verified


def test_issue_figures_are_encoded_per_region():
    at = "2025-01-01"
    wuxi, dazhou, jilin, yuan = (region_parameters(c, at) for c in ("320200", "511700", "220000", "341503"))
    assert (wuxi["employment_deduction.share_of_dibao_standard"].value, wuxi["phase_out.months"].value,
            wuxi["tekun.multiplier"].value, wuxi["low_income.multiplier"].value) == (0.3, 6, 1.5, 2)
    assert (dazhou["employment_deduction.share_of_minimum_wage"].value, dazhou["phase_out.months"].value,
            dazhou["phase_out.months_extended"].value, dazhou["temporary.range_min_multiplier"].value,
            dazhou["temporary.range_max_multiplier"].value) == (0.25, 6, 12, 1, 6)
    assert not dazhou["minimum_wage_monthly"].verified
    assert (jilin["asset_limit_months"].value, jilin["phase_out.months"].value,
            jilin["phase_out.months_disabled_household"].value, jilin["tekun.multiplier"].value,
            jilin["tekun.multiplier_centralized"].value, jilin["temporary.urgent_advance_months"].value,
            jilin["temporary.completion_days"].value) == (24, 18, 24, 1.3, 2, 1, 30)
    assert (yuan["temporary.village_cap"].value, yuan["temporary.township_cap"].value,
            yuan["temporary.two_level_cap"].value) == (1000, 2000, 3000)
    assert all(isinstance(v, Parameter) for _, v in parameter_leaves(tax_benefit_system().parameters.regions))
