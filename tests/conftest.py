"""Shared helpers: small declaration tables written the way users' files look."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.browser import browser, open_page  # noqa: F401  (one Chromium for the whole run)

REPO = Path(__file__).resolve().parent.parent


def frame(rows: list[dict]) -> pd.DataFrame:
    """A table of text cells, as read from a CSV (missing cells empty)."""
    return pd.DataFrame(rows).fillna("").astype("str")


@pytest.fixture
def write_csv(tmp_path):
    """Write text to a CSV file in a temporary folder and return its path."""

    def write(text: str | bytes, name: str = "declarations.csv") -> Path:
        path = tmp_path / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    return write
