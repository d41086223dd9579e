"""Vectorized evaluation of rules over a whole declarations table.

Each rule's condition tree becomes one boolean array over all rows; reasons are
rendered only for the rows a rule hits. A rule that reads a field the file lacks is
skipped, with the reason, rather than silently never hitting.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from detector.rules.model import SEVERITIES, AllOf, AnyOf, Condition, Leaf, Not, Rule, RuleSet
from detector.rules.predicates import PREDICATES, Context

MISSING_TEXT = "(missing)"


@dataclass
class RuleResults:
    """What the rules found in one table.

    ``hits`` has one boolean column per evaluated rule (in rule order); ``reasons`` one
    text column per evaluated rule, empty where the rule did not hit; ``skipped`` maps
    the id of each rule that could not run to why.
    """

    hits: pd.DataFrame
    reasons: pd.DataFrame
    skipped: dict[str, str] = field(default_factory=dict)
    rules: dict[str, Rule] = field(default_factory=dict)


def missing_fields(rule: Rule, columns) -> list[str]:
    """What the rule needs that the table lacks ('a or b' where either would do)."""
    return [" or ".join(sorted(need)) for need in rule.needs if not any(f in columns for f in need)]


def evaluate_condition(condition: Condition, table: pd.DataFrame, ctx: Context) -> pd.arrays.BooleanArray:
    """Evaluate a condition tree with Kleene logic; unknown stays missing."""
    if isinstance(condition, Leaf):
        predicate = PREDICATES[condition.name]
        return predicate.function(table, ctx, **condition.args)
    if isinstance(condition, Not):
        return ~evaluate_condition(condition.child, table, ctx)
    results = [evaluate_condition(child, table, ctx) for child in condition.children]
    combined = results[0]
    for result in results[1:]:
        combined = (combined & result) if isinstance(condition, AllOf) else (combined | result)
    return combined


def evaluate_rule(rule: Rule, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Hits (bool per row) and rendered reasons (text per row, '' where no hit)."""
    named: dict[str, pd.Series] = {}
    ctx = Context(reference_dirs=rule.reference_dirs, named=named)
    ctx.evaluate = lambda condition, frame: evaluate_condition(condition, frame, ctx)
    outcome = evaluate_condition(rule.when, table, ctx)
    hits = outcome.to_numpy(dtype=bool, na_value=False)
    hits &= _in_force(rule, table)
    reasons = np.full(len(table), "", dtype=object)
    rows = np.flatnonzero(hits)
    if len(rows):
        reasons[rows] = render_reason(rule.reason, table, named, rows)
    return hits, reasons


def _in_force(rule: Rule, table: pd.DataFrame) -> np.ndarray:
    """Rows dated inside the rule's validity; undated rows are kept (flag, don't drop)."""
    in_force = np.ones(len(table), dtype=bool)
    if (rule.valid_from is None and rule.valid_to is None) or "declaration_date" not in table:
        return in_force
    dates = table["declaration_date"].to_numpy(dtype="datetime64[D]")
    known = ~np.isnat(dates)
    if rule.valid_from is not None:
        in_force &= ~known | (dates >= np.datetime64(rule.valid_from, "D"))
    if rule.valid_to is not None:
        in_force &= ~known | (dates <= np.datetime64(rule.valid_to, "D"))
    return in_force


def render_reason(template: str, table: pd.DataFrame, named: dict[str, pd.Series],
                  rows: np.ndarray) -> np.ndarray:
    """Fill ``template`` with the values of ``rows``, column by column."""
    rendered = np.full(len(rows), "", dtype=object)
    for literal, name, spec, _conversion in string.Formatter().parse(template):
        rendered = rendered + literal
        if name is None:
            continue
        if name not in named and name not in table:
            rendered = rendered + MISSING_TEXT
            continue
        values = named[name] if name in named else table[name]
        rendered = rendered + _as_text(values.iloc[rows], spec)
    return rendered


def _as_text(values: pd.Series, spec: str) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        text = values.dt.strftime("%Y-%m-%d").to_numpy(dtype=object)
    elif pd.api.types.is_float_dtype(values.dtype):
        numbers = values.to_numpy(dtype="float64")
        finite = np.isfinite(numbers)
        safe = np.where(finite, numbers, 0.0)
        if spec:
            text = np.char.mod(f"%{spec}", safe).astype(object)
        else:
            integral = finite & (safe == np.round(safe)) & (np.abs(safe) < 1e15)
            text = np.where(integral, np.char.mod("%d", safe.astype("int64")),
                            np.char.mod("%.4g", safe)).astype(object)
        text[~finite] = MISSING_TEXT
        return text
    else:
        text = values.astype("str").to_numpy(dtype=object, na_value=MISSING_TEXT)
    text[pd.isna(text)] = MISSING_TEXT
    return text


def evaluate_rules(rule_set: RuleSet, table: pd.DataFrame,
                   on_rule: Callable[[Rule], None] | None = None) -> RuleResults:
    """Evaluate every rule whose fields the table has; skip the rest with the reason.

    ``on_rule`` is called after each rule (the CLI advances its progress bar).
    """
    hits: dict[str, np.ndarray] = {}
    reasons: dict[str, np.ndarray] = {}
    skipped: dict[str, str] = {}
    for rule in rule_set:
        absent = missing_fields(rule, table.columns)
        if absent:
            skipped[rule.id] = f"needs column(s) the file lacks: {', '.join(absent)}"
            continue
        hits[rule.id], reasons[rule.id] = evaluate_rule(rule, table)
        if on_rule is not None:
            on_rule(rule)
    return RuleResults(
        hits=pd.DataFrame(hits, index=table.index, dtype=bool),
        reasons=pd.DataFrame(reasons, index=table.index, dtype=object),
        skipped=skipped,
        rules={rule.id: rule for rule in rule_set},
    )


def severity_rank(severity: str) -> int:
    """0 for low up to 3 for critical."""
    return SEVERITIES.index(severity)
