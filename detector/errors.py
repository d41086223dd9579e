"""Exceptions of the detector, each with a message an analyst can act on.

The CLI prints ``str(error)`` as one line and exits non-zero, so every message names
the file (and where it helps the rule, row or column) and says what was expected.
"""

from __future__ import annotations

from numbers import Integral


class DetectorError(Exception):
    """Base class: a problem the user can fix, reported as one clear line."""


def whole_number(value, name: str, low: int, high: int | None = None, why: str = "") -> int:
    """``value`` as an int in [low, high]; a DetectorError naming ``name`` otherwise
    (``why`` is said after the range). The one check of a counted argument (rows,
    days, trees, seeds) that every API function makes before any work."""
    if isinstance(value, Integral) and not isinstance(value, bool) and value >= low and (high is None or value <= high):
        return int(value)
    span = f"{low:,} or more" if high is None else f"from {low:,} to {high:,}{why}"
    raise DetectorError(f"{name} must be a whole number {span}, got {value!r}")


class InputFileError(DetectorError):
    """A declarations file cannot be read at all (missing, empty, no header, ...)."""


class OutputFileError(DetectorError):
    """An output cannot be written where asked (a folder, the input itself, a full
    disk, no permission); nothing is left half-written."""


class MappingError(DetectorError):
    """A column-mapping YAML file is malformed or names columns the data lacks."""


class RulePackError(DetectorError):
    """A rule pack or reference table is malformed; raised before any scoring starts."""


class ReferenceTableError(RulePackError):
    """A reference table under ``rules/reference`` is missing or malformed."""
