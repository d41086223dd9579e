"""The README's layout section names every part of the package."""

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]


def layout_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.search(r"## Layout\s*```\n(.*?)```", text, re.S).group(1)


def test_the_layout_names_every_module_and_folder_of_the_package():
    """A new maintainer reads the house from this section: a module added without a
    line there (report.py, charts.py, excel.py and estimators.py were missing) is
    invisible to them."""
    listed = set(re.findall(r"^\s*([\w.]+/?)\s", layout_section(), re.M))
    package = ROOT / "detector"
    parts = {path.name for path in package.glob("*.py")} | {path.name + "/" for path in package.iterdir()
                                                              if path.is_dir() and path.name != "__pycache__"}
    parts |= {path.name for path in (package / "rules").glob("*.py")}
    missing = sorted(parts - listed)
    assert not missing, f"README.md's layout section does not name: {', '.join(missing)}"
