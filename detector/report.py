"""The batch report: one self-contained HTML page of a scored batch, and case views.

What an analyst opens after ``detector score``: what was scored and with what (file,
rule packs and their hashes, model and its training span, version, date), the lanes,
the risk distribution, hits per rule, frauds per lane and pattern when labels exist,
and the flagged shipments as a table to sort and filter, each row opening its *case
view*: every piece of evidence behind that declaration in the order it weighs, with
links to the sibling declarations its group rules name.

The page needs no network: styles, script, charts (:mod:`detector.charts`) and the
case data (JSON in a ``<script type="application/json">`` block) are inline, so it
works opened from a file or an e-mail attachment. It is built from a scored table as
:func:`detector.score` returns it or as read back from its CSV or Parquet file, with
column-wise pandas work only; the case views embed at most :data:`MAX_CASE_ROWS`
flagged rows, the riskiest, so a million-row batch still gives a page that opens.
"""

from __future__ import annotations

import os
import re
import textwrap
from datetime import date, datetime, timezone
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from detector import charts
from detector.errors import DetectorError
from detector.io import output_file, refuse_overwriting
from detector.labels import read_labels
from detector.risk import FLAGGED_LANES, LANES, RiskPolicy
from detector.rules import RuleSet
from detector.text_columns import HIT_SEPARATOR

TEMPLATES = Path(__file__).parent / "templates"
# Flagged rows whose case views the page carries: about 2 kB of evidence each, so the
# page stays near 10 MB and opens in a second; the rest are in the scored file and
# `detector explain` shows any of them.
MAX_CASE_ROWS = 5000
# Rules drawn in the hits chart (the table below it lists them all).
MAX_CHART_RULES = 30
# The reasons column joins its parts with " | " and each part starts with its source
# in brackets ("[RE-MAIL-002] ...", "[anomaly] ..."); splitting only before a bracket
# keeps a " | " inside a quoted description in its part.
REASON_PARTS = r" \| (?=\[)"
REASON_SOURCE = r"^\[(?P<source>[^\]]+)\]\s*(?P<text>.*)$"
# How a declaration id is cut out of a reason's text to find its siblings (the others
# of a group rule): the same pattern in the page's script, so both find the same ids.
ID_TOKEN = r"[A-Za-z0-9][A-Za-z0-9_./-]*[A-Za-z0-9]|[A-Za-z0-9]"
# Sources of the reasons column that are not rules.
ANOMALY, MODEL, NOTES = "anomaly", "model", ("corroboration", "explore")
# The declaration's own fields a case view shows, in this order, when the file has them.
CASE_FIELDS = ["declaration_date", "direction", "exporter", "consignee", "declarant", "origin_country",
               "export_country", "destination_country", "hs_code", "description", "remarks", "quantity",
               "quantity_unit", "gross_weight_kg", "net_weight_kg", "declared_value", "currency",
               "transport_mode", "package_type", "package_count", "license_number", "status", "errors"]
# The flagged-shipments table: these columns when the file has them.
FLAGGED_COLUMNS = [("exporter", "exporter"), ("consignee", "consignee"), ("hs_code", "HS code"),
                   ("origin_country", "origin"), ("description", "description")]
CASE_COLUMNS = ["declaration_id", "row", "lane", "risk_score", "order", "source", "kind", "title", "pattern",
                "severity", "weight", "reason", "siblings"]


@lru_cache(maxsize=1)
def environment():
    """The Jinja environment of the reports (autoescape on, undefined names an error),
    loading the templates shipped in ``detector/templates``.

    The outcomes report uses it too, so both pages share the layout
    (``base.html.j2``) and the table (``_table.html.j2``).
    """
    import jinja2  # only the reports need it

    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True)


def report_date() -> str:
    """The date written in a report: ``SOURCE_DATE_EPOCH`` (seconds, the reproducible
    builds convention) when set, so the same batch gives the same page; today (UTC)
    otherwise."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not epoch:
        return date.today().isoformat()
    try:
        return datetime.fromtimestamp(int(epoch), tz=timezone.utc).date().isoformat()
    except (ValueError, OverflowError, OSError) as exc:
        raise DetectorError(f"SOURCE_DATE_EPOCH must be whole seconds since 1970, got {epoch!r}") from exc


def _text_column(scored: pd.DataFrame, name: str) -> pd.Series:
    """A column as text, empty where missing or absent (an older scored file lacks
    ``selection``; a CSV read back has NaN for empty cells)."""
    if name not in scored.columns:
        return pd.Series("", index=scored.index, dtype="object")
    return scored[name].astype("object").where(scored[name].notna(), "").astype(str)


def _number_column(scored: pd.DataFrame, name: str) -> pd.Series:
    """A column as float, NaN where missing, absent or not a number (CSV text)."""
    if name not in scored.columns:
        return pd.Series(np.nan, index=scored.index, dtype="float64")
    return pd.to_numeric(scored[name], errors="coerce").astype("float64")


def rule_hit_ids(rule_hits: pd.Series) -> pd.Series:
    """One entry per (row, hit rule), indexed by the row's label: the ``rule_hits``
    column exploded, whether it holds ``"A;B"`` text (CSV, :func:`detector.score`) or
    lists of ids (Parquet)."""
    present = rule_hits[rule_hits.notna()]
    first = next(iter(present), "")
    if pd.api.types.is_list_like(first) and not isinstance(first, str):
        ids = present.explode()
    else:
        ids = present.astype(str).str.split(HIT_SEPARATOR).explode()
    ids = ids.dropna().astype(str).str.strip()
    return ids[ids != ""]


def _rule_facts(rules: RuleSet | None, policy: RiskPolicy) -> pd.DataFrame:
    """Per rule id: title, severity, pattern, whether it mitigates and its weight
    (negative for a mitigating rule: it lowers the risk)."""
    entries = [(rule.id, rule.title, rule.severity, rule.pattern, bool(rule.mitigates),
                policy.severity_weights.get(rule.severity, np.nan) * (-1 if rule.mitigates else 1))
               for rule in (rules or [])]
    return pd.DataFrame(entries, columns=["rule_id", "title", "severity", "pattern", "mitigating",
                                          "weight"]).drop_duplicates("rule_id").set_index("rule_id")


def label_values(scored: pd.DataFrame, labels: pd.Series | None = None) -> pd.Series | None:
    """Inspection outcomes per row: 1.0 fraud, 0.0 clean, NaN not inspected; None when
    there are none.

    ``labels`` (aligned with ``scored``) are read as :func:`detector.labels.read_labels`
    reads outcomes, a cell that is no outcome being an error. Without them a ``label``
    or ``fraud`` column of the file is used when every cell of it reads as an outcome:
    a column of that name holding something else (a handling note) is the user's own
    data, not a verdict, and the page is drawn without outcomes.
    """
    if labels is None:
        column = next((name for name in ("label", "fraud") if name in scored.columns), None)
        if column is None:
            return None
        try:
            values = read_labels(scored[column])
        except DetectorError:
            return None
    else:
        if len(labels) != len(scored):
            raise DetectorError(f"labels has {len(labels):,} values for {len(scored):,} scored rows; give one per row")
        values = read_labels(labels, "labels")
    values = pd.Series(values, index=scored.index, dtype="float64")
    return values if values.notna().any() else None


def flagged_mask(scored: pd.DataFrame) -> pd.Series:
    """The rows an analyst acts on: red and yellow lanes, and the random checks
    (``selection == "explore"``) whatever their lane."""
    return _text_column(scored, "lane").isin(FLAGGED_LANES) | (_text_column(scored, "selection") == "explore")


def _reason_parts(scored: pd.DataFrame) -> pd.DataFrame:
    """The reasons of ``scored`` as one row per part: ``position`` (the row), ``part``
    (its place in the reasons), ``source`` (rule id, anomaly, model, corroboration,
    explore) and ``text``."""
    parts = _text_column(scored, "reasons").str.split(REASON_PARTS, regex=True).explode().fillna("")
    found = parts.str.extract(REASON_SOURCE, flags=re.S)
    frame = pd.DataFrame({"position": parts.index.to_numpy(), "source": found["source"].fillna("").to_numpy(),
                          "text": found["text"].fillna(parts).to_numpy()})
    frame["part"] = frame.groupby("position").cumcount()
    return frame


def _model_parts(scored: pd.DataFrame, parts: pd.DataFrame) -> pd.DataFrame:
    """A part for the anomaly and the supervised score of the rows that have one but
    whose reasons do not speak of it (the scorer explains the models only where they
    count): the score itself is evidence an analyst weighs."""
    added = []
    for source, column in ((ANOMALY, "anomaly_score"), (MODEL, "supervised_score")):
        value = _number_column(scored, column)
        spoken = parts.loc[parts["source"] == source, "position"]
        rows = value.index[value.notna() & ~value.index.isin(spoken)]
        if len(rows):
            added.append(pd.DataFrame({"position": rows, "source": source,
                                       "text": [f"{column.replace('_', ' ')} " + s
                                                for s in np.char.mod("%.3f", value[rows].to_numpy())],
                                       "part": 1000}))
    parts = pd.concat([parts, *added], ignore_index=True) if added else parts
    # A row with no reasons keeps one empty part, so its case view says "no evidence".
    return parts[(parts["source"] != "") | ~parts["position"].duplicated(keep=False)]


def _evidence(scored: pd.DataFrame, positions: np.ndarray, known_ids: pd.Index, rules: RuleSet | None,
              policy: RiskPolicy) -> pd.DataFrame:
    """The case views of the rows at ``positions`` of ``scored`` (positional index):
    one row per piece of evidence, in the order the rows are given, then the order
    each weighs (see :func:`case_view`)."""
    rows = scored.iloc[positions]
    parts = _model_parts(rows, _reason_parts(rows))
    if parts.empty:
        return pd.DataFrame({name: pd.Series(dtype="float64" if name in ("risk_score", "weight") else "object")
                             for name in CASE_COLUMNS})
    facts = _rule_facts(rules, policy)
    source = parts["source"]
    kind = pd.Series(np.where(source == ANOMALY, "anomaly", np.where(source == MODEL, "supervised model",
                     np.where(source.isin(NOTES), "note", "rule"))), index=parts.index)
    known = facts.reindex(source)
    known.index = parts.index
    kind[known["mitigating"].eq(True).to_numpy()] = "lowered risk"
    kind[(source == "").to_numpy()] = ""
    is_rule = (kind == "rule") | (kind == "lowered risk")
    # The models' parts read "<title>: <what explains it>", the rules' title is the rule's.
    split = parts["text"].str.partition(": ")
    title = known["title"].where(is_rule, split[0].where(kind != "note", ""))
    reason = parts["text"].where(is_rule | (kind == "note"), split[2])
    weight = known["weight"].where(is_rule)
    weight[source == ANOMALY] = policy.anomaly_evidence(
        _number_column(rows, "anomaly_score").reindex(parts["position"]).to_numpy())[(source == ANOMALY).to_numpy()]
    weight[source == MODEL] = _number_column(rows, "supervised_score").reindex(parts["position"]).to_numpy()[
        (source == MODEL).to_numpy()]
    ids = _text_column(rows, "declaration_id") if "declaration_id" in rows.columns else pd.Series(
        (rows.index + 1).astype(str), index=rows.index)
    frame = pd.DataFrame({
        "declaration_id": ids.reindex(parts["position"]).to_numpy(),
        "row": parts["position"].to_numpy() + 1,
        "lane": _text_column(rows, "lane").reindex(parts["position"]).to_numpy(),
        "risk_score": _number_column(rows, "risk_score").reindex(parts["position"]).to_numpy(),
        "source": source.to_numpy(), "kind": kind.to_numpy(), "title": title.fillna("").to_numpy(),
        "pattern": known["pattern"].fillna("").to_numpy(), "severity": known["severity"].fillna("").to_numpy(),
        "weight": weight.astype("float64").to_numpy(), "reason": reason.fillna("").to_numpy(),
        "part": parts["part"].to_numpy(),
    })
    frame["siblings"] = _siblings(frame, known_ids)
    order = pd.Series(np.arange(len(positions)), index=positions).reindex(frame["row"] - 1).to_numpy()
    # With the rules at hand each part weighs what its severity (or score) adds; without
    # them the reasons' own order stands: most severe rule first, then models, notes.
    key = -frame["weight"].fillna(-np.inf) if rules is not None else frame["part"]
    frame = frame.assign(_order=order, _key=key.to_numpy()).sort_values(
        ["_order", "_key", "part"], kind="stable").drop(columns=["_order", "_key", "part"])
    frame["order"] = frame.groupby("row").cumcount() + 1
    return frame.reset_index(drop=True)[CASE_COLUMNS]


def _siblings(evidence: pd.DataFrame, known_ids: pd.Index) -> pd.Series:
    """Per evidence row, the other declarations of the scored table its reason names
    (a group rule writes "the others: ID1, ID2"), in the order named."""
    tokens = evidence["reason"].str.findall(ID_TOKEN).explode().dropna()
    named = tokens[tokens.isin(known_ids) & (tokens != evidence["declaration_id"].reindex(tokens.index))]
    named = named.reset_index().drop_duplicates().set_index("index")["reason"]
    grouped = named.groupby(level=0).agg(list)
    return grouped.reindex(evidence.index).apply(lambda ids: ids if isinstance(ids, list) else [])


# The columns by which a file is known to be one `detector score` wrote.
SCORED_COLUMNS = ("risk_score", "lane", "rule_hits", "reasons")


def load_scored(path: str | Path) -> tuple[pd.DataFrame | None, dict | None]:
    """A file ``detector score`` wrote, read back, with the run metadata a Parquet
    file carries (None for CSV); ``(None, None)`` when the file is not a scored one
    (declarations to score first), told from its header alone."""
    from detector.io import STDIN, read_columns, read_metadata, read_table

    if str(path) != STDIN and not _is_scored(read_columns(path)):
        return None, None
    frame, info = read_table(path)
    if not _is_scored(frame.columns):
        return None, None
    return frame, read_metadata(path) if info.format == "parquet" and str(path) != STDIN else None


def _is_scored(columns) -> bool:
    return all(column in columns for column in SCORED_COLUMNS)


def scored_table(path: str | Path, score_declarations) -> pd.DataFrame:
    """The scored table of ``path``: read back when ``detector score`` wrote it, else
    its declarations scored first.

    Parameters
    ----------
    score_declarations : callable
        Called with what to load the declarations from (the path, or the table
        standard input gave, since a pipe is read once) and a name for messages;
        returns the scored table (e.g. ``detector.score(...).output``).
    """
    from detector.io import STDIN, STDIN_NAME, read_table

    if str(path) != STDIN:
        frame, _ = load_scored(path)
        return frame if frame is not None else score_declarations(path, str(path))
    frame, _ = read_table(path)
    return frame if _is_scored(frame.columns) else score_declarations(frame, STDIN_NAME)


def case_view(scored: pd.DataFrame, declaration_ids, rules: RuleSet | None = None,
              policy: RiskPolicy | None = None) -> pd.DataFrame:
    """Every piece of evidence behind the named declarations of a scored table.

    The scored table is :attr:`ScoreResult.output` or a scored file read back (CSV or
    Parquet: ``rule_hits`` as ``"A;B"`` text or as lists).

    Parameters
    ----------
    scored : DataFrame
        A scored table with ``declaration_id`` and ``reasons``.
    declaration_ids : str or iterable of str
        The declarations to explain, in the order wanted; a declaration id that is
        on several rows gives the evidence of each.
    rules : RuleSet, optional
        The rules that scored the table: they give each rule's title, severity,
        pattern and weight, and the order by weight. Without them the reasons'
        own order is kept (most severe rule first, then the models, then notes).
    policy : RiskPolicy, optional
        The severity weights and anomaly ramp of the run (the default policy
        otherwise).

    Returns
    -------
    DataFrame
        One row per piece of evidence, strongest first within each declaration:
        ``declaration_id``, ``row`` (1-based, as ``detector validate`` counts),
        ``lane``, ``risk_score``, ``order`` (1 for the strongest), ``source`` (rule
        id, ``anomaly``, ``model``, ``corroboration`` or ``explore``), ``kind``
        (rule, lowered risk, anomaly, supervised model, note), ``title``,
        ``pattern``, ``severity``, ``weight`` (what it adds to the noisy-OR;
        negative for a mitigating rule, NaN for notes and unknown rules),
        ``reason`` and ``siblings`` (the other declarations of the table the reason
        names, the group rules' others). A declaration with no evidence has one row
        with an empty ``source``.

    Raises
    ------
    DetectorError
        A declaration id that is not in the table, or a table without
        ``declaration_id``.
    """
    if "declaration_id" not in scored.columns:
        raise DetectorError("the scored table has no declaration_id column; the case view finds rows by their "
                            "declaration id")
    wanted = [declaration_ids] if isinstance(declaration_ids, str) else [str(i) for i in declaration_ids]
    table = scored.reset_index(drop=True)
    ids = _text_column(table, "declaration_id")
    missing = [i for i in wanted if i not in set(ids[ids.isin(wanted)])]
    if missing:
        raise DetectorError(f"declaration id {', '.join(missing)} not in the scored table ({len(table):,} rows); "
                            "check the id (the declaration_id column) and the file")
    by_id = pd.DataFrame({"id": ids, "position": np.arange(len(ids))})
    chosen = pd.DataFrame({"id": wanted}).merge(by_id[by_id["id"].isin(wanted)], on="id", how="left")
    return _evidence(table, chosen["position"].drop_duplicates().to_numpy(), pd.Index(ids.unique()), rules,
                     policy or RiskPolicy())


def format_case_view(evidence: pd.DataFrame, width: int = 100) -> str:
    """The case views of :func:`case_view` as plain text (``detector explain``): a
    heading per declaration, then its evidence numbered, strongest first."""
    lines: list[str] = []
    for row, pieces in evidence.groupby("row", sort=False):
        first = pieces.iloc[0]
        lane = f"{first['lane']} lane, " if first["lane"] else ""
        lines.append(f"{first['declaration_id']} (row {row}, {lane}risk {first['risk_score']:.3f})")
        if pieces["source"].eq("").all():
            lines.append("  no evidence: no rule hit and no model spoke of it")
        for piece in pieces[pieces["source"] != ""].itertuples(index=False):  # a declaration's few pieces
            weight = "" if np.isnan(piece.weight) else f", weight {piece.weight:+.2f}"
            label = ", ".join(part for part in (piece.kind, piece.severity, piece.pattern) if part)
            lines.append(f"  {piece.order}. [{piece.source}] {piece.title}".rstrip() + f" ({label}{weight})")
            lines.extend(textwrap.wrap(piece.reason, width, initial_indent="     ", subsequent_indent="     "))
            if len(piece.siblings):
                lines.append("     siblings: " + ", ".join(piece.siblings))
        lines.append("")
    return "\n".join(lines)


def _json_for_script(frame: pd.DataFrame) -> str:
    """Records as JSON safe inside ``<script type="application/json">``: ``<``, ``>``
    and ``&`` escaped, so no cell can close the block (``</script>``)."""
    text = frame.to_json(orient="records", force_ascii=False, double_precision=6)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _counts(values: pd.Series, order) -> dict[str, int]:
    counted = values.value_counts()
    return {name: int(counted.get(name, 0)) for name in order}


def _hits_table(hits: pd.Series, flagged: pd.Series, outcome: pd.Series | None, facts: pd.DataFrame,
                rows: int) -> pd.DataFrame:
    """Per hit rule: hits, share of rows, hits on flagged rows, frauds among the
    inspected ones (with labels), with the rule's title, severity and pattern."""
    table = pd.DataFrame({"hits": hits.value_counts()})
    table["flagged"] = hits[flagged.reindex(hits.index).to_numpy()].value_counts().reindex(table.index).fillna(0)
    if outcome is not None:
        known = outcome.reindex(hits.index)
        table["inspected"] = hits[known.notna().to_numpy()].value_counts().reindex(table.index).fillna(0)
        table["frauds"] = hits[(known == 1).to_numpy()].value_counts().reindex(table.index).fillna(0)
    table = table.join(facts, how="left")
    table["title"] = table["title"].fillna("")
    table["severity"] = table["severity"].fillna("")
    table["pattern"] = table["pattern"].fillna("")
    table["mitigating"] = table["mitigating"].fillna(False).astype(bool)
    table["share"] = table["hits"] / max(rows, 1)
    table.index.name = "rule_id"
    return table.reset_index().sort_values(["hits", "rule_id"], ascending=[False, True], kind="stable")


def _fraud_table(groups: pd.Series, outcome: pd.Series) -> list[list]:
    """Rows, inspected, frauds and fraud rate per group (lane, selection, pattern),
    as table rows."""
    frame = pd.DataFrame({"group": groups.to_numpy(), "inspected": outcome.reindex(groups.index).notna().to_numpy(),
                          "fraud": (outcome.reindex(groups.index) == 1).to_numpy()})
    totals = frame.groupby("group", sort=True).agg(rows=("group", "size"), inspected=("inspected", "sum"),
                                                   frauds=("fraud", "sum"))
    rate = (totals["frauds"] / totals["inspected"].where(totals["inspected"] > 0)).map(
        lambda r: "" if np.isnan(r) else f"{r:.1%}")  # one cell per group
    return [[group, f"{row.rows:,}", f"{row.inspected:,}", f"{row.frauds:,}", rate[group]]
            for group, row in totals.iterrows()]


def _percent_text(values: np.ndarray) -> list[str]:
    return list(np.char.mod("%.1f%%", 100 * np.asarray(values, dtype="float64")))


def _rule_rows(table: pd.DataFrame, outcome: bool) -> list[list]:
    columns = [table["rule_id"], table["title"], table["severity"], table["pattern"],
               table["hits"].map("{:,.0f}".format), _percent_text(table["share"]),
               table["flagged"].map("{:,.0f}".format)]
    if outcome:
        columns += [table["inspected"].map("{:,.0f}".format), table["frauds"].map("{:,.0f}".format)]
    return [list(cells) for cells in zip(*columns)]


def _flagged_frame(scored: pd.DataFrame, hits: pd.Series, facts: pd.DataFrame, cap: int):
    """The flagged rows, riskiest first (ties in file order), capped at ``cap``: their
    positions, their table cells and how many were flagged in all."""
    flagged = flagged_mask(scored)
    risk = _number_column(scored, "risk_score")
    order = pd.DataFrame({"risk": risk[flagged].fillna(-1.0)}).sort_values("risk", ascending=False, kind="stable")
    positions = order.index.to_numpy()[:cap]
    shown = hits[hits.index.isin(positions)]
    rule_cells = shown.groupby(level=0).agg("; ".join).reindex(positions).fillna("")
    patterns = facts["pattern"].reindex(shown.to_numpy()).fillna("")
    patterns = pd.Series(patterns.to_numpy(), index=shown.index)
    patterns = patterns[patterns != ""]
    pattern_cells = patterns.groupby(level=0).agg(lambda p: "; ".join(dict.fromkeys(p))).reindex(positions).fillna("")
    cells = {"declaration_id": _text_column(scored, "declaration_id")[positions],
             "lane": _text_column(scored, "lane")[positions],
             "selection": _text_column(scored, "selection")[positions],
             "risk": pd.Series(np.char.mod("%.3f", risk[positions].to_numpy()), index=positions),
             "rules": rule_cells, "patterns": pattern_cells}
    for name, _ in FLAGGED_COLUMNS:
        if name in scored.columns:
            cells[name] = _text_column(scored, name)[positions]
    return positions, pd.DataFrame(cells, index=positions), int(flagged.sum())


def _facts_of_run(scored: pd.DataFrame, metadata: dict) -> dict:
    """The "what was scored" facts, from the run metadata where it has them and from
    the table otherwise."""
    from detector import __version__

    status = _text_column(scored, "status")
    anomaly = {"mode": None, "rows": None, "date_from": None, "date_to": None, "fingerprint": None,
               **(metadata.get("anomaly") or {})}
    supervised = {"fingerprint": None, **(metadata.get("supervised") or {})}
    options = {"budget": None, "explore": 0.0, "seed": 0, **metadata["options"]} if metadata.get("options") else {}
    source = metadata.get("source") or ""
    return {
        "source": source, "rows": int(metadata.get("rows", len(scored))),
        "invalid_rows": int(metadata.get("invalid_rows", int((status == "invalid").sum()))),
        "validate_command": f"detector validate {source}" if source else "detector validate DECLARATIONS_FILE",
        "rule_packs": metadata.get("rule_packs") or [], "rules_evaluated": metadata.get("rules_evaluated"),
        "rules_skipped": metadata.get("rules_skipped") or {},
        "anomaly": anomaly, "supervised": supervised, "options": options,
        "version": metadata.get("detector_version") or __version__, "date": report_date(),
    }


def _threshold_marks(scored: pd.DataFrame, policy: RiskPolicy, budget) -> dict[str, float]:
    """The histogram's marks: the lane thresholds, or with a budget the lowest risk it
    picked (the budget's cut; the random checks are picked whatever their risk)."""
    if budget is None:
        return {f"yellow {policy.yellow:.2f}": policy.yellow, f"red {policy.red:.2f}": policy.red}
    picked = _text_column(scored, "selection") == "risk"
    red = _number_column(scored, "risk_score")[(_text_column(scored, "lane") == "red") & (picked | ~picked.any())]
    return {f"budget cut {red.min():.3f}": float(red.min())} if red.notna().any() else {}


# Over 60 lines for its numpydoc parameters; the body, about 45 lines, gathers the
# page's parts (each from a function of its own) and renders the template.
def batch_report(scored: pd.DataFrame, metadata: dict | None = None, rules: RuleSet | None = None,
                 labels: pd.Series | None = None, policy: RiskPolicy | None = None,
                 max_cases: int = MAX_CASE_ROWS) -> str:
    """The batch report of a scored table as one self-contained HTML page.

    Parameters
    ----------
    scored : DataFrame
        :attr:`ScoreResult.output`, or a scored CSV/Parquet file read back.
    metadata : dict, optional
        :attr:`ScoreResult.metadata` (or the metadata of the scored Parquet file):
        source file, rule packs and hashes, models, options. Without it the page says
        what the table itself shows (rows, invalid rows, lanes).
    rules : RuleSet, optional
        The rules that scored it: titles, severities and patterns of the hits, which
        rules lowered the risk, and the case views' order by weight.
    labels : Series, optional
        Inspection outcomes, one per row (1/True/"fraud", 0/False/"clean", empty: not
        inspected); a ``label`` or ``fraud`` column serves when not given. Adds
        frauds per lane, per selection and per pattern.
    policy : RiskPolicy, optional
        The lane thresholds and weights of the run (the default policy otherwise).
    max_cases : int
        The flagged rows the page lists and carries case views for, riskiest first
        (:data:`MAX_CASE_ROWS`); the page says when it holds fewer than were flagged.

    Returns
    -------
    str
        The page. It loads nothing from the network; its date is
        ``SOURCE_DATE_EPOCH``'s when set (:func:`report_date`).
    """
    policy = policy or RiskPolicy()
    metadata = metadata or {}
    table = scored.reset_index(drop=True)
    facts = _rule_facts(rules, policy)
    hits = rule_hit_ids(table["rule_hits"] if "rule_hits" in table.columns else _text_column(table, "rule_hits"))
    outcome = label_values(table, labels)
    flagged = flagged_mask(table)
    run = _facts_of_run(table, metadata)
    risk = _number_column(table, "risk_score")
    lanes = _counts(_text_column(table, "lane"), LANES)
    selection = _counts(_text_column(table, "selection"), ["risk", "explore"])
    rule_table = _hits_table(hits, flagged, outcome, facts, len(table))
    raising = rule_table[~rule_table["mitigating"]]
    lowering = rule_table[rule_table["mitigating"]]
    drawn = raising.head(MAX_CHART_RULES)
    bar_labels = (drawn["rule_id"] + " " + drawn["title"]).str.strip()
    positions, flagged_cells, flagged_total = _flagged_frame(table, hits, facts, max_cases)
    cases = _case_data(table, positions, flagged_cells, rules, policy)
    shown_columns, cell_frame, filters = _flagged_table(table, flagged_cells, hits[hits.index.isin(positions)],
                                                        facts, rules is not None,
                                                        selection["explore"] + selection["risk"] > 0)
    labels_at = {column["label"]: i for i, column in enumerate(shown_columns)}
    page = environment().get_template("report.html.j2").render(
        run=run, lanes=lanes, selection=selection, rows=len(table), flagged_total=flagged_total,
        shown_cases=len(positions), max_cases=max_cases,
        histogram=charts.histogram(risk[risk > 0], marks=_threshold_marks(table, policy,
                                                                          (run["options"] or {}).get("budget"))),
        no_risk=int((risk == 0).sum()),
        hits_chart=charts.bar_chart(bar_labels.tolist(), drawn["hits"].tolist(), drawn["severity"].tolist(),
                                    title="Hits per rule") if len(drawn) else "",
        lowering_chart=charts.bar_chart((lowering["rule_id"] + " " + lowering["title"]).str.strip().tolist(),
                                        lowering["hits"].tolist(), ["mitigating"] * len(lowering),
                                        title="Rules that lowered the risk") if len(lowering) else "",
        rule_rows=_rule_rows(raising, outcome is not None), lowering_rows=_rule_rows(lowering, outcome is not None),
        with_outcome=outcome is not None,
        lane_frauds=_fraud_table(_text_column(table, "lane"), outcome) if outcome is not None else [],
        selection_frauds=(_fraud_table(_text_column(table, "selection").replace("", "(not selected)"), outcome)
                          if outcome is not None and selection["explore"] + selection["risk"] else []),
        pattern_frauds=(_fraud_table(_pattern_of_hits(hits, facts, rules), outcome)
                        if outcome is not None and len(hits) else []),
        grouped_by="pattern" if rules is not None else "rule",
        flagged_columns=shown_columns, flagged_rows=[list(row) for row in cell_frame.to_numpy()],
        filters=filters, risk_column=labels_at["risk"], cases=cases, id_token=ID_TOKEN,
    )
    return page


def _case_data(table: pd.DataFrame, positions: np.ndarray, flagged_cells: pd.DataFrame, rules: RuleSet | None,
               policy: RiskPolicy) -> str:
    """The embedded case views of the shown flagged rows, as JSON for the page's
    script: their fields and lanes, and every piece of evidence (:func:`case_view`)."""
    evidence = _evidence(table, positions, pd.Index(_text_column(table, "declaration_id").unique()), rules, policy)
    case_rows = table.iloc[positions][["declaration_id", *[f for f in CASE_FIELDS if f in table.columns]]]
    case_rows = case_rows.assign(lane=flagged_cells["lane"].to_numpy(), selection=flagged_cells["selection"].to_numpy(),
                                 risk_score=flagged_cells["risk"].to_numpy()).astype(str)
    return ('{"rows":' + _json_for_script(case_rows) + ',"evidence":'
            + _json_for_script(evidence.assign(weight=evidence["weight"].round(4))) + "}")


def _flagged_table(table: pd.DataFrame, flagged_cells: pd.DataFrame, shown_hits: pd.Series, facts: pd.DataFrame,
                   with_patterns: bool, with_selection: bool) -> tuple[list[dict], pd.DataFrame, list[dict]]:
    """The flagged-shipments table: its columns (label, numeric), its cells and its
    filters (lane, selection, rule, pattern, party), each filter with the columns it
    reads and the options the shown rows hold. Selection is left out of a run without
    a budget's random checks, patterns when no rules name them."""
    columns = [("declaration id", False), ("lane", False), ("selection", False), ("risk", True), ("rules", False),
               ("patterns", False), *[(label, False) for name, label in FLAGGED_COLUMNS if name in table.columns]]
    keep = [i for i, (label, _) in enumerate(columns)
            if not (label == "selection" and not with_selection) and not (label == "patterns" and not with_patterns)]
    shown_columns = [{"label": columns[i][0], "numeric": columns[i][1]} for i in keep]
    labels_at = {column["label"]: i for i, column in enumerate(shown_columns)}

    def choice(label: str, options, separator: str = "", columns_read=None) -> dict:
        return {"label": label, "columns": columns_read or [labels_at[label]], "separator": separator,
                "options": options}

    filters = [choice("lane", [lane for lane in LANES if lane in set(flagged_cells["lane"])])]
    if "selection" in labels_at:
        filters.append(choice("selection", sorted(set(flagged_cells["selection"]) - {""})))
    filters.append(choice("rule", sorted(shown_hits.unique()), ";", [labels_at["rules"]]))
    if "patterns" in labels_at:
        filters.append(choice("pattern", sorted(set(facts["pattern"].reindex(shown_hits.unique()).dropna()) - {""}),
                              ";", [labels_at["patterns"]]))
    party_columns = [labels_at[label] for label in ("exporter", "consignee") if label in labels_at]
    if party_columns:
        parties = pd.concat([flagged_cells[name] for name in ("exporter", "consignee") if name in flagged_cells])
        filters.append(choice("party", sorted(set(parties) - {""}), "", party_columns))
    return shown_columns, flagged_cells.iloc[:, keep], filters


def _pattern_of_hits(hits: pd.Series, facts: pd.DataFrame, rules: RuleSet | None) -> pd.Series:
    """Per (row, pattern) once: the patterns of each row's hits (the rule ids without
    the rules to name their patterns)."""
    if rules is None:
        return hits
    patterns = pd.Series(facts["pattern"].reindex(hits.to_numpy()).fillna("(unknown rule)").to_numpy(),
                         index=hits.index)
    frame = patterns.reset_index().drop_duplicates()
    return pd.Series(frame.iloc[:, 1].to_numpy(), index=frame.iloc[:, 0].to_numpy())


def write_report(html: str, path: str | Path, *inputs: str | Path | None) -> Path:
    """Write a report atomically to ``path`` and return it.

    Refuses to write over any of ``inputs`` (the scored file it was built from, the
    declarations), whatever the names; a regular file is replaced only once the page
    is complete, and a device or pipe is written into, never replaced
    (:func:`detector.io.output_file`).
    """
    refuse_overwriting(path, *inputs)
    with output_file(path) as sink:
        sink.write(html.encode("utf-8"))
    return Path(path)
