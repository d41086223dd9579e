"""Customs-declaration anomaly detector: the public Python API.

The same functions back the ``detector`` command line and notebooks::

    import detector
    decl = detector.load_declarations("sample_data/declarations.csv")
    rules = detector.load_rules()
    result = detector.score(decl, rules)
    result.output.sort_values("risk_score", ascending=False).head()
    detector.write_output(result, "scored.csv")
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from detector.declarations import Declarations, load_declarations
from detector.errors import DetectorError, InputFileError, MappingError, ReferenceTableError, RulePackError
from detector.evaluation import (
    Evaluation,
    compare_evaluations,
    evaluate,
    evaluate_declarations,
    evaluate_scores,
    needs_scoring,
)
from detector.io import output_format, write_table
from detector.resources import default_rules_dir
from detector.risk import RiskPolicy
from detector.rules import Rule, RuleSet, load_rules, parse_rules, run_examples
from detector.rules.examples import example_summary
from detector.schema import FIELDS, ColumnMapping, load_mapping
from detector.scoring import ScoreResult, ScoreSummary, score

# Found on first use: the models' modules and scikit-learn are slow to import and not
# needed to score with rules.
_MODEL_NAMES = {"AnomalyModel": "detector.anomaly", "labels_from_column": "detector.supervised",
                "labels_from_outcomes": "detector.supervised", "train_supervised": "detector.supervised",
                "train_from_outcomes": "detector.supervised",
                "DeclarationAnomalyDetector": "detector.estimators",
                "DeclarationFraudClassifier": "detector.estimators"}


def __getattr__(name: str):
    """The models' names (:data:`_MODEL_NAMES`) and ``detector.__version__``, found on
    first use: the version needs the package metadata, slow to read."""
    if name in _MODEL_NAMES:
        from importlib import import_module

        return getattr(import_module(_MODEL_NAMES[name]), name)
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("detector")
        except PackageNotFoundError:  # running from a checkout without installing
            return "0.0.0"
    raise AttributeError(f"module 'detector' has no attribute {name!r}")


def test_rules(rules: RuleSet | None = None) -> pd.DataFrame:
    """Run every rule's hit and miss examples; one row per example with ``passed``."""
    return run_examples(rules if rules is not None else load_rules())


test_rules.__test__ = False  # a public API function, not a pytest test


def validate(source, mapping=None, **read_options) -> pd.DataFrame:
    """The row-level problems of a declarations file: row, column, field, value, problem."""
    return load_declarations(source, mapping, **read_options).problems


def write_output(result: ScoreResult, path: str | Path, fmt: str | None = None, *, excel_csv: bool = False,
                 decimal: str = ".") -> Path:
    """Write a scored table atomically as CSV (formula-safe), Parquet, JSON lines or an
    Excel workbook.

    Parquet and Excel keep types (the input's numbers and dates where every cell was
    read, ``rule_hits`` as a list in Parquet) and carry the run metadata
    (:attr:`ScoreResult.metadata`); ``excel_csv`` starts a CSV with a byte order mark
    for Excel on Windows, ``decimal=","`` writes European numbers (fields then
    separated by ``;``). ``result.output`` may hold only some of the rows (the CLI's
    filters): the metadata still describes the whole batch.
    """
    fmt = output_format(path, fmt)
    typed = fmt in ("parquet", "xlsx")
    frame = result.typed_output() if typed else result.output
    return write_table(frame, path, fmt, result.metadata if typed else None, excel_csv=excel_csv, decimal=decimal)


__all__ = [
    "AnomalyModel", "DeclarationAnomalyDetector", "DeclarationFraudClassifier",
    "compare_evaluations", "FIELDS", "ColumnMapping", "Declarations", "DetectorError",
    "Evaluation", "evaluate", "evaluate_declarations", "evaluate_scores", "example_summary", "InputFileError",
    "MappingError",
    "ReferenceTableError", "RiskPolicy", "Rule", "RulePackError", "RuleSet", "ScoreResult",
    "ScoreSummary", "default_rules_dir", "labels_from_column", "labels_from_outcomes", "load_declarations",
    "load_mapping", "load_rules", "needs_scoring", "parse_rules", "score", "test_rules", "train_from_outcomes",
    "train_supervised",
    "validate", "write_output",
]
