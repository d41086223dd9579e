"""Rule hits and the anomaly score -> risk score, lane and the reasons an analyst reads.

The combination is a noisy-OR: each hit rule, and the anomaly score, is treated as an
independent piece of evidence with a weight in (0, 1), and
``risk = 1 - prod(1 - weight)``. Two medium hits outrank one, no amount of evidence
passes 1, and a row with no evidence scores 0.

- A hit rule weighs its severity's weight (:class:`RiskPolicy`: low 0.15, medium 0.35,
  high 0.6, critical 0.9).
- The anomaly score (the share of the model's history less strange than the row)
  weighs nothing up to ``anomaly_from`` (0.95) and then rises linearly to
  ``anomaly_weight`` (0.5) at 1. Most of trade is unusual in some way, so only the
  strangest few percent count; and since unusual is not fraudulent, the anomaly alone
  reaches the yellow lane (documentary check) but never the red one; with a medium
  rule hit it does (0.35 and 0.5 give 0.675).
- A ``critical`` rule always sends its row to the red lane, whatever the thresholds or
  the budget, because it encodes a legal breach (e.g. controlled goods without a
  licence), not a suspicion.

- With a supervised model (learned from inspection outcomes), its fraud probability
  ``p`` joins as one more piece of evidence, weighing ``p`` itself, and the rules and
  the anomaly keep ``with_supervised`` (0.25) of their evidence:
  ``risk = 1 - (1 - p) * (1 - rules_and_anomaly) ** 0.25``. The model was trained on
  the rule hits and the anomaly features, so counting them in full beside it would
  count them twice; keeping a share lets a rule the model has rarely seen hit still
  lift a row. A critical rule still sends its row to red.

``rule_score`` is the same noisy-OR over the rules alone, kept beside ``risk_score`` so
the parts can be measured separately (``detector evaluate``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from detector.errors import DetectorError
from detector.rules.evaluate import RuleResults, severity_rank
from detector.tables import choose_text, join_per_row, join_texts, text_scalar

LANES = ("red", "yellow", "green")
OUTPUT_COLUMNS = ("risk_score", "lane", "rule_hits", "reasons", "status", "errors")
HIT_SEPARATOR = ";"
# A supervised probability below this says nothing worth reading in a flagged row's reasons.
SUPERVISED_EXPLAIN_FROM = 0.05
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
    anomaly_weight : float
        Weight of the strangest possible row (anomaly score 1), in [0, 1); 0 leaves
        the anomaly score out of ``risk_score``.
    anomaly_from : float
        Anomaly scores up to this add nothing; above it the weight rises linearly.
    with_supervised : float
        With a supervised probability, the share of the rules' and anomaly's evidence
        kept (an exponent on their survival), in [0, 1].

    The defaults were chosen on the shipped synthetic history, then checked on the
    shipped 2026 sample (README, "Measured quality").
    """

    severity_weights: dict[str, float] = field(default_factory=lambda: {
        "low": 0.15, "medium": 0.35, "high": 0.6, "critical": 0.9})
    red: float = 0.6
    yellow: float = 0.3
    anomaly_weight: float = 0.5
    anomaly_from: float = 0.95
    with_supervised: float = 0.25

    def __post_init__(self):
        if not 0 < self.yellow <= self.red <= 1:
            raise DetectorError(f"lane thresholds must satisfy 0 < yellow <= red <= 1, "
                                f"got yellow={self.yellow} red={self.red}")
        if not 0 <= self.anomaly_weight < 1 or not 0 <= self.anomaly_from < 1:
            raise DetectorError(f"anomaly_weight and anomaly_from must be in [0, 1), got "
                                f"{self.anomaly_weight} and {self.anomaly_from}")
        if not 0 <= self.with_supervised <= 1:
            raise DetectorError(f"with_supervised must be in [0, 1], got {self.with_supervised}")

    def anomaly_evidence(self, anomaly_score: np.ndarray) -> np.ndarray:
        """The weight each row's anomaly score adds to the noisy-OR (0 for most rows)."""
        ramp = (np.asarray(anomaly_score, dtype=np.float64) - self.anomaly_from) / (1.0 - self.anomaly_from)
        return self.anomaly_weight * np.clip(np.nan_to_num(ramp, nan=0.0), 0.0, 1.0)


def combine(results: RuleResults, n_rows: int, policy: RiskPolicy = RiskPolicy(),
            budget: float | None = None, anomaly: np.ndarray | None = None,
            explain: Callable[[np.ndarray], Sequence[str]] | None = None,
            explore: float = 0.0, seed: int = 0, supervised: np.ndarray | None = None,
            explain_supervised: Callable[[np.ndarray], Sequence[str]] | None = None,
            anomaly_of: str = "the history") -> pd.DataFrame:
    """Risk score, lane, hit rule ids and reasons per row (and ``rule_score``).

    Rules are listed most severe first, then in pack order, so the first reason is
    the one to read first. With ``budget`` (percent of rows) the red lane is chosen by
    capacity instead of threshold, ``explore`` percent of it at random with ``seed``
    (see :func:`budget_red`); a ``selection`` column then says why each red row was
    picked: ``risk`` or ``explore``.

    Parameters
    ----------
    anomaly : array of float, optional
        Each row's anomaly score in [0, 1] (NaN: none), folded in as described above.
    explain : callable, optional
        Given the positions of the rows whose anomaly counted and that are not in the
        green lane, returns why each is strange; the text follows the rule reasons as
        ``[anomaly] stranger than 99.7% of the history: ...``. Explaining walks every
        tree for a row, so only the rows an analyst will look at are explained.
    anomaly_of : str
        What the anomaly scores rank a row against, in those words: "the history" for
        a model trained on past declarations, "this file" for one fitted on the batch.
    supervised : array of float, optional
        Each row's fraud probability from a supervised model, blended as above.
    explain_supervised : callable, optional
        Like ``explain``, for the rows not in the green lane whose probability is at
        least 0.05: ``[model] fraud probability 0.83 from past inspections: ...``.
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
        hit_texts.append(join_texts(f"[{rule_id}] ", reasons))
    rule_score = np.round(1.0 - survival, 4)
    evidence = policy.anomaly_evidence(anomaly) if anomaly is not None else np.zeros(n_rows)
    probability = np.nan_to_num(supervised, nan=0.0) if supervised is not None else None
    remaining = survival * (1.0 - evidence)
    if probability is not None:
        remaining = (1.0 - probability) * remaining ** policy.with_supervised
    risk = np.round(1.0 - remaining, 4)
    if budget is not None:
        red, explored = budget_red(risk, critical, budget, explore, seed)
    else:
        red, explored = critical | (risk >= policy.red), None
    lane_code = np.where(red, 2, np.where(risk >= policy.yellow, 1, 0))
    rule_rows = np.concatenate(hit_rows) if hit_rows else np.zeros(0, dtype=np.int64)
    # Reasons after the rules' own, in this order: anomaly, supervised model, exploration.
    reason_rows, reason_texts = [rule_rows], list(hit_texts)
    flagged = lane_code > 0
    explained = np.flatnonzero((evidence > 0) & flagged)
    if explain is not None and len(explained):
        reason_rows.append(explained)
        reason_texts.append(anomaly_reasons(np.asarray(anomaly)[explained], explain(explained), anomaly_of))
    if probability is not None and explain_supervised is not None:
        learned = np.flatnonzero((probability >= SUPERVISED_EXPLAIN_FROM) & flagged)
        if len(learned):
            reason_rows.append(learned)
            reason_texts.append(supervised_reasons(probability[learned], explain_supervised(learned)))
    if explored is not None:
        reason_rows.append(np.flatnonzero(explored))
        reason_texts.append(pa.repeat(text_scalar("[explore] random check from the budget's exploration share"),
                                      int(explored.sum())))
    columns = {
        "risk_score": risk,
        "lane": choose_text(["green", "yellow", "red"], lane_code),
        "rule_hits": join_per_row(rule_rows, pa.chunked_array(hit_ids, pa.large_string()), n_rows, HIT_SEPARATOR),
        "reasons": join_per_row(np.concatenate(reason_rows), pa.chunked_array(reason_texts, pa.large_string()),
                                n_rows, REASON_SEPARATOR),
        "rule_score": rule_score,
    }
    if explored is not None:
        columns["selection"] = choose_text(["", "risk", "explore"], np.where(explored, 2, np.where(red, 1, 0)))
    return pd.DataFrame(columns)


def supervised_reasons(probabilities: np.ndarray, explanations: Sequence[str]) -> pa.Array:
    """``[model] fraud probability 0.83 from past inspections: <explanation>`` per row."""
    # Shown with two decimals and at most 0.99: a model's "1" would read as certainty.
    shown = np.minimum(np.round(probabilities, 2), 0.99)
    return _stated("[model] fraud probability ", shown, " from past inspections", explanations)


def anomaly_reasons(scores: np.ndarray, explanations: Sequence[str], of: str = "the history") -> pa.Array:
    """``[anomaly] stranger than 99.7% of the history: <explanation>`` per explained row
    (``of``: what the scores rank against, "this file" for a model fitted on it)."""
    return _stated("[anomaly] stranger than ", np.floor(scores * 1000) / 10, f"% of {of}", explanations)


def _stated(prefix: str, numbers: np.ndarray, suffix: str, explanations: Sequence[str]) -> pa.Array:
    """``prefix + number + suffix``, then ``: explanation`` when there is one, per row."""
    shown = pc.cast(pa.array(numbers), pa.large_string())
    words = pa.array(list(explanations), type=pa.large_string())
    stated = pc.if_else(pc.equal(words, ""), text_scalar(""), join_texts(": ", words))
    return join_texts(prefix, shown, suffix, stated)


def budget_red(risk: np.ndarray, critical: np.ndarray, budget: float, explore: float = 0.0,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The rows to inspect when capacity is ``budget`` percent of the rows.

    Exactly ``k = floor(rows * budget / 100)`` rows. ``explore`` percent of them
    (``floor(k * explore / 100)``) are drawn at random, with ``seed``, among the rows
    the risk did not pick; the rest are the highest risk first. Rows hit by a critical
    rule come before all others and ties keep file order, so the same file always
    selects the same rows. A critical row is always red, even when there are more of
    them than the budget allows.

    Why explore: a detector that only ever inspects what it already ranks high only
    ever learns about that; random checks measure the fraud it misses and give the
    supervised model unbiased labels, as real selectivity systems keep doing.

    Returns
    -------
    (red, explored) : arrays of bool
        All rows to inspect, and which of them the random share picked.
    """
    n = len(risk)
    k = int(np.floor(n * budget / 100 + 1e-9))
    k_explore = int(np.floor(k * explore / 100 + 1e-9))
    order = np.lexsort((np.arange(n), -risk, ~critical))
    red = np.zeros(n, dtype=bool)
    red[order[:k - k_explore]] = True
    red |= critical
    explored = np.zeros(n, dtype=bool)
    rest = np.flatnonzero(~red)
    if k_explore and len(rest):
        explored[np.random.default_rng(seed).choice(rest, min(k_explore, len(rest)), replace=False)] = True
    return red | explored, explored
