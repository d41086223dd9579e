"""Exceptions of the detector, each with a message an analyst can act on.

The CLI prints ``str(error)`` as one line and exits non-zero, so every message names
the file (and where it helps the rule, row or column) and says what was expected.
"""

from __future__ import annotations


class DetectorError(Exception):
    """Base class: a problem the user can fix, reported as one clear line."""


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
