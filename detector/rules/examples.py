"""Running each rule's own hit and miss examples.

Examples go through the same load -> validate -> derive path as a real file, so an
example proves what the rule does to a declaration, not to a hand-built table. Each
example is evaluated on its own, so a group rule's batch cannot see another example.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd

from detector.declarations import load_declarations
from detector.rules.engine import evaluate_rule
from detector.rules.model import Example, Rule, RuleSet
from detector.schema import FIELDS

RESULT_COLUMNS = ["rule", "example", "expected", "passed", "detail", "note"]


def example_frame(rule: Rule, example: Example) -> pd.DataFrame:
    """The example's rows as a text table, as if read from a CSV file with every
    canonical column: a field an example does not give is an empty cell."""
    kind = "hit" if example.expect_hit else "miss"
    rows = []
    for number, row in enumerate(example.rows, start=1):
        cells = {field: _cell(value) for field, value in row.items()}
        cells.setdefault("declaration_id", f"{rule.id}-{kind}{example.number}-{number}")
        rows.append(cells)
    return pd.DataFrame(rows, columns=[f.name for f in FIELDS], dtype=object).fillna("").astype("str")


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def run_example(rule: Rule, example: Example) -> dict:
    """One result row: did the rule do what the example says?"""
    kind = "hit" if example.expect_hit else "miss"
    result = {"rule": rule.id, "example": f"{kind}[{example.number}]", "expected": kind,
              "note": example.note}
    declarations = load_declarations(example_frame(rule, example), reference_dirs=rule.reference_dirs)
    hits, _reasons = evaluate_rule(rule, declarations.table, unreadable=declarations.unreadable)
    wanted = np.full(len(hits), example.expect_hit)
    passed = bool((hits == wanted).all())
    got = "hit" if hits.all() else "no hit" if not hits.any() else \
        f"hit rows {', '.join(str(i + 1) for i in np.flatnonzero(hits))} of {len(hits)}"
    detail = f"rule returned {got}"
    if not passed and declarations.invalid.any():
        detail += "; invalid example cells: " + "; ".join(
            e for e in declarations.errors if e)
    return {**result, "passed": passed, "detail": detail}


def run_examples(rule_set: RuleSet) -> pd.DataFrame:
    """Run every example of every rule; one row per example (see ``RESULT_COLUMNS``)."""
    rows = [run_example(rule, example) for rule in rule_set for example in rule.examples]
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def example_summary(results: pd.DataFrame) -> pd.DataFrame:
    """One row per rule, in pack order: its examples, how many failed, and "pass" or
    "FAIL", so a pack author sees at a glance which rules to fix.

    Parameters
    ----------
    results : DataFrame
        From :func:`run_examples` (one row per example).

    Returns
    -------
    DataFrame
        Columns rule, examples, failed, result.
    """
    per_rule = results.groupby("rule", sort=False).agg(
        examples=("passed", "size"), failed=("passed", lambda s: int((~s).sum())))
    per_rule["result"] = per_rule["failed"].map(lambda n: "pass" if n == 0 else "FAIL")
    return per_rule.reset_index()[["rule", "examples", "failed", "result"]]
