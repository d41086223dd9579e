"""The shipped rule packs stay readable: no line is longer than 100 characters.

Analysts read the packs and review every change to them in a diff. A rule's example
or condition written as one long flow mapping (``- {hs_code: "...", ...}`` running to
240 characters) runs off the side of a review screen, so a changed value at its end
goes unseen; block style, one ``key: value`` per line, shows each changed value on a
line of its own.
"""

import re
from pathlib import Path

import pytest

from detector.resources import default_packs_dir

MAX_LINE = 100
# A URL cannot be wrapped without breaking it, so a line that holds one URL and nothing
# else (as a list item, a quoted text or a comment) may be longer.
LONE_URL = re.compile(r"""\s*(?:-\s+|#\s*)?(["']?)https?://\S+\1""")

SHIPPED_PACKS = sorted([*default_packs_dir().glob("*.yaml"), *default_packs_dir().glob("*.yml")])


def long_lines(text: str) -> list[tuple[int, int]]:
    """(line number, length) of each line of ``text`` longer than ``MAX_LINE``
    characters that is not a lone URL."""
    lines = (line.rstrip("\r") for line in text.split("\n"))
    return [(number, len(line)) for number, line in enumerate(lines, 1)
            if len(line) > MAX_LINE and not LONE_URL.fullmatch(line)]


def test_packs_are_shipped():
    """Guards the test below against passing on an empty folder."""
    assert {path.name for path in SHIPPED_PACKS} >= {"rare_earth.yaml", "red_flags.yaml"}


@pytest.mark.parametrize("pack", SHIPPED_PACKS, ids=lambda path: path.name)
def test_shipped_pack_has_no_line_over_100_characters(pack: Path):
    found = long_lines(pack.read_text(encoding="utf-8"))
    assert not found, "lines over 100 characters (wrap them, block style for mappings):\n" + "\n".join(
        f"{pack}:{number}: {length} characters" for number, length in found)


def test_only_a_lone_url_may_be_longer():
    url = "https://example.org/" + "a" * 100
    text = "\n".join([
        "    - " + "x" * 95,                         # 101 characters: too long
        f'      - "{url}"',                          # a lone URL, quoted in a list
        f"# {url}",                                  # a lone URL in a comment
        f'      - "{url} (the source)"',             # a URL with words: wrap the words
        "x" * 100,                                   # exactly the limit
    ])
    assert long_lines(text) == [(1, 101), (4, len(f'      - "{url} (the source)"'))]
