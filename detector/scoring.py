"""Scoring: declarations + rules -> one output row per input row, plus a summary.

The output keeps every input column untouched and in order, then adds the detector's
columns; a row that failed validation is still scored on its usable cells and marked
``status=invalid`` with its ``errors``, so nothing the analyst sent is lost.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from detector.anomaly import check_seed
from detector.declarations import Declarations, load_declarations
from detector.errors import DetectorError
from detector.features import available_features
from detector.io import unclashing_name
from detector.resources import default_packs_dir
from detector.risk import (
    LANES,
    RiskPolicy,
    anomaly_explained,
    anomaly_reasons,
    anomaly_shift,
    assign_lanes,
    held_reasons,
    output_columns,
    reasons_column,
    risk_scores,
    rule_evidence,
    shown_probability,
    supervised_explained,
    supervised_reasons,
)
from detector.rules import RuleResults, RuleSet, evaluate_rules, load_rules
from detector.schema import FIELDS
from detector.text_columns import choose_text

# Fewer rows than this make a poor history for the batch itself (the forest draws 256
# rows per tree and the peer medians need 20 rows per HS group).
MIN_SELF_FIT_ROWS = 1000
# Trees when the scorer fits on the batch: the path lengths are stable well before 100
# (Liu et al. 2008) and fitting is on the scoring path, so the default keeps it short.
SELF_FIT_TREES = 100


@dataclass
class AnomalyRun:
    """Which anomaly model scored a batch, its scores and how it was obtained."""

    model: object  # detector.anomaly.AnomalyModel, imported late (scikit-learn is slow to import)
    scores: pd.DataFrame
    self_fitted: bool

    @property
    def compared_with(self) -> str:
        """What the scores rank a row against, as the reasons say it."""
        return "this file" if self.self_fitted else "the history"

    def explain(self, table: pd.DataFrame, positions) -> pd.Series:
        """Why the rows at ``positions`` of the scored table are strange (the model
        fitted on the batch reads it as its own history)."""
        return self.model.explain(table, rows=positions, training=self.self_fitted)


def score_anomaly(declarations: Declarations, model, seed: int = 0) -> tuple[AnomalyRun | None, str]:
    """Score the batch with ``model``, fit on the batch itself (``"batch"``), or not (None).

    Returns the part (None when skipped) and a line for the summary saying which.
    """
    if model is None:
        return None, "anomaly: off (rules only)"
    table = declarations.table
    if isinstance(model, str):
        if model != "batch":
            raise ValueError(f"model must be an AnomalyModel, 'batch' or None, not {model!r}")
        if len(table) < MIN_SELF_FIT_ROWS:
            return None, (f"warning: anomaly part skipped: {len(table):,} rows, fewer than the "
                          f"{MIN_SELF_FIT_ROWS:,} needed to fit on the file itself; train a model on "
                          "history (`detector train`) and pass it with --model")
        from detector.anomaly import AnomalyModel, chosen_features

        if not available_features(table.columns, chosen_features())[0]:
            return None, ("warning: anomaly part skipped: the file has none of the values, weights, "
                          "quantities, parties or descriptions its features need; scored with the rules alone")
        fitted, scores = AnomalyModel.fit_score(table, trees=SELF_FIT_TREES, seed=seed)
        return AnomalyRun(fitted, scores, True), (
            f"anomaly: fitted on this file ({len(table):,} rows, {SELF_FIT_TREES} trees, seed {seed})")
    trained = model.training
    span = f", {trained['date_from']} to {trained['date_to']}" if trained.get("date_from") else ""
    return AnomalyRun(model, model.score(table), False), (
        f"anomaly: model trained on {trained['rows']:,} rows{span}")


def _keep_clashing_columns(raw: pd.DataFrame, added) -> tuple[pd.DataFrame, dict[str, str]]:
    """Rename the input columns named like a column the output adds (``status``,
    ``lane``, ...) to ``<name>_input``, so both are kept; return the table and the
    renames."""
    renamed = {name: unclashing_name(name, [*raw.columns, *added]) for name in added if name in raw.columns}
    return (raw.rename(columns=renamed) if renamed else raw), renamed


def _model_columns(part: AnomalyRun | None, probability: np.ndarray | None) -> dict[str, np.ndarray]:
    """The models' own columns (anomaly score and percentile, supervised score)."""
    columns: dict[str, np.ndarray] = {}
    if part is not None:
        columns.update(anomaly_score=part.scores["anomaly_score"].round(4).to_numpy(),
                       anomaly_percentile=part.scores["anomaly_percentile"].round(2).to_numpy())
    if probability is not None:
        columns["supervised_score"] = np.round(probability, 4)
    return columns


def _model_words(table: pd.DataFrame, results: RuleResults, lanes, policy: RiskPolicy,
                 part: AnomalyRun | None, supervised, probability: np.ndarray | None) -> list:
    """The models' reasons for the flagged rows only, as (positions, texts): why the
    anomaly counted, then what the supervised model learned. Asked after the lanes are
    chosen, since explaining walks every tree for a row."""
    words = []
    if part is not None:
        anomaly = part.scores["anomaly_score"].to_numpy()
        rows = anomaly_explained(anomaly, lanes, policy)
        if len(rows):
            words.append((rows, anomaly_reasons(anomaly[rows], part.explain(table, rows).to_numpy(),
                                                part.compared_with)))
    if supervised is not None:
        rows = supervised_explained(probability, lanes)
        if len(rows):
            words.append((rows, supervised_reasons(probability[rows],
                                                   supervised.explain(table, results.hits, rows=rows).to_numpy())))
    return words


# The field kinds whose values have a type of their own in Parquet and Excel.
_TYPED_KINDS = {"amount": "float64", "count": "Int64", "date": "date"}


def typed_input_columns(declarations: Declarations) -> dict[str, object]:
    """The input's number and date columns as typed values, by input column name.

    Only the columns of fields of a typed kind (amounts, counts, dates) whose every
    non-blank cell gave a value; the values are the validated ones (thousands
    separators read, dates as dates).
    """
    kinds = {f.name: _TYPED_KINDS[f.kind] for f in FIELDS if f.kind in _TYPED_KINDS}
    typed = {}
    for name, column in declarations.columns.items():
        if name not in kinds or name not in declarations.table or column not in declarations.raw:
            continue
        raw = declarations.raw[column]
        if raw.dtype.kind in "fiumM":  # a Parquet input's own types are kept as they are
            continue
        values = declarations.table[name].reset_index(drop=True)
        written = raw.notna().to_numpy() & (raw.astype("str").str.strip() != "").to_numpy()
        if int(written.sum()) != int(values.notna().sum()) or bool((values.notna().to_numpy() & ~written).any()):
            continue
        if kinds[name] == "date":
            typed[column] = pd.Series(pd.array(values.dt.date, dtype=pd.ArrowDtype(pa.date32())))
        else:
            typed[column] = values.astype(kinds[name])
    return typed


def run_metadata(result: ScoreResult) -> dict:
    """The run metadata of :attr:`ScoreResult.metadata` (see there)."""
    import detector

    summary, part = result.summary, result.anomaly
    anomaly = {"mode": "off", "rows": None, "date_from": None, "date_to": None, "fingerprint": None}
    if part is not None:
        training = part.model.training
        anomaly = {"mode": "batch" if part.self_fitted else "history", "rows": training.get("rows"),
                   "date_from": training.get("date_from"), "date_to": training.get("date_to"),
                   "fingerprint": training.get("fingerprint")}
    supervised = None
    if result.supervised is not None:
        supervised = {"fingerprint": result.supervised.training.get("fingerprint")}
    sources = result.rule_set.sources if result.rule_set is not None else []
    return {
        "detector_version": detector.__version__, "source": summary.source, "rows": summary.rows,
        "invalid_rows": summary.invalid_rows,
        "rule_packs": [{"path": _pack_name(path), "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()}
                       for path in sources],
        "rules_evaluated": summary.rules_evaluated, "rules_skipped": dict(sorted(summary.skipped_rules.items())),
        "anomaly": anomaly, "supervised": supervised,
        "options": {"budget": result.options.get("budget"), "explore": result.options.get("explore", 0.0),
                    "seed": result.options.get("seed", 0)},
        "lanes": {lane: int(summary.lanes.get(lane, 0)) for lane in LANES},
    }


def _pack_name(path: Path) -> str:
    """A shipped pack as ``shipped:<name>``, whatever folder the package sits in; a
    user's pack by the path it was given."""
    path = Path(path)
    return f"shipped:{path.name}" if path.resolve().parent == default_packs_dir().resolve() else str(path)


def _supervised_line(model) -> str:
    if model is None:
        return ""
    trained = model.training
    return (f"supervised: model trained on {trained['labelled']:,} inspected declarations "
            f"({trained['frauds']:,} frauds)")


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
    renamed_columns: dict[str, str] = field(default_factory=dict)
    read_notes: tuple[str, ...] = ()
    anomaly: str = "anomaly: off (rules only)"
    supervised: str = ""
    rule_titles: dict[str, str] = field(default_factory=dict)
    shift: str = ""  # the anomaly model's shift warning (risk.anomaly_shift), when there is one
    mitigating: frozenset[str] = frozenset()  # rules whose hits lower the risk (``mitigates``)

    def lines(self, top: int = 10) -> list[str]:
        """The summary as short text lines (what the CLI prints on stderr).

        Rules are named by id and title, the most hit first; mitigating rules are
        listed apart (``lowered risk``), since their hits are evidence against fraud.
        Invalid rows come with the command that lists their problems.
        """
        lines = [
            f"{self.source}: {self.rows} rows read, {self.invalid_rows} invalid",
            *self._next_steps(),
            "lanes: " + ", ".join(f"{lane} {self.lanes.get(lane, 0)}" for lane in LANES),
            f"rules: {self.rules_evaluated} evaluated, {len(self.skipped_rules)} skipped",
            self.anomaly,
            *([self.supervised] if self.supervised else []),
        ]
        ranked = sorted(((n, r) for r, n in self.rule_hits.items() if n), key=lambda x: (-x[0], x[1]))
        for heading, chosen in (("top rules:", [(n, r) for n, r in ranked if r not in self.mitigating][:top]),
                                ("lowered risk:", [(n, r) for n, r in ranked if r in self.mitigating])):
            if chosen:
                lines += [heading, *(f"  {self._named(r)} ({n:,})" for n, r in chosen)]
        for rule_id, why in sorted(self.skipped_rules.items()):
            lines.append(f"skipped {self._named(rule_id)}: {why}")
        lines.extend(f"read: {note}" for note in self.read_notes)
        lines.extend(self.warnings())
        return lines

    def _named(self, rule_id: str) -> str:
        """'RE-ORIGIN-001 Origin claim ...': the id an analyst looks up, the title they read."""
        title = self.rule_titles.get(rule_id, "")
        return f"{rule_id} {title}" if title else rule_id

    def _next_steps(self) -> list[str]:
        """What to run to see the invalid rows, when the source is a file that can be
        named again (not a table in memory or standard input)."""
        if not self.invalid_rows or self.source.startswith("<") or self.source == "-":
            return []
        import shlex

        rows = "row" if self.invalid_rows == 1 else "rows"
        return [f"{self.invalid_rows} invalid {rows}: `detector validate {shlex.quote(self.source)}`"]

    def warnings(self) -> list[str]:
        """What changed the layout of the user's own columns, and an anomaly model that
        no longer fits the trade: said even when the rest of the summary is not wanted
        (``--quiet``)."""
        return [*(f"warning: input column {old} renamed {new} (the output has a column {old} of its own)"
                  for old, new in self.renamed_columns.items()),
                *([self.shift] if self.shift else [])]


@dataclass
class ScoreResult:
    """Everything one scoring run produced.

    ``output`` is what gets written: the input columns, then risk_score, lane,
    rule_hits, reasons, (with an anomaly part: rule_score, anomaly_score,
    anomaly_percentile,) status and errors. ``rule_results`` keeps the per-rule hit
    matrix and reasons for exploring in a notebook; ``anomaly`` the model that scored
    the batch (fitted on it or given), None when the anomaly part did not run.
    """

    output: pd.DataFrame
    rule_results: RuleResults
    summary: ScoreSummary
    declarations: Declarations
    anomaly: AnomalyRun | None = None
    policy: RiskPolicy = field(default_factory=RiskPolicy)
    supervised: object = None  # detector.supervised.SupervisedModel
    rule_set: RuleSet | None = None
    options: dict = field(default_factory=dict)

    @cached_property
    def metadata(self) -> dict:
        """What produced this output, for the files and reports that carry it.

        The detector version, the source, row and lane counts, each rule pack with the
        sha256 of its bytes, the anomaly model (how it was obtained, its training rows,
        span and fingerprint), the supervised model's fingerprint and the options
        (budget, explore, seed). No clock time: the same input, rules, model and seed
        give the same metadata, so the files that carry it stay byte-identical.
        Computed once (it hashes every pack file): the output, the report and the
        outcome database all carry it.
        """
        return run_metadata(self)

    def typed_output(self) -> pd.DataFrame:
        """``output`` with the input's number and date columns typed, for the formats
        that keep types (Parquet, Excel).

        A column is typed only when every non-blank cell of it was read: a cell that
        did not parse keeps the whole column as text, so no value is lost in a file
        that has no text to fall back on.
        """
        typed = typed_input_columns(self.declarations)
        return self.output.assign(**{name: values for name, values in typed.items() if name in self.output})

    def explain(self, row: int) -> pd.DataFrame:
        """Every piece of evidence behind one row's risk, strongest first.

        Parameters
        ----------
        row : int
            Position of the row in the file (0-based, as in ``output``).

        Returns
        -------
        DataFrame
            One row per hit rule, one for the anomaly when a model scored the batch
            and one for the supervised model when there is one: ``source`` (rule id,
            ``anomaly`` or ``model``), ``title``, ``pattern``,
            ``severity``, ``weight`` (its weight in the noisy-OR, before the share
            kept beside a supervised model) and ``reason``
            (the rule's rendered reason; for the anomaly, the features that isolate the
            row, explained whatever its score).
        """
        if not 0 <= row < len(self.output):
            raise IndexError(f"row {row} is outside the {len(self.output)} scored rows")
        results = self.rule_results
        label = results.hits.index[row]
        evidence = []
        for rule_id in results.hits.columns[results.hits.iloc[row].to_numpy(dtype=bool)]:
            rule = results.rules[rule_id]
            # A mitigating rule's weight is shown negative: it lowers the risk.
            weight = (-self.policy.severity_weights[rule.severity] if rule.mitigates else
                      self.policy.rule_weight(rule, int(results.hits[rule_id].sum()), len(results.hits)))
            evidence.append((rule_id, rule.title, rule.pattern, rule.severity, weight,
                             str(results.reasons[rule_id].loc[label])))
        if self.anomaly is not None:
            table = self.declarations.table
            score = float(self.anomaly.scores["anomaly_score"].iloc[row])
            why = self.anomaly.explain(table, [row]).iloc[0]
            share = math.floor(score * 1000) / 10  # floored, as in the reasons column
            evidence.append(("anomaly", f"stranger than {share:g}% of {self.anomaly.compared_with}", "", "",
                             float(self.policy.anomaly_evidence(np.array([score]))[0]), why))
        if self.supervised is not None:
            hits = results.hits.iloc[[row]]
            part = self.declarations.table.iloc[[row]]
            probability = float(self.supervised.predict(part, hits)[0])
            shown = float(shown_probability(np.array([probability]))[0])
            evidence.append(("model", f"fraud probability {shown:.2f} from past inspections", "", "",
                             probability, self.supervised.explain(part, hits).iloc[0]))
        frame = pd.DataFrame(evidence, columns=["source", "title", "pattern", "severity", "weight", "reason"])
        return frame.sort_values("weight", ascending=False, kind="stable").reset_index(drop=True)


# Over 60 lines for its numpydoc parameters; the body is the pipeline in order, about
# thirty lines, each a call to a stage.
def score(declarations, rules: RuleSet | None = None,
          policy: RiskPolicy | None = None, on_rule=None, model="batch",
          budget: float | None = None, seed: int = 0, explore: float = 0.0,
          supervised=None, on_stage=None) -> ScoreResult:
    """Score declarations with a rule set and an anomaly model.

    Parameters
    ----------
    declarations : Declarations, DataFrame or path
        From :func:`detector.load_declarations`; a DataFrame or a file name is loaded
        with it (the rules' ``reference/`` folders extending the synonym tables).
    rules : RuleSet, optional
        From :func:`detector.load_rules`; the shipped packs when omitted.
    policy : RiskPolicy, optional
        Severity weights, anomaly weight and lane thresholds.
    on_rule : callable, optional
        Called with each rule once it has been evaluated (progress reporting).
    model : AnomalyModel, "batch" or None
        The anomaly part. An :class:`~detector.anomaly.AnomalyModel` (``detector
        train``) scores the batch against its history; ``"batch"`` (the default) fits
        one on the batch itself when it has at least :data:`MIN_SELF_FIT_ROWS` rows and
        otherwise skips the anomaly part with a warning in the summary; None scores
        with the rules only. With an anomaly part the output gains ``rule_score``,
        ``anomaly_score`` and ``anomaly_percentile``, ``risk_score`` and the lanes
        include the anomaly (see :mod:`detector.risk`) and ``reasons`` say why a
        flagged row is strange.
    budget : float, optional
        Inspection capacity in percent of rows: exactly that many rows go to the red
        lane, highest risk first (critical rules first, ties in file order), instead
        of the red threshold.
    seed : int
        Random seed of the forest fitted on the batch (``model="batch"``) and of the
        exploration draw.
    explore : float
        With ``budget``: percent of the budget drawn at random among the rows the
        risk did not pick (random checks); the output gains ``selection`` (``risk``,
        ``explore`` or empty) after ``lane``.
    supervised : detector.supervised.SupervisedModel, optional
        A model learned from inspection outcomes (``detector train --labels``): adds
        ``supervised_score`` (its fraud probability) and blends it into
        ``risk_score`` (see :mod:`detector.risk`); flagged rows say which past
        inspections and features weigh most.
    on_stage : callable, optional
        Called as ``on_stage(stage, rows)`` when each stage starts: ``"rules"``,
        ``"anomaly fit"`` or ``"anomaly scoring"``, ``"supervised"``, ``"combining"``
        (progress reporting; a loaded frame also reports ``"reading"`` and
        ``"validating"``).

    Returns
    -------
    ScoreResult
    """
    if explore and budget is None:
        raise DetectorError("an exploration share needs an inspection budget (e.g. budget=2, explore=10)")
    seed = check_seed(seed)  # the forest and the exploration draw both take it
    rules = rules if rules is not None else load_rules()
    stage = on_stage or (lambda name, rows: None)
    if not isinstance(declarations, Declarations):
        declarations = load_declarations(declarations, reference_dirs=rules.reference_dirs, on_stage=on_stage)
    policy = policy or RiskPolicy()
    stage("rules", len(declarations))
    results = evaluate_rules(rules, declarations.table, on_rule, opaque=declarations.opaque_fields,
                             unreadable=declarations.unreadable)
    if model is not None:
        stage("anomaly fit" if isinstance(model, str) else "anomaly scoring", len(declarations))
    part, anomaly_line = score_anomaly(declarations, model, seed)
    table = declarations.table
    anomaly = part.scores["anomaly_score"].to_numpy() if part is not None else None
    if supervised is not None:
        stage("supervised", len(declarations))
    probability = supervised.predict(table, results.hits) if supervised is not None else None
    stage("combining", len(declarations))
    evidence = rule_evidence(results, len(declarations), policy)
    scores = risk_scores(evidence, policy, anomaly, probability)
    lanes = assign_lanes(scores.risk, evidence.critical, policy, budget, explore, seed, scores.anomaly_alone)
    columns = {"risk_score": scores.risk, "lane": lanes.lane(), "selection": lanes.selection(),
               "rule_hits": evidence.rule_hits(), "rule_score": evidence.rule_score(policy),
               **_model_columns(part, probability)}
    words = [*_model_words(table, results, lanes, policy, part, supervised, probability),
             held_reasons(evidence, scores)]
    columns.update(reasons=reasons_column(evidence, lanes, words),
                   status=choose_text(["valid", "invalid"], declarations.invalid.astype(np.int64)),
                   errors=declarations.errors.array)
    written = output_columns()
    raw, renamed = _keep_clashing_columns(declarations.raw, written)
    scored = pd.DataFrame({name: _or_empty(columns.get(name), name, len(declarations)) for name in written})
    output = pd.concat([raw.reset_index(drop=True), scored], axis=1)
    counts = results.hits.sum().astype(int).to_dict()
    lane_counts = pd.Series(scored["lane"]).value_counts().to_dict()
    summary = ScoreSummary(
        source=declarations.source, rows=len(declarations), invalid_rows=int(declarations.invalid.sum()),
        lanes={lane: int(lane_counts.get(lane, 0)) for lane in LANES}, rule_hits=counts,
        skipped_rules=results.skipped, rules_evaluated=results.hits.shape[1], renamed_columns=renamed,
        anomaly=anomaly_line, read_notes=declarations.read_notes,
        supervised=_supervised_line(supervised),
        rule_titles={rule_id: rule.title for rule_id, rule in results.rules.items()},
        mitigating=frozenset(rule_id for rule_id, rule in results.rules.items() if rule.mitigates),
        shift=anomaly_shift(scores.anomaly_alone, policy) if part is not None and not part.self_fitted else "",
    )
    return ScoreResult(output, results, summary, declarations, part, policy, supervised, rules,
                       {"budget": budget, "explore": explore, "seed": seed})


def _or_empty(values, name: str, rows: int):
    """A column of a part that did not run, empty: text columns hold "", numbers are
    missing, so the output has the same columns whatever the options."""
    if values is not None:
        return values
    return choose_text([""], np.zeros(rows, dtype=np.int64)) if name == "selection" else np.full(rows, np.nan)
