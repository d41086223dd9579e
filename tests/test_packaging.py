"""The shipped rule packs, reference tables and mappings travel inside the wheel, so a
plain (non-editable) ``pip install .`` finds them without the checkout."""

import json
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.version import Version

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
    templates = sorted(p.name for p in (REPO / "detector" / "templates").glob("*.j2"))
    assert templates and all(f"detector/templates/{name}" in names for name in templates)


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


def _normalized(name: str) -> str:
    """A distribution name as pip compares them (PEP 503: case and -_. alike)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared_floors(project: dict) -> dict[str, Version]:
    """Each dependency's ``>=`` floor, from the dependencies and every extra.

    The package's own extras (``detector[notebooks]``) name no other distribution and
    are left out; any other requirement without a floor is a promise no run tests.
    """
    extras = project.get("optional-dependencies", {}).values()
    floors = {}
    for requirement in [*project["dependencies"], *(r for extra in extras for r in extra)]:
        name = _normalized(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement).group())
        if name == _normalized(project["name"]):
            continue
        floor = re.search(r">=\s*([^,;\s]+)", requirement)
        assert floor, f"pyproject.toml: {requirement!r} has no '>=' floor for CI to install"
        floors[name] = Version(floor.group(1))
    return floors


def _pinned_minimums(text: str) -> dict[str, Version]:
    """``name==version`` lines of a pip constraints file, comments and blanks skipped."""
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, equals, version = line.partition("==")
            assert equals, f".ci/constraints-min.txt: {line!r} is not name==version"
            pins[_normalized(name.strip())] = Version(version.strip())
    return pins


def test_minimum_constraints_match_declared_floors():
    """CI runs the suite on .ci/constraints-min.txt; a floor moved in pyproject.toml
    without it would promise versions that no run tests.

    Before: nothing tested the floors, and at the declared ones (numpy 1.26, pandas 2.2,
    pyarrow 15, scikit-learn 1.4, typer 0.12) 78 tests failed and 52 errored: pandas
    2.2 has no "str" dtype, pyarrow 15-19 crashed in detector/text_columns.py, and typer
    0.12 crashed on click 8.5's ``--help``.
    """
    with (REPO / "pyproject.toml").open("rb") as file:
        floors = _declared_floors(tomllib.load(file)["project"])
    pins = _pinned_minimums((REPO / ".ci" / "constraints-min.txt").read_text(encoding="utf-8"))
    assert pins == floors
