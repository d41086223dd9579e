"""Where the shipped rule packs, reference tables and column mappings live.

In a checkout they are the top-level ``rules/`` folder, where analysts read and edit
them; a wheel carries the same folder inside the package as ``detector/_rules`` (see
``pyproject.toml``), so a non-editable install finds them without the checkout.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def default_rules_dir() -> Path:
    """Return the folder of the shipped rules: packaged copy first, then the checkout."""
    packaged = _PACKAGE_DIR / "_rules"
    if packaged.is_dir():
        return packaged
    return _PACKAGE_DIR.parent / "rules"


def default_packs_dir() -> Path:
    """Folder of the shipped rule packs (``*.yaml``)."""
    return default_rules_dir() / "packs"


def default_reference_dir() -> Path:
    """Folder of the shipped reference tables (``<name>.csv``)."""
    return default_rules_dir() / "reference"


def default_mappings_dir() -> Path:
    """Folder of the shipped column mappings (``<name>.yaml``)."""
    return default_rules_dir() / "mappings"
