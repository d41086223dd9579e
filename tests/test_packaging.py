"""The shipped rule packs, reference tables and mappings travel inside the wheel, so a
plain (non-editable) ``pip install .`` finds them without the checkout."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

PROBE = """
import json, detector
from detector.resources import default_rules_dir
rules = detector.load_rules()
print(json.dumps({"module": detector.__file__, "rules_dir": str(default_rules_dir()),
                  "rules": len(rules), "mapping": detector.load_mapping("wco_bacuda").columns["hs_code"],
                  "examples_failed": int((~detector.test_rules(rules)["passed"]).sum())}))
"""


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(out)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    (wheel,) = out.glob("detector-*.whl")
    target = out / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    return wheel, target


def test_wheel_carries_rule_packs_reference_tables_and_mappings(installed_wheel):
    wheel, _ = installed_wheel
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(p.relative_to(REPO / "rules").as_posix() for p in (REPO / "rules").rglob("*") if p.is_file())
    assert shipped, "the checkout has no rules/"
    for name in shipped:
        assert f"detector/_rules/{name}" in names


def test_installed_package_finds_its_rules_outside_the_checkout(installed_wheel, tmp_path):
    _, site = installed_wheel
    probe = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=tmp_path,
                           env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    assert Path(found["module"]).is_relative_to(site)
    assert Path(found["rules_dir"]) == site / "detector" / "_rules"
    assert found["rules"] > 0 and found["examples_failed"] == 0
    assert found["mapping"] == "tariff.code"
