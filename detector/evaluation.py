"""Measuring detection on labelled declarations, the way customs selectivity is judged.

A customs service can inspect only a small share of declarations, so what matters is
how many frauds sit in the top 1%, 2%, 5% or 10% of the ranking (precision and recall
at an inspection budget), and how much of the money at stake they carry (revenue share,
as in the DATE paper on WCO BACUDA data). Rule scores tie a lot (every row hit by the
same rules scores the same), so a budget that cuts through a group of tied rows counts
the expected number of frauds a random pick within that group would find, instead of
rewarding whatever order the file happened to be in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from detector.errors import DetectorError
from detector.labels import read_labels
from detector.risk import FLAGGED_LANES, LANES, budget_rows
from detector.text_columns import parts_lines, table_part

DEFAULT_BUDGETS: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0)
# What is measured by default, those present: the rules alone, the anomaly model alone,
# the supervised model alone, all combined.
COMPARED = ("rule_score", "anomaly_score", "supervised_score", "risk_score")


@dataclass
class Evaluation:
    """Detection quality of one score column against one label column.

    Attributes
    ----------
    score_column : str
    rows, frauds : int
    budgets : DataFrame
        Per budget (percent of rows): inspected rows, expected frauds found, precision,
        recall and, when a revenue column exists, revenue share.
    average_precision, roc_auc : float
        NaN when the labels hold a single class.
    patterns : DataFrame
        Recall per planted pattern at each budget and in the flagged lanes.
    lanes : DataFrame
        Rows per lane and label (when the table has a lane column).
    """

    score_column: str
    rows: int
    frauds: int
    budgets: pd.DataFrame
    average_precision: float
    roc_auc: float
    patterns: pd.DataFrame = field(default_factory=pd.DataFrame)
    lanes: pd.DataFrame = field(default_factory=pd.DataFrame)

    def as_dict(self) -> dict:
        """Plain data for ``--json``: NaN becomes None."""
        def clean(value):
            if isinstance(value, float) and math.isnan(value):
                return None
            return value

        def records(frame: pd.DataFrame) -> list[dict]:
            return [{k: clean(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]

        return {
            "score_column": self.score_column, "rows": self.rows, "frauds": self.frauds,
            "average_precision": clean(self.average_precision), "roc_auc": clean(self.roc_auc),
            "budgets": records(self.budgets), "patterns": records(self.patterns),
            "lanes": records(self.lanes.reset_index()) if len(self.lanes) else [],
        }


def parse_budgets(text: str) -> tuple[float, ...]:
    """``"1,2,5,10"`` or ``"2%"`` -> budgets in percent of rows."""
    try:
        budgets = tuple(float(part.strip().rstrip("%")) for part in text.split(",") if part.strip())
    except ValueError:
        raise DetectorError(f"budget '{text}': expected percentages such as 1,2,5,10") from None
    if not budgets or any(not 0 < b <= 100 for b in budgets):
        raise DetectorError(f"budget '{text}': each budget must be a percentage in (0, 100]")
    return budgets


def labels_of(table: pd.DataFrame, column: str, source: str = "table") -> np.ndarray:
    """The label column as 0/1 integers, read as :func:`detector.labels.read_labels`
    reads outcomes; a clear error when it is absent, not a label or empty (measuring
    needs a verdict on every row)."""
    if column not in table.columns:
        raise DetectorError(f"{source}: no label column '{column}'; columns: {', '.join(map(str, table.columns))}"
                            " (choose one with --label-column)")
    values = read_labels(table[column], source, column)
    missing = np.isnan(values)
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise DetectorError(f"{source}: row {row + 1}, column '{column}': no label; measuring needs 1 (fraud) "
                            f"or 0 (clean) on every row ({int(missing.sum()):,} rows have none)")
    return values.astype(np.int64)


def finite_numbers(table: pd.DataFrame, column: str, source: str = "table", empty: float | None = None) -> np.ndarray:
    """A column as finite floats; a clear error naming the first cell that is not one.

    Infinity would rank its row above every real score and NaN or text below them, and
    the curves would fail on them; a score file holding either is broken, not ranked.
    ``empty`` is the value of an empty cell, or None when every cell needs a number.
    """
    cells = table[column]
    values = pd.to_numeric(cells, errors="coerce").to_numpy(dtype="float64", na_value=np.nan, copy=True)
    bad = ~np.isfinite(values)
    if empty is not None:
        blank = (cells.isna() | (cells.astype("str").str.strip() == "")).to_numpy()
        values[blank] = empty
        bad &= ~blank
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        cell = cells.iloc[row]
        cell = cell.item() if isinstance(cell, np.generic) else cell  # inf, not np.float64(inf)
        raise DetectorError(f"{source}: row {row + 1}, column '{column}': value {cell!r} is not a finite "
                            f"number{'' if empty is None else ' or empty'} ({int(bad.sum()):,} such cells)")
    return values


def expected_found(scores: np.ndarray, hits: np.ndarray, k: int) -> float:
    """Expected sum of ``hits`` among the top ``k`` scores, ties broken at random.

    Rows strictly above the k-th score are all taken; the group tied at the k-th score
    contributes its share of the remaining places in proportion to what it holds.
    """
    if k <= 0:
        return 0.0
    if k >= len(scores):
        return float(hits.sum())
    order = np.argsort(-scores, kind="stable")
    threshold = scores[order[k - 1]]
    above = scores > threshold
    tied = scores == threshold
    places = k - int(above.sum())
    return float(hits[above].sum() + places * hits[tied].sum() / tied.sum())


def evaluate(
    table: pd.DataFrame,
    label_column: str = "label",
    score_column: str = "risk_score",
    budgets: tuple[float, ...] = DEFAULT_BUDGETS,
    pattern_column: str = "pattern",
    revenue_column: str = "revenue",
    source: str = "table",
) -> Evaluation:
    """Precision, recall and revenue share at inspection budgets, AP, ROC AUC,
    recall per pattern and the lane table.

    Parameters
    ----------
    table : DataFrame
        Scored declarations with a label column (0/1) and a finite number in every
        cell of the score column (an empty revenue cell counts as 0).
    budgets : tuple of float
        Percent of rows inspected; a budget inspects ``floor(rows * budget / 100)``
        rows, so a budget smaller than one row inspects none (precision NaN).

    Returns
    -------
    Evaluation

    Examples
    --------
    >>> frame = pd.DataFrame({"risk_score": [0.9, 0.1, 0.5, 0.0], "label": [1, 0, 1, 0]})
    >>> evaluate(frame, budgets=(50,)).budgets["precision"].tolist()
    [1.0]
    """
    if score_column not in table.columns:
        raise DetectorError(f"{source}: no score column '{score_column}'")
    labels = labels_of(table, label_column, source)
    scores = finite_numbers(table, score_column, source)
    n, frauds = len(labels), int(labels.sum())
    revenue = None
    if revenue_column in table.columns:
        revenue = np.where(labels == 1, finite_numbers(table, revenue_column, source, empty=0.0), 0.0)
    rows = [_at_budget(scores, labels, revenue, budget) for budget in budgets]
    # Imported here: scikit-learn takes a while to import and only evaluation needs it.
    from sklearn.metrics import average_precision_score, roc_auc_score

    single_class = frauds in (0, n)
    average_precision = math.nan if single_class else float(average_precision_score(labels, scores))
    roc_auc = math.nan if single_class else float(roc_auc_score(labels, scores))
    return Evaluation(
        score_column=score_column, rows=n, frauds=frauds, budgets=pd.DataFrame(rows),
        average_precision=average_precision, roc_auc=roc_auc,
        patterns=_pattern_recall(table, labels, scores, budgets, pattern_column),
        lanes=_lane_table(table, labels),
    )


def _at_budget(scores: np.ndarray, labels: np.ndarray, revenue: np.ndarray | None, budget: float) -> dict:
    """One row of the budget table: ``floor(rows * budget / 100)`` rows inspected,
    frauds found (ties shared), precision, recall and, with revenue, its share."""
    n, frauds = len(labels), int(labels.sum())
    k = budget_rows(n, budget)
    found = expected_found(scores, labels, k)
    row = {"budget_pct": budget, "inspected": k, "frauds_found": round(found, 4),
           "precision": found / k if k else math.nan,
           "recall": found / frauds if frauds else math.nan}
    if revenue is not None:
        total = revenue.sum()
        row["revenue_share"] = expected_found(scores, revenue, k) / total if total else math.nan
    return row


def score_columns(table: pd.DataFrame, wanted: list[str] | None = None) -> list[str]:
    """The score columns to measure: those ``wanted``, else those of :data:`COMPARED`
    the table has with a score in them (a scored file has every column, and the ones
    of a model that did not run are empty)."""
    return list(wanted) if wanted else [c for c in COMPARED if c in table.columns and _holds_scores(table[c])]


def _holds_scores(column: pd.Series) -> bool:
    """Whether a column has any cell that is not missing or blank."""
    return bool((column.notna() & (column.astype("str").str.strip() != "")).any())


def needs_scoring(table: pd.DataFrame, wanted: list[str] | None = None) -> bool:
    """Whether a labelled table must be scored before it can be measured.

    A file with none of the score columns, or without one of those ``wanted``, is
    scored first (``detector.score(...).output``), as ``detector score`` would; a
    scored file is measured as it is.
    """
    columns = score_columns(table, wanted)
    return not columns or any(c not in table.columns for c in columns)


def evaluate_scores(table: pd.DataFrame, label_column: str = "label", wanted: list[str] | None = None,
                    budgets: tuple[float, ...] = DEFAULT_BUDGETS, source: str = "table") -> list[Evaluation]:
    """:func:`evaluate` for each score column of :func:`score_columns`, in that order.

    Examples
    --------
    >>> frame = pd.DataFrame({"rule_score": [0.9, 0.1], "risk_score": [0.1, 0.9], "label": [1, 0]})
    >>> [e.budgets["precision"].tolist() for e in evaluate_scores(frame, budgets=(50,))]
    [[1.0], [0.0]]
    """
    return [evaluate(table, label_column, column, budgets, source=source)
            for column in score_columns(table, wanted)]


def evaluate_declarations(declarations, label_column: str = "label", wanted: list[str] | None = None,
                          budgets: tuple[float, ...] = DEFAULT_BUDGETS, rules=None, model="batch",
                          supervised=None, seed: int = 0, on_stage=None) -> list[Evaluation]:
    """What ``detector evaluate FILE`` measures, from Python: a labelled file scored
    first when it has no score columns (as ``detector score`` would, with ``rules``,
    ``model`` and ``supervised`` as :func:`detector.score` takes them), or measured as
    it is when it is a scored file; then :func:`evaluate_scores`.

    Parameters
    ----------
    declarations : Declarations, DataFrame or path
        Loaded declarations (:func:`detector.load_declarations`), or what loads them.
    label_column, wanted, budgets :
        As in :func:`evaluate_scores`.
    rules, model, supervised, seed, on_stage :
        As in :func:`detector.score`, used only when the file is scored first;
        ``model`` and ``supervised`` may also be model files (``pathlib.Path``), loaded
        only then: a scored file is measured without reading them.
    """
    from detector.declarations import Declarations, load_declarations
    from detector.scoring import score

    if not isinstance(declarations, Declarations):
        declarations = load_declarations(declarations, on_stage=on_stage)
    table = declarations.raw
    if needs_scoring(table, wanted):
        if isinstance(model, Path):
            from detector.anomaly import AnomalyModel

            model = AnomalyModel.load(model)
        if isinstance(supervised, Path):
            from detector.supervised import SupervisedModel

            supervised = SupervisedModel.load(supervised)
        table = score(declarations, rules, model=model, seed=seed, supervised=supervised, on_stage=on_stage).output
    if on_stage is not None:
        on_stage("evaluating", len(table))
    return evaluate_scores(table, label_column, wanted, budgets, source=declarations.source)


def _pattern_recall(table, labels, scores, budgets, pattern_column) -> pd.DataFrame:
    """Recall of each planted pattern at each budget and in the flagged lanes."""
    if pattern_column not in table.columns:
        return pd.DataFrame()
    patterns = table[pattern_column].astype("str").fillna("").str.strip().to_numpy()
    flagged = table["lane"].isin(FLAGGED_LANES).to_numpy() if "lane" in table.columns else None
    rows = []
    for pattern in sorted(set(patterns[(labels == 1) & (patterns != "")])):
        members = ((patterns == pattern) & (labels == 1)).astype(np.int64)
        row = {"pattern": pattern, "frauds": int(members.sum())}
        for budget in budgets:
            k = budget_rows(len(labels), budget)
            row[f"recall_at_{budget:g}pct"] = expected_found(scores, members, k) / members.sum()
        if flagged is not None:
            row["recall_flagged_lanes"] = float(members[flagged].sum() / members.sum())
        rows.append(row)
    return pd.DataFrame(rows)


def _lane_table(table: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    if "lane" not in table.columns:
        return pd.DataFrame()
    lanes = pd.Categorical(table["lane"].astype("str"), categories=list(LANES))
    counts = pd.crosstab(lanes, pd.Series(labels, name="label"), dropna=False)
    counts.index.name = "lane"
    return counts.reindex(columns=[0, 1], fill_value=0).rename(columns={0: "label_0", 1: "label_1"})


def evaluation_parts(evaluation: Evaluation) -> list:
    """The evaluation as report parts: headings and blank lines as strings, the tables
    (budgets, recall per pattern, lanes x label) as DataFrames ready to show
    (see :func:`table_part`), in the order of :func:`format_evaluation`."""
    budgets = evaluation.budgets.copy()
    for column in ("precision", "recall", "revenue_share"):
        if column in budgets:
            budgets[column] = budgets[column].map(lambda v: "n/a" if pd.isna(v) else f"{v:.3f}")
    parts = [
        f"{evaluation.score_column}: {evaluation.rows} rows, {evaluation.frauds} frauds, "
        f"average precision {_number(evaluation.average_precision)}, ROC AUC {_number(evaluation.roc_auc)}",
        "",
        table_part(budgets),
    ]
    if len(evaluation.patterns):
        parts += ["", "recall per pattern:", table_part(evaluation.patterns, float_format=".3f")]
    if len(evaluation.lanes):
        parts += ["", "lanes x label:", table_part(evaluation.lanes, index=True)]
    return parts


def format_evaluation(evaluation: Evaluation) -> str:
    """The evaluation as text tables for the terminal."""
    return "\n".join(parts_lines(evaluation_parts(evaluation)))


def compare_evaluations(evaluations: list[Evaluation]) -> pd.DataFrame:
    """Precision and recall of several score columns side by side, one row per budget.

    Columns ``<score>_precision`` and ``<score>_recall`` in the order given, e.g. to
    compare ``rule_score`` (rules only), ``anomaly_score`` and ``risk_score`` (both).
    """
    first = evaluations[0].budgets[["budget_pct", "inspected"]].reset_index(drop=True)
    parts = [first] + [e.budgets[["precision", "recall"]].reset_index(drop=True).add_prefix(f"{e.score_column}_")
                       for e in evaluations]
    return pd.concat(parts, axis=1)


def comparison_parts(evaluations: list[Evaluation]) -> list:
    """:func:`compare_evaluations` as report parts: its heading, the table and the
    average precision and ROC AUC of each score column (see :func:`evaluation_parts`)."""
    parts = ["precision and recall at each budget:",
             table_part(compare_evaluations(evaluations), float_format=".3f"), ""]
    return parts + [f"{e.score_column}: average precision {_number(e.average_precision)}, "
                    f"ROC AUC {_number(e.roc_auc)}" for e in evaluations]


def format_comparison(evaluations: list[Evaluation]) -> str:
    """`compare_evaluations` as a text table, with average precision and ROC AUC below."""
    return "\n".join(parts_lines(comparison_parts(evaluations)))


def _number(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"
