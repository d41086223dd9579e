"""Rule hits -> risk score, lane and the reasons an analyst reads.

The combination is a noisy-OR of severity weights: each hit rule is treated as an
independent piece of evidence, so ``risk = 1 - prod(1 - weight)``. Two medium hits
outrank one, no number of hits passes 1, and a row with no hit scores 0. A ``critical``
rule always sends its row to the red lane, whatever the thresholds, because it encodes
a legal breach (e.g. controlled goods without a licence), not a suspicion.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from detector.errors import DetectorError
from detector.rules.evaluate import RuleResults, severity_rank
from detector.tables import join_per_row, text_scalar

LANES = ("red", "yellow", "green")
OUTPUT_COLUMNS = ("risk_score", "lane", "rule_hits", "reasons", "status", "errors")
HIT_SEPARATOR = ";"
REASON_SEPARATOR = " | "


@dataclass(frozen=True)
class RiskPolicy:
    """How severities become a risk score and lanes.

    Attributes
    ----------
    severity_weights : dict
        Weight of one hit per severity, in (0, 1).
    red, yellow : float
        ``risk_score >= red`` is the red lane (physical inspection), ``>= yellow`` the
        yellow lane (documentary check), the rest green.
    """

    severity_weights: dict[str, float] = field(default_factory=lambda: {
        "low": 0.15, "medium": 0.35, "high": 0.6, "critical": 0.9})
    red: float = 0.6
    yellow: float = 0.3

    def __post_init__(self):
        if not 0 < self.yellow <= self.red <= 1:
            raise DetectorError(f"lane thresholds must satisfy 0 < yellow <= red <= 1, "
                                f"got yellow={self.yellow} red={self.red}")


def combine(results: RuleResults, n_rows: int, policy: RiskPolicy = RiskPolicy(),
            budget: float | None = None) -> pd.DataFrame:
    """Risk score, lane, hit rule ids and reasons per row.

    Rules are listed most severe first, then in pack order, so the first reason is
    the one to read first. With ``budget`` (percent of rows) the red lane is chosen by
    capacity instead of threshold, see :func:`budget_red`.
    """
    survival = np.ones(n_rows)
    critical = np.zeros(n_rows, dtype=bool)
    hit_rows: list[np.ndarray] = []
    hit_ids: list[pa.Array] = []
    hit_texts: list[pa.Array] = []
    ordered = sorted(results.hits.columns,
                     key=lambda rule_id: -severity_rank(results.rules[rule_id].severity))
    for rule_id in ordered:
        hits = results.hits[rule_id].to_numpy(dtype=bool)
        rows = np.flatnonzero(hits)
        if not len(rows):
            continue
        severity = results.rules[rule_id].severity
        survival[rows] *= 1.0 - policy.severity_weights[severity]
        critical[rows] |= severity == "critical"
        reasons = pa.array(results.reasons[rule_id], from_pandas=True).cast(pa.large_string())
        hit_rows.append(rows)
        hit_ids.append(pa.repeat(text_scalar(rule_id), len(rows)))
        hit_texts.append(pc.binary_join_element_wise(text_scalar(f"[{rule_id}] "), reasons, text_scalar("")))
    rows = np.concatenate(hit_rows) if hit_rows else np.zeros(0, dtype=np.int64)
    risk = np.round(1.0 - survival, 4)
    red = budget_red(risk, critical, budget) if budget is not None else critical | (risk >= policy.red)
    lane = np.where(red, "red", np.where(risk >= policy.yellow, "yellow", "green"))
    return pd.DataFrame({
        "risk_score": risk,
        "lane": pd.Series(lane, dtype="str"),
        "rule_hits": join_per_row(rows, pa.chunked_array(hit_ids, pa.large_string()), n_rows, HIT_SEPARATOR),
        "reasons": join_per_row(rows, pa.chunked_array(hit_texts, pa.large_string()), n_rows,
                                REASON_SEPARATOR),
    })


def budget_red(risk: np.ndarray, critical: np.ndarray, budget: float) -> np.ndarray:
    """The rows to inspect when capacity is ``budget`` percent of the rows.

    Exactly ``floor(rows * budget / 100)`` rows, the highest risk first; rows hit by a
    critical rule come before all others, and ties keep file order, so the same file
    always selects the same rows. A critical row is always red, even when there are
    more of them than the budget allows.
    """
    k = int(np.floor(len(risk) * budget / 100 + 1e-9))
    order = np.lexsort((np.arange(len(risk)), -risk, ~critical))
    red = np.zeros(len(risk), dtype=bool)
    red[order[:k]] = True
    return red | critical
