"""The 12349 rules as an OpenFisca country package: entities, dated parameters per region
(parameters/regions/<name>_<code>/), variables and formulas. YAML tests live in rules/tests/.

Run the tests as a policy officer would:
    .venv/bin/openfisca test rules/tests --country-package rules.openfisca_hotline
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from openfisca_core.taxbenefitsystems import TaxBenefitSystem

from rules.openfisca_hotline.entities import entities

HERE = Path(__file__).resolve().parent


class CountryTaxBenefitSystem(TaxBenefitSystem):
    def __init__(self) -> None:
        super().__init__(entities)
        self.add_variables_from_directory(str(HERE / "variables"))
        self.load_parameters(str(HERE / "parameters"))

    def get_package_metadata(self) -> dict[str, str]:
        # The package lives inside the hotline12349 distribution, not in one of its own.
        return {"name": "rules.openfisca_hotline", "version": "0", "location": str(HERE.parent),
                "repository_url": ""}


@cache
def tax_benefit_system() -> CountryTaxBenefitSystem:
    """Built once per process: loading the parameters and variables takes a few hundred ms."""
    return CountryTaxBenefitSystem()
