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
import pyarrow as pa
import pyarrow.compute as pc

from detector.derived import DERIVED_FROM
from detector.rules.model import SEVERITIES, AllOf, AnyOf, Condition, Leaf, Not, Rule, RuleSet
from detector.rules.predicates import PREDICATES, Context, TableCache
from detector.text_columns import text_scalar
from detector.threads import thread_pool

MISSING_TEXT = "(missing)"
# Group predicates may name their totals for the reason template (``as:``), which the
# rule's own context must receive, so their results are not shared between rules; nor
# is any other predicate's that names a value (``in_table`` with ``as:``).
_STATEFUL = {"group_count", "group_sum"}


@dataclass
class RuleResults:
    """What the rules found in one table.

    ``hits`` has one boolean column per evaluated rule (in rule order); ``reasons``
    maps each evaluated rule to the reasons of the rows it hit (a Series indexed by row); ``skipped`` maps
    the id of each rule that could not run to why.
    """

    hits: pd.DataFrame
    reasons: dict[str, pd.Series]
    skipped: dict[str, str] = field(default_factory=dict)
    rules: dict[str, Rule] = field(default_factory=dict)


def lacking_reason(rule: Rule, columns) -> str:
    """Why ``rule`` cannot run on a table of ``columns``, in columns a user can add.

    A derived field (value_per_kg) is no column of the file: for it the reason names
    the input columns behind it that the table lacks, e.g. "needs value_per_kg: add
    net_weight_kg or gross_weight_kg"; input fields are listed as "needs column(s)
    the file lacks: license_number" ("description or remarks" where either would
    do). Empty when the rule can run.
    """
    absent = [need for need in rule.needs if not any(f in columns for f in need)]
    inputs = [" or ".join(sorted(need)) for need in absent if not need & DERIVED_FROM.keys()]
    derived = [f"needs {' or '.join(sorted(need))}: add {' or '.join(_inputs_to_add(f, columns) for f in sorted(need))}"
               for need in absent if need & DERIVED_FROM.keys()]
    return "; ".join(([f"needs column(s) the file lacks: {', '.join(inputs)}"] if inputs else []) + derived)


def _inputs_to_add(name: str, columns) -> str:
    """The input columns ``name`` is computed from that ``columns`` lack ('a and b or c'
    for a and one of b, c); ``name`` itself when it is an input field."""
    groups = DERIVED_FROM.get(name, ((name,),))
    return " and ".join(" or ".join(group) for group in groups if not any(c in columns for c in group))


def evaluate_condition(condition: Condition, table: pd.DataFrame, ctx: Context) -> pd.arrays.BooleanArray:
    """Evaluate a condition tree with Kleene logic; unknown stays missing."""
    if isinstance(condition, Leaf):
        if not all(any(f in table for f in need) for need in condition.needs):
            return pd.arrays.BooleanArray(np.zeros(len(table), dtype=bool), np.ones(len(table), dtype=bool))
        predicate = PREDICATES[condition.name]
        if condition.name in _STATEFUL or "name" in condition.args or table is not ctx.cache.table:
            return predicate.function(table, ctx, **condition.args)
        key = (condition.name, repr(sorted(condition.args.items())), ctx.reference_dirs)
        if key not in ctx.cache.results:
            ctx.cache.results[key] = predicate.function(table, ctx, **condition.args)
        return ctx.cache.results[key]
    if isinstance(condition, Not):
        return ~evaluate_condition(condition.child, table, ctx)
    results = [evaluate_condition(child, table, ctx) for child in condition.children]
    combined = results[0]
    for result in results[1:]:
        combined = (combined & result) if isinstance(condition, AllOf) else (combined | result)
    return combined


def evaluate_rule(rule: Rule, table: pd.DataFrame, cache: TableCache | None = None,
                  unreadable: dict[str, pd.Series] | None = None) -> tuple[np.ndarray, pd.Series]:
    """Hits (bool per row) and the rendered reasons of the rows hit (indexed by row).

    ``cache`` shares distinct values and predicate results between rules; pass the
    same one for every rule evaluated on one table. ``unreadable`` is validation's
    record of the cells it could not read (``Declarations.unreadable``), which the
    ``unreadable`` predicate reads.
    """
    named: dict[str, pd.Series] = {}
    ctx = Context(cache or TableCache(table), reference_dirs=rule.reference_dirs, named=named,
                  unreadable=unreadable)
    ctx.evaluate = lambda condition, frame: evaluate_condition(condition, frame, ctx)
    outcome = evaluate_condition(rule.when, table, ctx)
    hits = outcome.to_numpy(dtype=bool, na_value=False) & _in_force(rule, table)
    rows = np.flatnonzero(hits)
    rendered = render_reason(rule.reason, table, named, rows)
    reasons = rendered.to_pandas().astype("str")
    reasons.index = table.index[rows]
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
                  rows: np.ndarray) -> pa.Array:
    """Fill ``template`` with the values of ``rows``, one column at a time."""
    parts: list = []
    for literal, name, spec, _conversion in string.Formatter().parse(template):
        if literal:
            parts.append(text_scalar(literal))
        if name is None:
            continue
        if name not in named and name not in table:
            parts.append(text_scalar(MISSING_TEXT))
            continue
        values = named[name] if name in named else table[name]
        parts.append(_reason_text(values.iloc[rows], spec))
    if not any(isinstance(part, pa.Array) for part in parts):  # a template without fields
        parts.append(pa.array([""] * len(rows), pa.large_string()))
    return pc.binary_join_element_wise(*parts, text_scalar(""), null_handling="replace",
                                       null_replacement=MISSING_TEXT)


def _reason_text(values: pd.Series, spec: str) -> pa.Array:
    """Values as text: dates ISO, numbers rounded (``.2f`` = 2 decimals, else 4)."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return pc.strftime(pa.array(values), format="%Y-%m-%d").cast(pa.large_string())
    if pd.api.types.is_float_dtype(values.dtype):
        numbers = pa.array(values.to_numpy(dtype="float64"), from_pandas=True)
        numbers = pc.if_else(pc.is_finite(numbers), numbers, pa.scalar(None, pa.float64()))
        return pc.round(numbers, int(spec[1:-1]) if spec else 4).cast(pa.large_string())
    return pa.array(values.astype("str"), from_pandas=True).cast(pa.large_string())


def compared_with_pack_values(condition: Condition) -> set[str]:
    """The fields a condition compares with values the pack supplies (``equals``,
    ``in``, ``not_in``, an ``in_table`` match), as opposed to other fields of the row."""
    if isinstance(condition, Leaf):
        if condition.name in ("equals", "in", "not_in"):
            return {condition.args["field"]}
        return set(condition.args["match"]) if condition.name == "in_table" else set()
    children = condition.children if isinstance(condition, (AllOf, AnyOf)) else (condition.child,)
    return set().union(*map(compared_with_pack_values, children))


def evaluate_rules(rule_set: RuleSet, table: pd.DataFrame,
                   on_rule: Callable[[Rule], None] | None = None,
                   opaque: frozenset[str] = frozenset(),
                   unreadable: dict[str, pd.Series] | None = None) -> RuleResults:
    """Evaluate every rule whose fields the table has; skip the rest with the reason.

    ``on_rule`` is called after each rule (the CLI advances its progress bar).
    ``opaque`` names fields of anonymised codes (a mapping's ``opaque`` format): a rule
    that compares one with a country of the pack or its tables could only be wrong
    (``not in producer countries`` would hit every row), so it is skipped, with the
    reason; comparing such fields with each other still runs. ``unreadable`` is
    validation's record of the cells it could not read (``Declarations.unreadable``).
    """
    hits: dict[str, np.ndarray] = {}
    reasons: dict[str, pd.Series] = {}
    skipped: dict[str, str] = {}
    cache = TableCache(table)
    runnable = []
    for rule in rule_set:
        lacking = lacking_reason(rule, table.columns)
        anonymised = sorted(compared_with_pack_values(rule.when) & opaque)
        if lacking:
            skipped[rule.id] = lacking
        elif anonymised:
            skipped[rule.id] = (f"compares {', '.join(anonymised)} with the pack's values, but the mapping "
                                "declares anonymised codes there (opaque)")
        else:
            runnable.append(rule)
    # Rules only read the table, and what they share in the cache is the same whoever
    # computes it first, so they run side by side; results are taken in rule order.
    with thread_pool(len(runnable), rows=len(table)) as pool:
        outcomes = pool.map(lambda rule: evaluate_rule(rule, table, cache, unreadable), runnable)
        for rule, outcome in zip(runnable, outcomes):
            hits[rule.id], reasons[rule.id] = outcome
            if on_rule is not None:
                on_rule(rule)
    return RuleResults(
        hits=pd.DataFrame(hits, index=table.index, dtype=bool),
        reasons=reasons,
        skipped=skipped,
        rules={rule.id: rule for rule in rule_set},
    )


def severity_rank(severity: str) -> int:
    """0 for low up to 3 for critical."""
    return SEVERITIES.index(severity)
