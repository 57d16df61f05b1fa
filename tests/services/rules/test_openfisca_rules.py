"""The rules as a policy officer tests them: the OpenFisca YAML tests in rules/tests/, run by
OpenFisca's own test runner (the same as `openfisca test rules/tests -c rules.openfisca_hotline`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
YAML_TESTS = ROOT / "rules" / "tests"
PROGRAMS = ("dibao", "tekun", "low_income", "expenditure_hardship", "temporary", "medical",
            "education", "housing", "employment", "disability", "disaster")


def test_every_program_has_at_least_five_yaml_tests():
    for program in PROGRAMS:
        cases = yaml.safe_load((YAML_TESTS / f"{program}.yaml").read_text(encoding="utf-8"))
        assert len(cases) >= 5, program
        assert all(case.get("name") and case.get("output") for case in cases), program


def test_openfisca_yaml_tests_pass():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "openfisca_core.scripts.openfisca_command", "test", str(YAML_TESTS),
         "--country-package", "rules.openfisca_hotline"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    total = sum(len(yaml.safe_load(p.read_text(encoding="utf-8"))) for p in YAML_TESTS.glob("*.yaml"))
    assert re.search(rf"\b{total} passed\b", output), output
