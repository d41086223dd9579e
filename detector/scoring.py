"""Scoring: declarations + rules -> one output row per input row, plus a summary.

The output keeps every input column untouched and in order, then adds the detector's
columns; a row that failed validation is still scored on its usable cells and marked
``status=invalid`` with its ``errors``, so nothing the analyst sent is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from detector.declarations import Declarations
from detector.risk import LANES, OUTPUT_COLUMNS, RiskPolicy, combine
from detector.rules import RuleResults, RuleSet, evaluate_rules, load_rules


ANOMALY_COLUMNS = ("anomaly_score", "anomaly_percentile", "anomaly_reasons")
# Explaining a row walks every tree for it, so only the strangest rows get reasons: those
# stranger than this share of the training history.
EXPLAIN_ABOVE = 0.99


def anomaly_columns(model, table: pd.DataFrame) -> pd.DataFrame:
    """Anomaly score, its percentile in this file and, for the strangest rows, why."""
    scores = model.score(table).reset_index(drop=True)
    reasons = pd.Series("", index=scores.index, dtype="str")
    strange = np.flatnonzero(scores["anomaly_score"].to_numpy() >= EXPLAIN_ABOVE)
    if len(strange):
        reasons.iloc[strange] = model.explain(table, rows=table.index[strange]).to_numpy()
    return scores.assign(anomaly_score=scores["anomaly_score"].round(4),
                         anomaly_percentile=scores["anomaly_percentile"].round(2),
                         anomaly_reasons=reasons)


@dataclass
class ScoreSummary:
    """Counts an analyst checks first: rows, invalid rows, lanes, top rules, skipped rules."""

    source: str
    rows: int
    invalid_rows: int
    lanes: dict[str, int]
    rule_hits: dict[str, int]
    skipped_rules: dict[str, str]
    rules_evaluated: int
    replaced_columns: list[str] = field(default_factory=list)

    def lines(self, top: int = 10) -> list[str]:
        """The summary as short text lines (what the CLI prints on stderr)."""
        lines = [
            f"{self.source}: {self.rows} rows read, {self.invalid_rows} invalid",
            "lanes: " + ", ".join(f"{lane} {self.lanes.get(lane, 0)}" for lane in LANES),
            f"rules: {self.rules_evaluated} evaluated, {len(self.skipped_rules)} skipped",
        ]
        ranked = sorted(((n, r) for r, n in self.rule_hits.items() if n), key=lambda x: (-x[0], x[1]))
        if ranked:
            lines.append("top rules: " + ", ".join(f"{r} {n}" for n, r in ranked[:top]))
        for rule_id, why in sorted(self.skipped_rules.items()):
            lines.append(f"skipped {rule_id}: {why}")
        if self.replaced_columns:
            lines.append("replaced input column(s) named like output columns: "
                         + ", ".join(self.replaced_columns))
        return lines


@dataclass
class ScoreResult:
    """Everything one scoring run produced.

    ``output`` is what gets written: the input columns, then risk_score, lane,
    rule_hits, reasons, status and errors. ``rule_results`` keeps the per-rule hit
    matrix and reasons for exploring in a notebook.
    """

    output: pd.DataFrame
    rule_results: RuleResults
    summary: ScoreSummary
    declarations: Declarations


def score(declarations: Declarations, rules: RuleSet | None = None,
          policy: RiskPolicy | None = None, on_rule=None, model=None,
          budget: float | None = None) -> ScoreResult:
    """Score declarations with a rule set.

    Parameters
    ----------
    declarations : Declarations
        From :func:`detector.load_declarations`.
    rules : RuleSet, optional
        From :func:`detector.load_rules`; the shipped packs when omitted.
    policy : RiskPolicy, optional
        Severity weights and lane thresholds.
    on_rule : callable, optional
        Called with each rule once it has been evaluated (progress reporting).
    model : detector.anomaly.AnomalyModel, optional
        Adds ``anomaly_score``, ``anomaly_percentile`` and, for the strangest rows,
        ``anomaly_reasons`` beside the rule columns. The anomaly score does not yet feed
        ``risk_score`` or the lanes.
    budget : float, optional
        Inspection capacity in percent of rows: exactly that many rows go to the red
        lane, highest risk first (critical rules first, ties in file order), instead
        of the red threshold.

    Returns
    -------
    ScoreResult
    """
    rules = rules if rules is not None else load_rules()
    policy = policy or RiskPolicy()
    results = evaluate_rules(rules, declarations.table, on_rule)
    risk = combine(results, len(declarations), policy, budget)
    status = np.where(declarations.invalid, "invalid", "valid")
    added = risk.assign(status=pd.Series(status, dtype="str"), errors=declarations.errors.to_numpy())
    columns = list(OUTPUT_COLUMNS)
    if model is not None:
        added = pd.concat([added, anomaly_columns(model, declarations.table)], axis=1)
        columns[columns.index("reasons") + 1:columns.index("reasons") + 1] = list(ANOMALY_COLUMNS)
    raw = declarations.raw
    replaced = [c for c in columns if c in raw.columns]
    output = pd.concat([raw.drop(columns=replaced).reset_index(drop=True), added[columns]], axis=1)
    counts = results.hits.sum().astype(int).to_dict()
    lane_counts = pd.Series(risk["lane"]).value_counts().to_dict()
    summary = ScoreSummary(
        source=declarations.source, rows=len(declarations), invalid_rows=int(declarations.invalid.sum()),
        lanes={lane: int(lane_counts.get(lane, 0)) for lane in LANES}, rule_hits=counts,
        skipped_rules=results.skipped, rules_evaluated=results.hits.shape[1], replaced_columns=replaced,
    )
    return ScoreResult(output, results, summary, declarations)
