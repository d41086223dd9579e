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
  the anomaly keep ``kept_beside_supervised`` (0.25) of their evidence:
  ``risk = 1 - (1 - p) * (1 - rules_and_anomaly) ** 0.25``. The model was trained on
  the rule hits and the anomaly features, so counting them in full beside it would
  count them twice; keeping a share lets a rule the model has rarely seen hit still
  lift a row. A critical rule still sends its row to red.

``rule_score`` is the same noisy-OR over the rules alone, kept beside ``risk_score`` so
the parts can be measured separately (``detector evaluate``).

Scoring runs the stages in order, each a pure function of what the one before gave:
:func:`rule_evidence` (hits -> weights, critical rows, reasons), :func:`risk_scores`
(with the models' scores), :func:`assign_lanes` (thresholds or budget), then the
models are asked for the words of the flagged rows only (:func:`anomaly_explained`,
:func:`supervised_explained`) and :func:`reasons_column` joins everything;
:func:`output_columns` is the one place that orders the columns written.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from detector.errors import DetectorError
from detector.rules.engine import RuleResults, severity_rank
from detector.rules.model import ANGLES
from detector.text_columns import HIT_SEPARATOR, choose_text, join_per_row, join_texts, text_scalar

LANES = ("red", "yellow", "green")
# The lanes an analyst acts on: physical inspection and a documents check.
FLAGGED_LANES = LANES[:2]
# A supervised probability below this says nothing worth reading in a flagged row's reasons.
SUPERVISED_EXPLAIN_FROM = 0.05
REASON_SEPARATOR = " | "
# Severity rank from which a hit counts as an angle of corroboration (1: medium).
CORROBORATES_FROM = 1


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
    kept_beside_supervised : float
        With a supervised probability, the share of the rules' and anomaly's evidence
        kept (an exponent on their survival), in [0, 1].
    single_angle_max : float
        The highest risk of a row whose evidence comes from one angle only (one
        channel rule, say) and no critical rule: between ``yellow`` and ``red``, so
        such a row is at most yellow; equal to ``red`` turns corroboration off.
    informative_share, informative_floor, informative_min_rows :
        A rule that hits a large share of a file tells less about each row it hits than
        one that hits a few (an inverse-frequency weight, as in text retrieval): a rule
        hitting up to ``informative_share`` (1%) of the rows keeps its severity's
        weight; above, the weight is multiplied by ``1 - 0.5 * log10(share /
        informative_share)``, down to ``informative_floor`` (0.5, reached at 10 times
        the share). Critical rules (legal breaches) and mitigating rules keep theirs,
        and files of fewer than ``informative_min_rows`` rows (1,000) are too small to
        say what is common, so every rule keeps its weight there.
    anomaly_yellow_max : float
        Percent of a file's rows that the anomaly alone (rows the rules and the
        supervised model leave green) may send to the yellow lane: the strangest ones,
        like a budget. A model trained on last year's trade finds most of a changed
        trade strange; without the cap it fills the yellow lane. The rows over the cap
        keep their ``risk_score`` (the ranking and a budget still use it) and go green.
    shift_warning_from : float
        The summary warns that the trade has shifted away from the model's history when
        more than this share of the rows would reach the yellow lane on the anomaly
        alone (the history itself puts about ``1 - yellow reach`` there, 2%).

    The defaults were chosen on the shipped synthetic history, then checked on the
    shipped 2026 sample (README, "Measured quality").
    """

    severity_weights: dict[str, float] = field(default_factory=lambda: {
        "low": 0.15, "medium": 0.35, "high": 0.6, "critical": 0.9})
    red: float = 0.6
    yellow: float = 0.3
    anomaly_weight: float = 0.5
    anomaly_from: float = 0.95
    kept_beside_supervised: float = 0.25
    single_angle_max: float = 0.55
    informative_share: float = 0.01
    informative_floor: float = 0.5
    informative_min_rows: int = 1000
    anomaly_yellow_max: float = 2.0
    shift_warning_from: float = 0.05

    def __post_init__(self):
        if not 0 < self.yellow <= self.red <= 1:
            raise DetectorError(f"lane thresholds must satisfy 0 < yellow <= red <= 1, "
                                f"got yellow={self.yellow} red={self.red}")
        if not 0 <= self.anomaly_weight < 1 or not 0 <= self.anomaly_from < 1:
            raise DetectorError(f"anomaly_weight and anomaly_from must be in [0, 1), got "
                                f"{self.anomaly_weight} and {self.anomaly_from}")
        if not 0 <= self.kept_beside_supervised <= 1:
            raise DetectorError(f"kept_beside_supervised must be in [0, 1], got {self.kept_beside_supervised}")
        if not 0 < self.informative_share <= 1 or not 0 < self.informative_floor <= 1:
            raise DetectorError(f"informative_share and informative_floor must be in (0, 1], got "
                                f"{self.informative_share} and {self.informative_floor}")
        if not 0 <= self.anomaly_yellow_max <= 100 or not 0 < self.shift_warning_from <= 1:
            raise DetectorError(f"anomaly_yellow_max must be a percent in [0, 100] and shift_warning_from a share "
                                f"in (0, 1], got {self.anomaly_yellow_max} and {self.shift_warning_from}")
        if not self.yellow <= self.single_angle_max <= self.red:
            raise DetectorError(f"single_angle_max must lie between yellow and red (equal to red turns "
                                f"corroboration off), got {self.single_angle_max}")

    def informativeness(self, hits: int, rows: int) -> float:
        """The factor on the weight of a rule that hit ``hits`` of ``rows`` rows (see
        ``informative_share``): 1 for a rare rule, down to ``informative_floor``."""
        if rows < self.informative_min_rows or hits <= 0:
            return 1.0
        share = hits / rows
        if share <= self.informative_share:
            return 1.0
        return max(self.informative_floor, 1.0 - 0.5 * float(np.log10(share / self.informative_share)))

    def rule_weight(self, rule, hits: int, rows: int) -> float:
        """The weight one hit of ``rule`` adds on a file of ``rows`` rows where it hit
        ``hits``: its severity's weight, times its informativeness unless critical."""
        weight = self.severity_weights[rule.severity]
        return weight if rule.severity == "critical" else weight * self.informativeness(hits, rows)

    def anomaly_evidence(self, anomaly_score: np.ndarray) -> np.ndarray:
        """The weight each row's anomaly score adds to the noisy-OR (0 for most rows)."""
        ramp = (np.asarray(anomaly_score, dtype=np.float64) - self.anomaly_from) / (1.0 - self.anomaly_from)
        return self.anomaly_weight * np.clip(np.nan_to_num(ramp, nan=0.0), 0.0, 1.0)


@dataclass(frozen=True)
class RuleEvidence:
    """What the hit rules say about each row, before any model is consulted.

    Attributes
    ----------
    survival : array of float
        Per row, the product of ``1 - weight`` over its hit rules (1: no hit).
    critical : array of bool
        Rows hit by a critical rule (a legal breach: always red).
    rows, ids, texts :
        One entry per (rule, row) hit, the most severe rule first, then pack order:
        the row, the rule id and its ``[ID] reason`` text.
    """

    survival: np.ndarray
    critical: np.ndarray
    rows: np.ndarray
    ids: pa.ChunkedArray
    texts: pa.ChunkedArray
    angles: np.ndarray  # bit i set: a hit spoke from ANGLES[i]
    own_angles: np.ndarray  # hits of rules that declare no angle, each its own

    def rules_risk(self, policy: "RiskPolicy") -> np.ndarray:
        """The risk of the rules alone: their noisy-OR, held at ``single_angle_max``
        where it speaks from one angle only."""
        single = _single_angle(self.angles, self.own_angles, self.critical)
        return _held(1.0 - self.survival, single, policy)

    def rule_score(self, policy: "RiskPolicy") -> np.ndarray:
        """What ``risk_score`` would be with the rules alone, rounded as written."""
        return np.round(self.rules_risk(policy), 4)

    def rule_hits(self) -> pd.Series:
        """The ``rule_hits`` column: hit rule ids per row, most severe first."""
        return join_per_row(self.rows, self.ids, len(self.survival), HIT_SEPARATOR)


def rule_evidence(results: RuleResults, n_rows: int, policy: RiskPolicy = RiskPolicy()) -> RuleEvidence:
    """Each row's evidence from the rules: its survival under the noisy-OR, whether a
    critical rule hit it, the angles its hits speak from and their ids and reasons,
    most severe rule first.

    Rules of one ``pattern`` speaking from the same angles that hit the same row
    describe one suspicion seen through several conditions (a ceramic parcel to a
    non-ceramics firm and a ceramic parcel from China: both the channel), so they count
    once, at the weight of the strongest of them. A rule that declares no angle is
    evidence of its own. A low rule adds its weight but no angle: it nudges the score
    and never corroborates another. A rule that hits a large share of the file weighs
    less (:meth:`RiskPolicy.informativeness`). A mitigating rule (``mitigates: [channel, ...]``)
    adds nothing; it multiplies the weight of the rules that speak only from the angles
    it names by ``1 - its weight`` on its rows (:func:`_mitigation`).
    """
    strongest: dict[object, np.ndarray] = {}
    critical = np.zeros(n_rows, dtype=bool)
    angles = np.zeros(n_rows, dtype=np.uint16)
    own_angles = np.zeros(n_rows, dtype=np.int64)
    hit_rows: list[np.ndarray] = []
    hit_ids: list[pa.Array] = []
    hit_texts: list[pa.Array] = []
    lowered = _mitigation(results, n_rows, policy)
    ordered = sorted(results.hits.columns,
                     key=lambda rule_id: (results.rules[rule_id].mitigates,
                                          -severity_rank(results.rules[rule_id].severity)))
    for rule_id in ordered:
        rows = np.flatnonzero(results.hits[rule_id].to_numpy(dtype=bool))
        if not len(rows):
            continue
        rule = results.rules[rule_id]
        reasons = pa.array(results.reasons[rule_id], from_pandas=True).cast(pa.large_string())
        hit_rows.append(rows)
        hit_ids.append(pa.repeat(text_scalar(rule_id), len(rows)))
        hit_texts.append(join_texts(f"[{rule_id}] ", reasons))
        if rule.mitigates:
            continue
        weight = strongest.setdefault((rule.pattern, rule.evidence) if rule.evidence else rule.id, np.zeros(n_rows))
        factor = lowered.get(rule.evidence)
        strength = policy.rule_weight(rule, len(rows), n_rows) * (factor[rows] if factor is not None else 1.0)
        weight[rows] = np.maximum(weight[rows], strength)
        critical[rows] |= rule.severity == "critical"
        if severity_rank(rule.severity) < CORROBORATES_FROM:
            pass  # a low rule nudges the score; it does not corroborate
        elif rule.evidence:
            angles[rows] |= np.uint16(sum(1 << ANGLES.index(angle) for angle in rule.evidence))
        else:
            own_angles[rows] += 1
    survival = np.ones(n_rows)
    for weight in strongest.values():
        survival *= 1.0 - weight
    rows = np.concatenate(hit_rows) if hit_rows else np.zeros(0, dtype=np.int64)
    return RuleEvidence(survival, critical, rows, pa.chunked_array(hit_ids, pa.large_string()),
                        pa.chunked_array(hit_texts, pa.large_string()), angles, own_angles)


def _single_angle(angles: np.ndarray, own_angles: np.ndarray, critical: np.ndarray,
                  more: np.ndarray | None = None) -> np.ndarray:
    """Rows whose evidence comes from fewer than two angles and no critical rule;
    ``more`` counts further angles per row (the models')."""
    count = np.bitwise_count(angles).astype(np.int64) + own_angles
    if more is not None:
        count = count + more
    return ~critical & (count < 2)


def _held(risk: np.ndarray, single: np.ndarray, policy: RiskPolicy) -> np.ndarray:
    return np.where(single, np.minimum(risk, policy.single_angle_max), risk)


def _mitigation(results: RuleResults, n_rows: int, policy: RiskPolicy) -> dict[tuple[str, ...], np.ndarray]:
    """Per angle set of the suspicion rules, the factor their weight is multiplied by
    on each row: ``prod(1 - weight)`` over the mitigating rules hit there that lower
    every one of those angles (a licence on file lowers a channel rule, not a price
    rule). A critical rule is never lowered."""
    mitigating = [results.rules[rule_id] for rule_id in results.hits.columns if results.rules[rule_id].mitigates]
    factors: dict[tuple[str, ...], np.ndarray] = {}
    if not mitigating:
        return factors
    for evidence in {rule.evidence for rule in results.rules.values()
                     if rule.evidence and not rule.mitigates and rule.severity != "critical"}:
        factor = np.ones(n_rows)
        for rule in mitigating:
            if set(evidence) <= set(rule.mitigates):
                hit = results.hits[rule.id].to_numpy(dtype=bool)
                factor[hit] *= 1.0 - policy.severity_weights[rule.severity]
        factors[evidence] = factor
    return factors


@dataclass(frozen=True)
class RiskScores:
    """``risk_score`` per row and the rows held below red for want of corroboration
    (their evidence was strong enough for red, but from one angle only)."""

    risk: np.ndarray
    held: np.ndarray
    anomaly_alone: np.ndarray | None = None  # yellow by the anomaly only: risk without it below yellow


def risk_scores(evidence: RuleEvidence, policy: RiskPolicy = RiskPolicy(),
                anomaly: np.ndarray | None = None, supervised: np.ndarray | None = None) -> RiskScores:
    """``risk_score`` per row: the rules' noisy-OR with the anomaly's evidence and, with
    a supervised model, its probability (module docstring), rounded as written.

    A row whose rule and anomaly evidence speaks from one angle only (rules'
    ``evidence:``, the anomaly when it counts) and that no critical rule hit is held at
    ``policy.single_angle_max``: one line of suspicion is a documentary check, not an
    inspection. (Mitigating rules have already lowered the weights of the angles they
    name: :func:`rule_evidence`.) A supervised probability is blended in after: learned
    from inspection outcomes, it is corroborated by them.

    Parameters
    ----------
    anomaly : array of float, optional
        Each row's anomaly score in [0, 1] (NaN: none).
    supervised : array of float, optional
        Each row's fraud probability from a supervised model (NaN: none).
    """
    remaining = evidence.survival.copy()
    anomaly_angle = None
    if anomaly is not None:
        weight = policy.anomaly_evidence(anomaly)
        remaining *= 1.0 - weight
        anomaly_angle = (weight > 0).astype(np.int64)
    single = _single_angle(evidence.angles, evidence.own_angles, evidence.critical, anomaly_angle)
    held = single & (1.0 - remaining > policy.single_angle_max)
    risk = _blend_supervised(_held(1.0 - remaining, single, policy), supervised, policy)
    alone = None
    if anomaly is not None:
        without = _blend_supervised(evidence.rules_risk(policy), supervised, policy)
        alone = (np.round(risk, 4) >= policy.yellow) & (np.round(without, 4) < policy.yellow)
    return RiskScores(np.round(risk, 4), held, alone)


def _blend_supervised(risk: np.ndarray, supervised: np.ndarray | None, policy: RiskPolicy) -> np.ndarray:
    """The risk with a supervised probability blended in (module docstring)."""
    if supervised is None:
        return risk
    return 1.0 - (1.0 - np.nan_to_num(supervised, nan=0.0)) * (1.0 - risk) ** policy.kept_beside_supervised


@dataclass(frozen=True)
class Lanes:
    """Each row's lane (``code``: 0 green, 1 yellow, 2 red) and, under a budget with
    exploration, which red rows the random share picked (None without a budget)."""

    code: np.ndarray
    explored: np.ndarray | None = None

    @property
    def flagged(self) -> np.ndarray:
        """Rows out of the green lane: the ones an analyst reads the reasons of."""
        return self.code > 0

    def lane(self) -> pd.Series:
        """The ``lane`` column."""
        return choose_text(["green", "yellow", "red"], self.code)

    def selection(self) -> pd.Series | None:
        """The ``selection`` column under a budget: ``risk``, ``explore`` or empty."""
        if self.explored is None:
            return None
        return choose_text(["", "risk", "explore"], np.where(self.explored, 2, np.where(self.code == 2, 1, 0)))


def assign_lanes(risk: np.ndarray, critical: np.ndarray, policy: RiskPolicy = RiskPolicy(),
                 budget: float | None = None, explore: float = 0.0, seed: int = 0,
                 anomaly_alone: np.ndarray | None = None) -> Lanes:
    """Lanes from the risk: by threshold, or with ``budget`` (percent of rows) by
    capacity, ``explore`` percent of it at random with ``seed`` (:func:`budget_red`).
    A critical row is red either way. Of the rows yellow by the ``anomaly_alone``, only
    the riskiest ``policy.anomaly_yellow_max`` percent of the file stay yellow
    (:func:`anomaly_capped`)."""
    if budget is not None:
        red, explored = budget_red(risk, critical, budget, explore, seed)
    else:
        red, explored = critical | (risk >= policy.red), None
    yellow = risk >= policy.yellow
    if anomaly_alone is not None:
        yellow &= ~anomaly_capped(risk, anomaly_alone & ~red, policy.anomaly_yellow_max)
    return Lanes(np.where(red, 2, np.where(yellow, 1, 0)), explored)


def anomaly_capped(risk: np.ndarray, alone: np.ndarray, share: float) -> np.ndarray:
    """The rows of ``alone`` over ``share`` percent of all rows: those after the
    ``ceil(rows * share / 100)`` riskiest of them (ties in file order), so a small
    file keeps its strangest row."""
    keep = int(np.ceil(len(risk) * share / 100 - 1e-9))
    candidates = np.flatnonzero(alone)
    capped = np.zeros(len(risk), dtype=bool)
    if len(candidates) > keep:
        order = candidates[np.lexsort((candidates, -risk[candidates]))]
        capped[order[keep:]] = True
    return capped


def anomaly_shift(anomaly_alone: np.ndarray | None, policy: RiskPolicy = RiskPolicy()) -> str:
    """A warning for the summary when the anomaly alone would send more than
    ``policy.shift_warning_from`` of the rows to yellow: the trade, the traders or the
    layout changed since the model's history, and its scores have saturated."""
    if anomaly_alone is None or not len(anomaly_alone):
        return ""
    share = float(anomaly_alone.mean())
    if share <= policy.shift_warning_from:
        return ""
    # The history puts the rows above the score whose evidence alone reaches yellow there.
    reach = policy.anomaly_from + (1 - policy.anomaly_from) * min(policy.yellow / policy.anomaly_weight, 1.0) \
        if policy.anomaly_weight else 1.0
    return (f"warning: the anomaly alone would send {share:.1%} of rows to yellow (its history puts about "
            f"{1 - reach:.0%} there): this file differs from what the model was trained on; only the strangest "
            f"{policy.anomaly_yellow_max:g}% were kept yellow; retrain on recent declarations (`detector train`)")


def anomaly_explained(anomaly: np.ndarray, lanes: Lanes, policy: RiskPolicy = RiskPolicy()) -> np.ndarray:
    """Positions whose anomaly counted in the risk and that left the green lane: the
    rows whose strangeness is worth explaining (explaining walks every tree for a row)."""
    return np.flatnonzero((policy.anomaly_evidence(anomaly) > 0) & lanes.flagged)


def supervised_explained(probability: np.ndarray, lanes: Lanes) -> np.ndarray:
    """Positions out of the green lane whose fraud probability says something."""
    return np.flatnonzero((np.nan_to_num(probability, nan=0.0) >= SUPERVISED_EXPLAIN_FROM) & lanes.flagged)


def held_reasons(evidence: RuleEvidence, scores: RiskScores) -> tuple[np.ndarray, pa.Array]:
    """Positions held below red for want of corroboration and, for each, the note
    ``[corroboration] one angle only (channel): held below red until another agrees``."""
    rows = np.flatnonzero(scores.held)
    masks, codes = np.unique(evidence.angles[rows], return_inverse=True)
    words = [", ".join(angle for i, angle in enumerate(ANGLES) if int(mask) >> i & 1) or "one rule"
             for mask in masks]
    texts = [f"[corroboration] evidence from one angle only ({word}): held below red until another angle agrees"
             for word in words]
    return rows, pa.array(np.array(texts, dtype=object)[codes] if len(rows) else [], pa.large_string())


def reasons_column(evidence: RuleEvidence, lanes: Lanes,
                   more: Sequence[tuple[np.ndarray, pa.Array]] = ()) -> pd.Series:
    """The ``reasons`` column: the rules' reasons, then each of ``more`` (positions and
    their texts: the anomaly's, then the supervised model's), then the exploration
    note, joined per row with ``REASON_SEPARATOR``."""
    rows, texts = [evidence.rows], [evidence.texts]
    for positions, words in more:
        rows.append(positions)
        texts.append(words)
    if lanes.explored is not None:
        explored = np.flatnonzero(lanes.explored)
        rows.append(explored)
        texts.append(pa.repeat(text_scalar("[explore] random check from the budget's exploration share"),
                               len(explored)))
    chunks = [chunk for text in texts
              for chunk in (text.chunks if isinstance(text, pa.ChunkedArray) else [text])]
    return join_per_row(np.concatenate(rows), pa.chunked_array(chunks, pa.large_string()),
                        len(evidence.survival), REASON_SEPARATOR)


def output_columns() -> list[str]:
    """The detector's columns after the input's, in order: the one place that decides
    them (``ScoreResult.output``). The set is the same whatever ran: the columns of a
    part that did not run (``selection`` without a budget, the models' scores without
    the models) are empty."""
    return ["risk_score", "lane", "selection", "rule_hits", "reasons", "rule_score", "anomaly_score",
            "anomaly_percentile", "supervised_score", "status", "errors"]


def shown_probability(probabilities: np.ndarray) -> np.ndarray:
    """A fraud probability as an analyst reads it: two decimals and at most 0.99, since
    a model's "1" would read as certainty (reasons and :meth:`ScoreResult.explain`)."""
    return np.minimum(np.round(np.asarray(probabilities, dtype=np.float64), 2), 0.99)


def supervised_reasons(probabilities: np.ndarray, explanations: Sequence[str]) -> pa.Array:
    """``[model] fraud probability 0.83 from past inspections: <explanation>`` per row."""
    return _stated("[model] fraud probability ", shown_probability(probabilities), " from past inspections",
                   explanations)


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
    k = budget_rows(n, budget)
    k_explore = budget_rows(k, explore)
    order = np.lexsort((np.arange(n), -risk, ~critical))
    red = np.zeros(n, dtype=bool)
    red[order[:k - k_explore]] = True
    red |= critical
    explored = np.zeros(n, dtype=bool)
    rest = np.flatnonzero(~red)
    if k_explore and len(rest):
        explored[np.random.default_rng(seed).choice(rest, min(k_explore, len(rest)), replace=False)] = True
    return red | explored, explored


def budget_rows(rows: int, percent: float) -> int:
    """How many of ``rows`` a budget of ``percent`` covers: ``floor(rows * percent /
    100)``, as scoring picks them and evaluation measures them. The small allowance
    keeps a whole number whole through float rounding (2% of 50 rows is 1 row)."""
    return int(math.floor(rows * percent / 100 + 1e-9))
