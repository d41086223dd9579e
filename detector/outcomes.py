"""Inspection outcomes: what inspections found, kept beside what the detector said.

A rule earns its place by the frauds its inspections find. This module keeps both sides
in one SQLite file so they can be joined later:

- the outcomes an inspection service reports (declaration, date, fraud or clean,
  money recovered), imported from CSV or Parquet by :func:`read_outcomes` and
  :meth:`OutcomeStore.add_outcomes`;
- for every scored batch, what produced it (the run metadata: detector version, rule
  packs and their hashes, models, options), which rules ran (with their title, pattern
  and severity at the time), which rule hit which declaration, and the lane, risk score
  and selection (risk pick or random check) each declaration was given
  (:meth:`OutcomeStore.record_batch`).

:meth:`OutcomeStore.report` joins each outcome to the batch recorded last that scored
its declaration and gives the hit rate (the share of inspections that found fraud) per
rule, lane, pattern and selection and over time, and lists the rules whose hit rate has
fallen below a threshold as candidates for review. The hit rate by selection sets the
risk picks beside the random checks of the budget's exploration share: the random checks
are the service's base rate, so the risk picks earn their place by beating them.

Where the database lives
------------------------
``detector-outcomes.sqlite`` in the current folder, unless the ``DETECTOR_DB``
environment variable names another file; the command line's ``--db`` overrides both.
An office that keeps one history for all its analysts points ``DETECTOR_DB`` at it.

Importing is idempotent: importing the same file again adds nothing. A row that
disagrees with the outcome already stored for its declaration is reported as a
conflict and the stored row is kept: a second inspection report does not silently
rewrite the first. Every write is one transaction, so a failed import or batch leaves
the database as it was. The schema version is kept in ``PRAGMA user_version`` and the
migrations that build it are in :data:`MIGRATIONS`.

When the database cannot be used
--------------------------------
Every SQLite and file-system failure becomes one :class:`OutcomeError` that names the
file and says what to do: a database another run holds locked (after waiting
:data:`LOCK_WAIT_SECONDS`), a read-only file or folder, a damaged file, a file that is
not SQLite, another program's SQLite file, a schema from a newer detector. Opening
checks the schema is ours; :meth:`OutcomeStore.check_writable` checks, before any
scoring, that a batch could be written, so ``detector score --record`` fails before
it writes anything rather than after.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from itertools import repeat
from pathlib import Path

import numpy as np
import pandas as pd

from detector import charts
from detector.errors import DetectorError
from detector.io import atomic_file, read_table, same_file
from detector.labels import CLEAN_WORDS, FRAUD_WORDS
from detector.risk import LANES
from detector.text_columns import parts_lines, table_part

DEFAULT_DB = "detector-outcomes.sqlite"
DB_ENVIRONMENT_VARIABLE = "DETECTOR_DB"
# One fraud in twenty inspections: below that a rule sends officers to nineteen clean
# consignments for every fraud it finds, which is worth a second look whatever the
# service's usual hit rate is. Tune it to the hit rate of the service's random checks.
DEFAULT_THRESHOLD = 0.05
# With fewer inspections one fraud more or less moves the hit rate by more than the
# threshold itself, so a period that thin says nothing about the rule.
DEFAULT_MIN_INSPECTIONS = 20
PERIODS = {"W": "week", "M": "month", "Q": "quarter", "Y": "year"}
NO_RULE = "(no rule)"
# An inspected declaration the budget did not send to the red lane (an officer's own
# choice, a yellow lane check, a batch scored without a budget, or one recorded before
# selections were kept).
NOT_SELECTED = "(not selected)"

OUTCOME_COLUMNS = ("declaration_id", "inspected_on", "result", "recovered_value", "notes")
REQUIRED_COLUMNS = ("declaration_id", "inspected_on", "result")
# A result is read as every label is (detector.labels): fraud/clean, 1/0, yes/no,
# true/false (a boolean Parquet column), and stored as "fraud" or "clean".
RESULT_WORDS = {**dict.fromkeys(FRAUD_WORDS, "fraud"), **dict.fromkeys(CLEAN_WORDS, "clean")}
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
_SHOWN_PROBLEMS = 5
# "DETC": marks the file as the detector's, so another program's database is refused.
APPLICATION_ID = 0x44455443
# How long to wait for another run's write to the database to finish before saying it
# is in use. Recording a scored batch takes about 6 s per million declarations (the
# 20,867-row sample in 0.12 s), so this covers a colleague's run of two million or an
# import, and still answers a lock that will not go away in seconds.
LOCK_WAIT_SECONDS = 15.0
# Where SQLite's own words are replaced by what the analyst can do about them.
_CHOOSE_ANOTHER = "choose another database with --db or DETECTOR_DB"
_CHOOSE_OURS = "choose the outcomes database with --db or DETECTOR_DB"
_RESTORE = "restore it from a backup, or move it aside to start a new one"

MIGRATIONS: tuple[str, ...] = (
    # 1: outcomes, and what each scored batch said about each declaration.
    """
    CREATE TABLE outcomes (
        declaration_id TEXT PRIMARY KEY,
        inspected_on TEXT NOT NULL
            CHECK (inspected_on GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
        result TEXT NOT NULL CHECK (result IN ('fraud', 'clean')),
        recovered_value REAL CHECK (recovered_value >= 0),
        notes TEXT,
        source TEXT,
        imported_at TEXT NOT NULL
    );
    CREATE TABLE batches (
        batch_id INTEGER PRIMARY KEY,
        source TEXT,
        scored_at TEXT NOT NULL,
        row_count INTEGER NOT NULL,
        budget REAL
    );
    CREATE TABLE batch_rules (
        batch_id INTEGER NOT NULL REFERENCES batches (batch_id) ON DELETE CASCADE,
        rule_id TEXT NOT NULL,
        title TEXT,
        pattern TEXT,
        severity TEXT,
        PRIMARY KEY (batch_id, rule_id)
    );
    CREATE TABLE batch_lanes (
        batch_id INTEGER NOT NULL REFERENCES batches (batch_id) ON DELETE CASCADE,
        file_row INTEGER NOT NULL,
        declaration_id TEXT,
        lane TEXT NOT NULL,
        risk_score REAL,
        PRIMARY KEY (batch_id, file_row)
    );
    CREATE INDEX batch_lanes_declaration ON batch_lanes (declaration_id, batch_id);
    CREATE TABLE batch_hits (
        batch_id INTEGER NOT NULL,
        file_row INTEGER NOT NULL,
        rule_id TEXT NOT NULL,
        PRIMARY KEY (batch_id, file_row, rule_id),
        FOREIGN KEY (batch_id, file_row) REFERENCES batch_lanes (batch_id, file_row) ON DELETE CASCADE,
        FOREIGN KEY (batch_id, rule_id) REFERENCES batch_rules (batch_id, rule_id) ON DELETE CASCADE
    );
    PRAGMA application_id = 1145394243;
    """,
    # 2: what produced each batch (the run metadata of the scoring, as JSON: detector
    # version, rule packs and their sha256, models and their fingerprints, options),
    # and how each row came to the red lane under a budget: 'risk' (its risk ranked it
    # within the budget) or 'explore' (a random check); NULL when neither, and for the
    # batches recorded before (their selection was not kept).
    """
    ALTER TABLE batches ADD COLUMN metadata TEXT
        CHECK (metadata IS NULL OR (json_valid(metadata) AND json_type(metadata) = 'object'));
    ALTER TABLE batch_lanes ADD COLUMN selection TEXT CHECK (selection IN ('risk', 'explore'));
    """,
)
SELECTIONS = ("risk", "explore")


class OutcomeError(DetectorError):
    """An outcomes file or database cannot be used as it is."""


def default_db_path() -> Path:
    """``$DETECTOR_DB`` when set, else ``detector-outcomes.sqlite`` in the current folder."""
    return Path(os.environ.get(DB_ENVIRONMENT_VARIABLE) or DEFAULT_DB)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --------------------------------------------------------------------------- reading


def read_outcomes(path: str | Path) -> pd.DataFrame:
    """Read and check an outcomes file (CSV or Parquet).

    Parameters
    ----------
    path : str or Path
        Columns ``declaration_id``, ``inspected_on`` (YYYY-MM-DD), ``result`` (fraud or
        clean; 1/0 and true/false are read as a fraud flag), and optionally
        ``recovered_value`` (a non-negative number) and ``notes``. Names match
        whatever their case and surrounding spaces; other columns are ignored.

    Returns
    -------
    DataFrame
        See :func:`outcomes_frame`.

    Raises
    ------
    OutcomeError
        When a column is missing or any cell is unusable: the whole file is refused,
        so an import never stores half a file.
    """
    raw, _info = read_table(path)
    return outcomes_frame(raw, str(path))


def outcomes_frame(raw: pd.DataFrame, source: str = "<table>") -> pd.DataFrame:
    """Check and normalise a table of outcomes, column by column.

    Returns
    -------
    DataFrame
        ``row`` (1-based data row of ``raw``), ``declaration_id``, ``inspected_on``
        (ISO text), ``result`` ('fraud' or 'clean'), ``recovered_value`` (float, NaN
        when empty) and ``notes`` (missing when empty).
    """
    columns = _outcome_columns(list(raw.columns), source)
    text = {name: _stripped_cells(raw[column]) for name, column in columns.items()}
    empty = pd.Series("", index=raw.index, dtype=object)
    values = pd.to_numeric(text.get("recovered_value", empty).where(lambda s: s != ""), errors="coerce")
    result = text["result"].str.lower().map(RESULT_WORDS)
    dates = pd.to_datetime(text["inspected_on"].where(text["inspected_on"].str.match(_ISO_DATE)),
                           format="%Y-%m-%d", errors="coerce")
    checks = [
        ("declaration_id", text["declaration_id"] == "", "a declaration id"),
        ("inspected_on", dates.isna(), "a date as YYYY-MM-DD"),
        ("result", result.isna(), "fraud or clean (or 1/0, yes/no)"),
    ]
    if "recovered_value" in text:
        written = text["recovered_value"] != ""
        checks += [
            ("recovered_value", written & ~(values.abs() < np.inf), "a number such as 1250.50, or empty"),
            ("recovered_value", written & (values < 0), "a value of 0 or more"),
            ("recovered_value", (values > 0) & (result == "clean"), "empty or 0 for a clean inspection"),
        ]
    problems = _problems(checks, columns, text)
    if len(problems):
        raise OutcomeError(_problem_message(problems, source))
    notes = text.get("notes", empty)
    return pd.DataFrame({
        "row": np.arange(1, len(raw) + 1),
        "declaration_id": text["declaration_id"].astype(object),
        "inspected_on": dates.dt.strftime("%Y-%m-%d").astype(object),
        "result": result.astype(object),
        "recovered_value": values.astype("float64"),
        "notes": notes.astype(object).where(notes != "", None),
    }).reset_index(drop=True)


def _outcome_columns(names: list[str], source: str) -> dict[str, str]:
    """Outcome field -> the table's column holding it, matched without case or spaces."""
    found: dict[str, str] = {}
    for name in names:
        key = str(name).strip().lower()
        if key in OUTCOME_COLUMNS:
            if key in found:
                raise OutcomeError(f"{source}: columns '{found[key]}' and '{name}' both name {key}")
            found[key] = name
    missing = [name for name in REQUIRED_COLUMNS if name not in found]
    if missing:
        raise OutcomeError(f"{source}: missing column(s) {', '.join(missing)}; columns found: "
                           f"{', '.join(map(str, names))} (expected {', '.join(OUTCOME_COLUMNS)})")
    return found


def _stripped_cells(column: pd.Series) -> pd.Series:
    """Cells as stripped text, empty for a missing cell; dates of a Parquet column as
    YYYY-MM-DD when they carry no time of day."""
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        column = column.dt.strftime("%Y-%m-%d %H:%M:%S").str.removesuffix(" 00:00:00")
    return column.astype(object).where(column.notna(), "").astype(str).str.strip()


def _problems(checks, columns: dict[str, str], text: dict[str, pd.Series]) -> pd.DataFrame:
    """One row per bad cell: row, column (as the file names it), value, expected."""
    parts = [pd.DataFrame({"row": np.flatnonzero(bad.to_numpy()) + 1, "order": number,
                           "column": columns[name], "value": text[name][bad].to_numpy(),
                           "expected": expected})
             for number, (name, bad, expected) in enumerate(checks) if bad.any()]
    if not parts:
        return pd.DataFrame(columns=["row", "column", "value", "expected"])
    problems = pd.concat(parts, ignore_index=True).sort_values(["row", "order"], kind="stable")
    return problems.drop(columns="order").reset_index(drop=True)


def _problem_message(problems: pd.DataFrame, source: str) -> str:
    shown = problems.head(_SHOWN_PROBLEMS)
    lines = ("row " + shown["row"].astype(str) + ", column '" + shown["column"].astype(str)
             + "', value '" + shown["value"].astype(str).str.slice(0, 40) + "': expected "
             + shown["expected"])
    more = len(problems) - len(shown)
    return (f"{source}: {len(problems)} problem(s) in {problems['row'].nunique()} row(s), nothing imported: "
            + "; ".join(lines) + (f"; and {more} more" if more else ""))


# --------------------------------------------------------------------------- reports


@dataclass
class ImportReport:
    """What one import did.

    Attributes
    ----------
    source : str
    added : int
        Declarations whose outcome was stored.
    unchanged : int
        Declarations already stored with exactly the same outcome.
    conflicts : DataFrame
        One row per file row that disagrees with the stored outcome of its declaration
        (the stored row is kept) or with an earlier row of the same file (neither is
        stored): declaration_id, row, differs (the fields that differ), new_result,
        new_inspected_on, old_result, old_inspected_on, old_source.
    """

    source: str
    added: int
    unchanged: int
    conflicts: pd.DataFrame

    def lines(self) -> list[str]:
        """The import as short text lines for the terminal."""
        lines = [f"{self.source}: {self.added} added, {self.unchanged} already stored, "
                 f"{len(self.conflicts)} conflict(s)"]
        if len(self.conflicts):
            lines += ["conflicts (nothing overwritten; fix the file or the stored outcome):",
                      self.conflicts.to_string(index=False)]
        return lines


CONFLICT_COLUMNS = ("declaration_id", "row", "differs", "new_result", "new_inspected_on",
                    "old_result", "old_inspected_on", "old_source")


@dataclass
class OutcomeReport:
    """Hit rates of inspections: the share of inspected declarations found to be fraud.

    Attributes
    ----------
    inspections, frauds : int
        Outcomes joined to a scored batch, and how many of them found fraud.
    unmatched : int
        Outcomes of declarations no recorded batch scored (left out of every table).
    by_rule : DataFrame
        rule_id, title, pattern, severity, inspections, frauds, hit_rate,
        recovered_value: over the inspected declarations each rule hit.
    by_lane, by_pattern : DataFrame
        The same counts per lane given, and per pattern of the rules that hit (a
        declaration hit by no rule counts under ``(no rule)``).
    by_selection : DataFrame
        The same counts per selection of the row under a budget: ``risk`` (picked by
        its risk) and ``explore`` (a random check) always, then ``(not selected)``
        when some inspected declarations were neither.
    over_time : DataFrame
        period, rule_id and the counts, per period of ``inspected_on``.
    review : DataFrame
        Rules whose hit rate in their latest period with enough inspections is below
        ``threshold``, with that period's counts, the earlier ones and why.
    database : Path, optional
        The database the report was read from: :meth:`to_html` never writes over it.
    inspected_from, inspected_to : str, optional
        The first and last ``inspected_on`` of the inspections the figures count.
    batches : int
        Batches recorded in the database.
    scored_from, scored_to : str, optional
        When the first and the last of them were scored (ISO time).
    """

    threshold: float
    min_inspections: int
    period: str
    inspections: int
    frauds: int
    unmatched: int
    by_rule: pd.DataFrame
    by_lane: pd.DataFrame
    by_pattern: pd.DataFrame
    over_time: pd.DataFrame
    review: pd.DataFrame
    by_selection: pd.DataFrame
    database: Path | None = None
    inspected_from: str | None = None
    inspected_to: str | None = None
    batches: int = 0
    scored_from: str | None = None
    scored_to: str | None = None

    @property
    def review_rule(self) -> str:
        """The review criterion in words."""
        return (f"hit rate below {self.threshold:.1%} in the rule's latest {PERIODS[self.period]} "
                f"with at least {self.min_inspections} inspections")

    @property
    def summary(self) -> str:
        """The inspections counted, in one sentence."""
        overall = _percent(self.frauds / self.inspections) if self.inspections else "n/a"
        return (f"{self.inspections} inspections joined to scored declarations, {self.frauds} found fraud "
                f"({overall}); {self.unmatched} outcome(s) of declarations no recorded batch scored")

    @property
    def coverage(self) -> str:
        """The inspections and batches the report covers, with their dates."""
        inspections = (f"{self.inspections} inspections from {self.inspected_from} to {self.inspected_to}"
                       if self.inspections else "no inspections joined")
        batches = (f"{self.batches} batch{'es' * (self.batches != 1)} scored from {self.scored_from[:10]} "
                   f"to {self.scored_to[:10]}" if self.batches else "no batch recorded")
        return f"{inspections}; {batches}"

    @property
    def selection_verdict(self) -> str:
        """Risk picks against random checks in words: both hit rates, and whether the
        counts are enough to tell them apart (see :func:`selection_verdict`)."""
        return selection_verdict(self.by_selection, self.min_inspections)

    def parts(self, periods: int = 6) -> list:
        """The report as parts: headings and sentences as strings, the tables as
        DataFrames ready to show (hit rates as percentages; the period table keeps its
        rules as its index, see :func:`detector.evaluation.table_part`); a table with
        no rows is the line that says so. ``periods`` latest periods shown."""
        parts = [self.summary]
        if self.database is not None:
            parts.append(f"database: {self.database} ({self.coverage})")
        parts += ["", f"rules to review ({self.review_rule}):"]
        review = self.review[["rule_id", "title", "why"]]
        parts.append(_table_part(review) if len(review) else "  none")
        parts += ["", "hit rate per rule:", _table_part(self.by_rule), "",
                  "hit rate per lane:", _table_part(self.by_lane), "",
                  "hit rate by selection (risk picks against random checks):", _table_part(self.by_selection),
                  self.selection_verdict, "",
                  "hit rate per pattern:", _table_part(self.by_pattern), "",
                  f"hit rate per rule and {PERIODS[self.period]} (inspections in brackets):",
                  _table_part(_period_table(self.over_time, periods), index=True)]
        return parts

    def lines(self, periods: int = 6) -> list[str]:
        """The report as text tables for the terminal; ``periods`` latest periods shown."""
        return parts_lines(self.parts(periods))

    def to_html(self, path: str | Path) -> Path:
        """Write the report as one self-contained HTML page (review list first).

        Raises
        ------
        OutcomeError
            When ``path`` is the database the report was read from (by any name: a
            relative path, a symlink, a hard link) or cannot be written.
        """
        if self.database is not None and same_file(path, self.database):
            raise OutcomeError(f"{path}: is the outcomes database the report reads ({self.database}); write the "
                               "HTML report to another file, e.g. outcomes.html")
        with atomic_file(path) as temporary:
            temporary.write_text(_html_page(self), encoding="utf-8")
        return Path(path)


def _percent(value: float) -> str:
    return "n/a" if pd.isna(value) else f"{value:.1%}"


def selection_verdict(by_selection: pd.DataFrame, min_inspections: int) -> str:
    """Whether the risk picks find fraud more often than the random checks, in words.

    Both hit rates with their counts, then the ratio, or why there is none: no random
    check inspected (the budget had no exploration share), random checks that found no
    fraud, or fewer than ``min_inspections`` inspections on either side (one fraud
    more or less would change the answer).
    """
    counts = by_selection.set_index("selection").to_dict("index")  # keeps each column's type
    risk, explore = (counts[name] for name in SELECTIONS)
    risk_words = (f"risk picks found fraud in {_percent(risk['hit_rate'])} of their inspections "
                  f"({risk['frauds']} of {risk['inspections']})" if risk["inspections"] else
                  "risk picks: none inspected")
    if not explore["inspections"]:
        return (f"{risk_words}, random checks: none inspected; score with a budget and an exploration share "
                "(--budget, --explore) to compare")
    figures = (f"{risk_words}, random checks in {_percent(explore['hit_rate'])} "
               f"({explore['frauds']} of {explore['inspections']})")
    if min(risk["inspections"], explore["inspections"]) < min_inspections:
        return f"{figures}: too few to compare (at least {min_inspections} of each)"
    if not explore["frauds"]:
        return f"{figures}: random checks found no fraud"
    return f"{figures}: risk picks find fraud {risk['hit_rate'] / explore['hit_rate']:.1f} times as often"


def _percents(values: pd.Series) -> pd.Series:
    """Rates as text percentages, column-wise ('n/a' when missing)."""
    text = (values * 100).round(1).map("{:.1f}%".format, na_action="ignore")
    return text.astype(object).where(values.notna(), "n/a")


def _display(frame: pd.DataFrame) -> pd.DataFrame:
    """Hit rates as percentages and money rounded, for reading."""
    shown = frame.copy()
    for column in shown.columns:
        if column.endswith("hit_rate"):
            shown[column] = _percents(shown[column])
        elif column == "recovered_value":
            shown[column] = shown[column].round(2)
    return shown


def _table_part(frame: pd.DataFrame, index: bool = False) -> pd.DataFrame | str:
    """A table of the report as shown, or the line that says it has no rows."""
    if not len(frame):
        return "  (no inspections)"
    return table_part(_display(frame), index=index)


def _period_table(over_time: pd.DataFrame, periods: int | None = None) -> pd.DataFrame:
    """Rules as rows, periods as columns, each cell 'hit rate (inspections)'."""
    if not len(over_time):
        return pd.DataFrame()
    cells = over_time.assign(cell=_percents(over_time["hit_rate"]) + " ("
                             + over_time["inspections"].astype(str) + ")")
    table = cells.pivot(index="rule_id", columns="period", values="cell").fillna("")
    table = table[sorted(table.columns)]
    return table.iloc[:, -periods:] if periods else table


# --------------------------------------------------------------------------- store


class OutcomeStore:
    """The outcomes database: open it, import outcomes, record batches, report.

    Parameters
    ----------
    path : str or Path, optional
        The SQLite file; :func:`default_db_path` when omitted.
    create : bool
        Create the file when it does not exist; with False a missing file is an error
        (a report on a mistyped path should not create an empty database).
    timeout : float
        Seconds to wait for another run's write to finish before saying the database
        is in use.

    Raises
    ------
    OutcomeError
        When the file cannot be opened or is not an outcomes database of this
        detector's schema (see the module's notes on failures). Opening reads only:
        call :meth:`check_writable` before work whose result is to be stored.

    Examples
    --------
    >>> with OutcomeStore("outcomes.sqlite") as store:  # doctest: +SKIP
    ...     store.record_batch(detector.score(detector.load_declarations("batch.csv")))
    ...     store.add_outcomes(read_outcomes("inspections.csv"), "inspections.csv")
    ...     print("\\n".join(store.report().lines()))
    """

    def __init__(self, path: str | Path | None = None, create: bool = True,
                 timeout: float = LOCK_WAIT_SECONDS):
        self.path = Path(path) if path is not None else default_db_path()
        self.timeout = timeout
        _prepare_location(self.path, create)
        with self._database_errors():
            self.connection = sqlite3.connect(self.path, isolation_level=None, timeout=timeout)
        try:
            with self._database_errors():
                self.connection.execute("PRAGMA foreign_keys = ON")
                self.version = migrate(self.connection, str(self.path))
                _check_schema(self.connection, self.version, str(self.path))
        except BaseException:
            self.connection.close()
            raise

    def __enter__(self) -> "OutcomeStore":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Close the database file."""
        self.connection.close()

    def check_writable(self) -> None:
        """Fail now, before any scoring, when a batch or an import could not be stored.

        Writes the schema version back unchanged in a transaction that is rolled back:
        that takes the write lock (waiting ``timeout`` for another run, as a real write
        would) and makes SQLite create its journal beside the file, which is what a
        read-only file or folder refuses. The file is left byte for byte as it was.

        Raises
        ------
        OutcomeError
            When the database is in use by another run, read-only, in a read-only
            folder, or damaged.
        """
        with self._database_errors():
            self.connection.execute("BEGIN IMMEDIATE")
            try:
                # PRAGMA takes no parameters; the version is an int read at opening.
                self.connection.execute(f"PRAGMA user_version = {int(self.version)}")
            finally:
                if self.connection.in_transaction:
                    self.connection.execute("ROLLBACK")

    @contextmanager
    def _database_errors(self):
        """SQLite's errors as one :class:`OutcomeError` line naming the file."""
        try:
            yield
        except sqlite3.Error as exc:
            raise OutcomeError(_database_problem(exc, self.path, self.timeout)) from exc

    @contextmanager
    def _transaction(self):
        """One write transaction: committed when the block ends, rolled back on error."""
        with self._database_errors():
            self.connection.execute("BEGIN IMMEDIATE")
            try:
                yield self.connection
                self.connection.execute("COMMIT")
            except BaseException:
                # SQLite rolls back by itself after some errors (a full disk); a COMMIT that
                # failed (still locked) leaves the transaction open.
                if self.connection.in_transaction:
                    self.connection.execute("ROLLBACK")
                raise

    def _query(self, sql: str, parameters=()) -> pd.DataFrame:
        with self._database_errors():
            cursor = self.connection.execute(sql, parameters)
            rows = cursor.fetchall()
        return pd.DataFrame(rows, columns=[item[0] for item in cursor.description])

    # ------------------------------------------------------------------- outcomes

    def outcomes(self) -> pd.DataFrame:
        """Every stored outcome, by declaration id."""
        return self._query("SELECT * FROM outcomes ORDER BY declaration_id")

    def add_outcomes(self, frame: pd.DataFrame, source: str) -> ImportReport:
        """Store the outcomes of declarations not stored yet, in one transaction.

        Parameters
        ----------
        frame : DataFrame
            From :func:`read_outcomes` or :func:`outcomes_frame`.
        source : str
            Where the outcomes came from (kept with each stored row).

        Returns
        -------
        ImportReport
            A declaration already stored with the same outcome is ``unchanged``; one
            stored with a different outcome is a conflict and keeps its stored row.
            Rows of the file that disagree with each other are conflicts too, and none
            of them is stored; identical repeated rows count once.
        """
        frame = frame.reset_index(drop=True)
        if "row" not in frame.columns:
            frame = frame.assign(row=np.arange(1, len(frame) + 1))
        versions = frame.drop_duplicates(subset=list(OUTCOME_COLUMNS))
        clashing = versions["declaration_id"].duplicated(keep=False).to_numpy()
        in_file = _in_file_conflicts(versions[clashing])
        incoming = versions[~clashing]
        with self._transaction() as connection:
            connection.execute("CREATE TEMP TABLE incoming (file_row INTEGER, declaration_id TEXT PRIMARY KEY, "
                               "inspected_on TEXT, result TEXT, recovered_value REAL, notes TEXT)")
            connection.executemany("INSERT INTO temp.incoming VALUES (?, ?, ?, ?, ?, ?)",
                                   _records(incoming, ["row", *OUTCOME_COLUMNS]))
            stored = self._query("SELECT i.file_row AS row, o.* FROM temp.incoming AS i "
                                 "JOIN outcomes AS o USING (declaration_id)")
            added = connection.execute(
                "INSERT INTO outcomes (declaration_id, inspected_on, result, recovered_value, notes, "
                "source, imported_at) SELECT declaration_id, inspected_on, result, recovered_value, notes, ?, ? "
                "FROM temp.incoming WHERE declaration_id NOT IN (SELECT declaration_id FROM outcomes)",
                (source, _now())).rowcount
            connection.execute("DROP TABLE temp.incoming")
        against_stored = _stored_conflicts(incoming, stored)
        conflicts = pd.concat([against_stored, in_file], ignore_index=True).sort_values(
            ["row", "declaration_id"], kind="stable").reset_index(drop=True)
        return ImportReport(source=source, added=added, unchanged=len(stored) - len(against_stored),
                            conflicts=conflicts[list(CONFLICT_COLUMNS)])

    def add_outcomes_file(self, path: str | Path) -> ImportReport:
        """Read, check and import one outcomes file (see :func:`read_outcomes`)."""
        if same_file(path, self.path):
            raise OutcomeError(f"{path}: is the outcomes database itself; give the CSV or Parquet file of "
                               "inspection outcomes")
        return self.add_outcomes(read_outcomes(path), str(path))

    # ------------------------------------------------------------------- batches

    def record_batch(self, result, scored_at: str | None = None, budget: float | None = None) -> int:
        """Keep what one scoring run said: its run metadata, rules run, lanes, risk
        scores, selections and rule hits.

        Parameters
        ----------
        result : detector.scoring.ScoreResult
            Its ``metadata`` is stored as JSON (NULL for a result that has none), and
            its output's ``selection`` per row ('risk', 'explore'; empty as NULL).
        scored_at : str, optional
            ISO time of scoring; now (UTC) when omitted.
        budget : float, optional
            The inspection budget (percent of rows) the run used; the metadata's when
            omitted.

        Returns
        -------
        int
            The new batch's id; later batches win when outcomes are joined.
        """
        hits = result.rule_results.hits
        rules = result.rule_results.rules
        output = result.output
        if len(hits) != len(output):
            raise OutcomeError(f"{result.declarations.source}: {len(hits)} rows of rule hits "
                               f"for {len(output)} scored rows")
        metadata = getattr(result, "metadata", None)
        if budget is None and metadata:
            budget = (metadata.get("options") or {}).get("budget")
        selection = _selection(output, str(result.declarations.source))
        rule_ids = np.asarray([str(rule_id) for rule_id in hits.columns], dtype=object)
        defined = [rules.get(rule_id) for rule_id in rule_ids]
        rows = np.arange(1, len(output) + 1)
        hit_rows, hit_columns = np.nonzero(hits.to_numpy(dtype=bool, na_value=False))
        with self._transaction() as connection:
            batch_id = connection.execute(
                "INSERT INTO batches (source, scored_at, row_count, budget, metadata) VALUES (?, ?, ?, ?, ?)",
                (str(result.declarations.source), scored_at or _now(), len(output), budget,
                 _metadata_json(metadata, str(result.declarations.source)))).lastrowid
            connection.executemany(
                "INSERT INTO batch_rules (batch_id, rule_id, title, pattern, severity) VALUES (?, ?, ?, ?, ?)",
                zip(repeat(batch_id), rule_ids.tolist(), [getattr(rule, "title", None) for rule in defined],
                    [getattr(rule, "pattern", None) for rule in defined],
                    [getattr(rule, "severity", None) for rule in defined]))
            connection.executemany(
                "INSERT INTO batch_lanes (batch_id, file_row, declaration_id, lane, risk_score, selection) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                zip(repeat(batch_id), rows.tolist(), _nullable(result.declarations.table["declaration_id"]),
                    output["lane"].astype(str).tolist(), _nullable(output["risk_score"]), _nullable(selection)))
            connection.executemany(
                "INSERT INTO batch_hits (batch_id, file_row, rule_id) VALUES (?, ?, ?)",
                zip(repeat(batch_id), (hit_rows + 1).tolist(), rule_ids[hit_columns].tolist()))
        return int(batch_id)

    def batches(self) -> pd.DataFrame:
        """Every recorded batch, oldest first: batch_id, source, scored_at, row_count,
        budget and metadata (the run metadata as a dict; None for a batch recorded
        before metadata was kept)."""
        batches = self._query("SELECT batch_id, source, scored_at, row_count, budget, metadata FROM batches "
                              "ORDER BY batch_id")
        return batches.assign(metadata=batches["metadata"].map(json.loads, na_action="ignore").astype(object)
                              .where(batches["metadata"].notna(), None))

    # ------------------------------------------------------------------- report

    def report(self, threshold: float = DEFAULT_THRESHOLD, min_inspections: int = DEFAULT_MIN_INSPECTIONS,
               period: str = "M") -> OutcomeReport:
        """Hit rates per rule, lane, pattern and selection and over time, the rules to
        review, and the span of inspections and batches covered.

        Each outcome is joined to the batch recorded last that scored its declaration
        (its first row there, should the batch list the id twice).

        Parameters
        ----------
        threshold : float
            A rule is listed for review when its hit rate in its latest period with at
            least ``min_inspections`` inspections is below this share.
        min_inspections : int
        period : str
            W, M, Q or Y: how ``inspected_on`` is grouped over time.
        """
        if period not in PERIODS:
            raise OutcomeError(f"period '{period}': expected one of {', '.join(PERIODS)}")
        if not 0 <= threshold <= 1:
            raise OutcomeError(f"threshold {threshold}: expected a share between 0 and 1")
        report = build_report(self._query(_JOINED_OUTCOMES), self._query(_JOINED_HITS),
                              self._query(_LATEST_RULES), threshold, min_inspections, period,
                              self._query(_BATCH_SPAN))
        return replace(report, database=self.path)


def _selection(output: pd.DataFrame, source: str) -> pd.Series:
    """Each row's selection ('risk', 'explore', missing when neither) from the output's
    ``selection`` column (absent when the scoring had no budget)."""
    if "selection" not in output.columns:
        return pd.Series(None, index=output.index, dtype=object)
    selection = output["selection"].astype(object).where(output["selection"].notna(), "").astype(str).str.strip()
    unknown = sorted(set(selection.unique()) - {"", *SELECTIONS})
    if unknown:
        raise OutcomeError(f"{source}: selection {', '.join(map(repr, unknown))} in the scored rows: expected "
                           f"{' or '.join(SELECTIONS)} or empty; nothing was recorded")
    return selection.where(selection != "", None)


def _metadata_json(metadata: dict | None, source: str) -> str | None:
    """The run metadata as JSON text (keys sorted, so the same run stores the same text)."""
    if metadata is None:
        return None
    try:
        return json.dumps(metadata, sort_keys=True, allow_nan=False, default=_json_value)
    except (TypeError, ValueError) as exc:
        raise OutcomeError(f"{source}: the run metadata cannot be stored as JSON ({exc}); nothing was recorded") \
            from exc


def _json_value(value):
    """numpy numbers and paths, which the metadata may carry, as JSON values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} {value!r} is not a JSON value")


def _prepare_location(path: Path, create: bool) -> None:
    """Refuse a folder or (unless creating) a missing file; make the folder to create in."""
    try:
        if path.is_dir():
            raise OutcomeError(f"{path}: is a folder, expected an outcomes database file")
        if path.exists():
            return
    except OSError as exc:
        raise OutcomeError(f"{path}: cannot reach the outcomes database: {exc.strerror or exc}") from exc
    if not create:
        raise OutcomeError(f"{path}: no outcomes database here (import outcomes first, "
                           "or choose the database with --db)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutcomeError(f"{path}: cannot create the folder {path.parent} for the outcomes database: "
                           f"{exc.strerror or exc}; {_CHOOSE_ANOTHER}") from exc


def _database_problem(exc: sqlite3.Error, path: Path, timeout: float) -> str:
    """What an SQLite error means for the analyst: the file, the cause, what to do.

    SQLite's extended code tells a read-only folder (no room for the journal) from a
    read-only file; its primary code (the low byte) tells the rest apart. An error
    without a code (a misuse of the connection) keeps SQLite's words.
    """
    extended = getattr(exc, "sqlite_errorcode", None)
    primary = extended & 0xFF if extended is not None else None
    if extended == sqlite3.SQLITE_READONLY_DIRECTORY:
        return (f"{path}: cannot write the outcomes database: its folder {path.parent} is read-only, and SQLite "
                "keeps a journal file beside the database while it writes; ask for write access to the folder, "
                f"or {_CHOOSE_ANOTHER}")
    if extended == sqlite3.SQLITE_READONLY_DBMOVED:
        return (f"{path}: the outcomes database was replaced or deleted while in use (a file written over it?); "
                f"nothing was stored: put the database back, or {_CHOOSE_ANOTHER}")
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return (f"{path}: the outcomes database is in use by another program (still locked after {timeout:g} s, "
                "e.g. by another `detector score --record` or `outcomes add`); run again when it has finished")
    if primary == sqlite3.SQLITE_READONLY:
        return f"{path}: the outcomes database is read-only; ask for write access to it, or {_CHOOSE_ANOTHER}"
    if primary == sqlite3.SQLITE_CANTOPEN:
        return (f"{path}: cannot open or create the outcomes database; check that the file and its folder "
                f"{path.parent} may be read and written, or {_CHOOSE_ANOTHER}")
    if primary == sqlite3.SQLITE_NOTADB:
        return (f"{path}: not an outcomes database: not an SQLite file (damaged, or another kind of file); "
                f"restore it from a backup, or {_CHOOSE_OURS}")
    if primary == sqlite3.SQLITE_CORRUPT:
        return f"{path}: the outcomes database is damaged ({exc}); {_RESTORE}"
    if primary == sqlite3.SQLITE_FULL:
        return f"{path}: the disk is full; nothing was written to the outcomes database; free some space and run again"
    if primary == sqlite3.SQLITE_IOERR:
        return (f"{path}: cannot read or write the outcomes database ({exc}); check the disk or network share "
                "it is on")
    return f"{path}: outcomes database error: {exc}"


def migrate(connection: sqlite3.Connection, source: str = "database") -> int:
    """Bring the database to the latest schema, one migration per transaction.

    Returns the schema version. Raises :class:`OutcomeError` for a file made by a newer
    detector, or an SQLite file that belongs to another program.
    """
    latest = len(MIGRATIONS)
    version = _user_version(connection)
    _check_foreign(connection, version, source)
    while version < latest:
        connection.execute("BEGIN IMMEDIATE")
        try:
            version = _user_version(connection)  # another process may have migrated meanwhile
            _check_foreign(connection, version, source)
            if version < latest:
                for statement in _statements(MIGRATIONS[version]):
                    connection.execute(statement)
                version += 1
                # PRAGMA takes no parameters; the version is an int counted here.
                connection.execute(f"PRAGMA user_version = {int(version)}")
        except BaseException:
            if connection.in_transaction:  # SQLite itself rolls back after some errors (a full disk)
                connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
    if version > latest:
        raise OutcomeError(f"{source}: outcomes database made by a newer detector (schema version {version}, "
                           f"this one knows up to {latest}); upgrade detector to use it")
    return version


def _user_version(connection: sqlite3.Connection) -> int:
    return int(connection.execute("PRAGMA user_version").fetchone()[0])


def _check_foreign(connection: sqlite3.Connection, version: int, source: str) -> None:
    """Refuse an SQLite file another program made.

    Ours carries :data:`APPLICATION_ID` from the first migration on; only an empty file
    (no schema version, no tables) may become ours. Other programs use ``user_version``
    too, so a version alone proves nothing, and 'made by a newer detector' would be the
    wrong advice for their file.
    """
    if _application_id(connection) == APPLICATION_ID:
        return
    if version or connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
        raise OutcomeError(_foreign(source))


def _check_schema(connection: sqlite3.Connection, version: int, source: str) -> None:
    """Refuse an outcomes database that lacks a table of its schema version.

    A table dropped by hand would otherwise surface as 'no such table' in the middle of
    recording a batch. The tables expected are those the migrations up to ``version``
    build in memory: the migrations stay the one place that knows the schema.
    """
    with closing(_schema_of(version)) as schema:
        expected = _tables(schema)
    missing = sorted(expected - _tables(connection))
    if missing:
        raise OutcomeError(f"{source}: the outcomes database is damaged (table{'s' * (len(missing) > 1)} "
                           f"{', '.join(missing)} missing); restore it from a backup")


def _schema_of(version: int) -> sqlite3.Connection:
    """An empty in-memory database built by the first ``version`` migrations."""
    schema = sqlite3.connect(":memory:", isolation_level=None)
    for migration in MIGRATIONS[:version]:
        for statement in _statements(migration):
            schema.execute(statement)
    return schema


def _tables(connection: sqlite3.Connection) -> set[str]:
    return {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _application_id(connection: sqlite3.Connection) -> int:
    return int(connection.execute("PRAGMA application_id").fetchone()[0])


def _foreign(source: str) -> str:
    return f"{source}: an SQLite database of another program, not an outcomes database; {_CHOOSE_OURS}"


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (one ending per line at most)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        statements.append(current.strip())
    return statements


def _nullable(values: pd.Series) -> list:
    """Values for SQLite, missing ones as None (NULL)."""
    return values.astype(object).where(values.notna(), None).tolist()


def _records(frame: pd.DataFrame, columns: list[str]):
    """Rows for executemany, built column by column."""
    return zip(*(_nullable(frame[column]) for column in columns))


def _differences(new: pd.DataFrame, old: pd.DataFrame) -> pd.Series:
    """Per row, the outcome fields on which two aligned frames differ ('' when none)."""
    fields = [name for name in OUTCOME_COLUMNS if name != "declaration_id"]
    differ = pd.DataFrame({
        name: ~(new[name].astype(object).eq(old[name].astype(object)) | (new[name].isna() & old[name].isna()))
        for name in fields})
    labels = np.asarray([name + ", " for name in fields], dtype=object)
    joined = differ.to_numpy(dtype=bool).astype(object).dot(labels) if len(differ) else np.array([], object)
    return pd.Series(joined, index=new.index, dtype=object).map(str).str.removesuffix(", ")


def _conflict_frame(new: pd.DataFrame, old: pd.DataFrame, old_source: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({
        "declaration_id": new["declaration_id"].to_numpy(), "row": new["row"].to_numpy(),
        "differs": _differences(new, old).to_numpy(),
        "new_result": new["result"].to_numpy(), "new_inspected_on": new["inspected_on"].to_numpy(),
        "old_result": old["result"].to_numpy(), "old_inspected_on": old["inspected_on"].to_numpy(),
        "old_source": old_source.to_numpy(),
    }, columns=list(CONFLICT_COLUMNS))


def _stored_conflicts(incoming: pd.DataFrame, stored: pd.DataFrame) -> pd.DataFrame:
    """File rows whose declaration is stored with a different outcome."""
    new = incoming.set_index("declaration_id", drop=False).loc[stored["declaration_id"]].reset_index(drop=True)
    old = stored.reset_index(drop=True)
    conflicts = _conflict_frame(new, old, "stored from " + old["source"].fillna("?").astype(str))
    return conflicts[conflicts["differs"] != ""]


def _in_file_conflicts(versions: pd.DataFrame) -> pd.DataFrame:
    """Each later differing row of a declaration against the file's first row for it."""
    first = versions.groupby("declaration_id", sort=False).head(1)
    later = versions.drop(index=first.index).reset_index(drop=True)
    old = first.set_index("declaration_id", drop=False).loc[later["declaration_id"]].reset_index(drop=True)
    return _conflict_frame(later, old, "row " + old["row"].astype(str) + " of this file")


# --------------------------------------------------------------------------- joins

# Each outcome's declaration in the batch recorded last that scored it, at its first
# row there.
_PLACED = """
WITH latest AS (
    SELECT declaration_id, MAX(batch_id) AS batch_id FROM batch_lanes
    WHERE declaration_id IN (SELECT declaration_id FROM outcomes)
    GROUP BY declaration_id
), placed AS (
    SELECT l.declaration_id, l.batch_id, MIN(b.file_row) AS file_row
    FROM latest AS l JOIN batch_lanes AS b ON b.batch_id = l.batch_id AND b.declaration_id = l.declaration_id
    GROUP BY l.declaration_id, l.batch_id
)
"""
_JOINED_OUTCOMES = _PLACED + """
SELECT o.declaration_id, o.inspected_on, o.result, o.recovered_value, p.batch_id, b.lane, b.risk_score,
       b.selection
FROM outcomes AS o
LEFT JOIN placed AS p ON p.declaration_id = o.declaration_id
LEFT JOIN batch_lanes AS b ON b.batch_id = p.batch_id AND b.file_row = p.file_row
"""
_JOINED_HITS = _PLACED + """
SELECT p.declaration_id, h.rule_id
FROM placed AS p JOIN batch_hits AS h ON h.batch_id = p.batch_id AND h.file_row = p.file_row
"""
# Each rule as the batch recorded last described it.
_LATEST_RULES = """
SELECT r.rule_id, r.title, r.pattern, r.severity FROM batch_rules AS r
WHERE r.batch_id = (SELECT MAX(batch_id) FROM batch_rules AS s WHERE s.rule_id = r.rule_id)
"""

_BATCH_SPAN = "SELECT count(*) AS batches, MIN(scored_at) AS scored_from, MAX(scored_at) AS scored_to FROM batches"

RATE_COLUMNS = ["inspections", "frauds", "hit_rate", "recovered_value"]


def build_report(outcomes: pd.DataFrame, hits: pd.DataFrame, rules: pd.DataFrame,
                 threshold: float = DEFAULT_THRESHOLD, min_inspections: int = DEFAULT_MIN_INSPECTIONS,
                 period: str = "M", batches: pd.DataFrame | None = None) -> OutcomeReport:
    """The report from joined tables (what :meth:`OutcomeStore.report` reads).

    Parameters
    ----------
    outcomes : DataFrame
        One row per outcome: declaration_id, inspected_on, result, recovered_value,
        and batch_id, lane and selection (missing when no batch scored the
        declaration; selection also when its row was not selected by a budget).
    hits : DataFrame
        declaration_id, rule_id: the rules that hit each joined declaration.
    rules : DataFrame
        rule_id, title, pattern, severity.
    batches : DataFrame, optional
        One row: batches, scored_from, scored_to (the span of the recorded batches).
    """
    joined = outcomes["batch_id"].notna()
    inspected = outcomes[joined.to_numpy()].assign(
        fraud=lambda t: t["result"] == "fraud",
        recovered_value=lambda t: pd.to_numeric(t["recovered_value"], errors="coerce").astype("float64"),
        period=lambda t: pd.to_datetime(t["inspected_on"], format="%Y-%m-%d").dt.to_period(period))
    facts = inspected[["declaration_id", "fraud", "recovered_value", "period"]]
    hit_facts = hits.merge(facts, on="declaration_id")
    by_rule = rules.merge(_rates(hit_facts, ["rule_id"]), on="rule_id").sort_values(
        ["inspections", "rule_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
    over_time = _rates(hit_facts, ["rule_id", "period"])
    span = batches.iloc[0] if batches is not None and len(batches) else {}
    return OutcomeReport(
        threshold=threshold, min_inspections=min_inspections, period=period,
        inspections=len(inspected), frauds=int(inspected["fraud"].sum()), unmatched=int((~joined).sum()),
        by_rule=by_rule, by_lane=_by_lane(inspected), by_pattern=_by_pattern(inspected, hits, rules),
        over_time=over_time.assign(period=over_time["period"].astype(str)),
        review=_review(over_time, rules, threshold, min_inspections),
        by_selection=_by_selection(inspected),
        inspected_from=inspected["inspected_on"].min() if len(inspected) else None,
        inspected_to=inspected["inspected_on"].max() if len(inspected) else None,
        batches=int(span.get("batches", 0) or 0), scored_from=span.get("scored_from"),
        scored_to=span.get("scored_to"),
    )


def _rates(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Inspections, frauds, hit rate and money recovered per group of ``keys``."""
    counts = frame.groupby(keys, sort=True, observed=True).agg(
        inspections=("fraud", "size"), frauds=("fraud", "sum"), recovered_value=("recovered_value", "sum"),
    ).reset_index()
    counts["frauds"] = counts["frauds"].astype("int64")
    counts["inspections"] = counts["inspections"].astype("int64")
    counts["hit_rate"] = counts["frauds"] / counts["inspections"]
    return counts[[*keys, *RATE_COLUMNS]]


def _by_lane(inspected: pd.DataFrame) -> pd.DataFrame:
    rates = _rates(inspected, ["lane"])
    order = pd.Categorical(rates["lane"], categories=[*LANES, *sorted(set(rates["lane"]) - set(LANES))])
    return rates.iloc[np.argsort(order.codes, kind="stable")].reset_index(drop=True)


def _by_selection(inspected: pd.DataFrame) -> pd.DataFrame:
    """Counts per selection: risk and explore always (a side with no inspection shows
    0, which is itself the finding), then the inspections neither selected."""
    selection = inspected["selection"] if "selection" in inspected else pd.Series(None, index=inspected.index)
    labelled = inspected.assign(selection=selection.astype(object).where(selection.notna(), NOT_SELECTED))
    rates = _rates(labelled, ["selection"]).set_index("selection")
    order = [*SELECTIONS, *([NOT_SELECTED] if NOT_SELECTED in rates.index else [])]
    rates = rates.reindex(order).fillna({"inspections": 0, "frauds": 0, "recovered_value": 0.0})
    return rates.astype({"inspections": "int64", "frauds": "int64"}).reset_index()[["selection", *RATE_COLUMNS]]


def _by_pattern(inspected: pd.DataFrame, hits: pd.DataFrame, rules: pd.DataFrame) -> pd.DataFrame:
    """Counts per pattern of the hit rules: a declaration counts once per pattern."""
    patterns = hits.merge(rules[["rule_id", "pattern"]], on="rule_id", how="left")[["declaration_id", "pattern"]]
    patterns = patterns.assign(pattern=patterns["pattern"].fillna("")).drop_duplicates()
    unhit = inspected.loc[~inspected["declaration_id"].isin(hits["declaration_id"]), ["declaration_id"]]
    patterns = pd.concat([patterns, unhit.assign(pattern=NO_RULE)], ignore_index=True)
    facts = inspected[["declaration_id", "fraud", "recovered_value"]]
    rates = _rates(patterns.merge(facts, on="declaration_id"), ["pattern"])
    rates = rates.sort_values(["inspections", "pattern"], ascending=[False, True], kind="stable")
    return rates.reset_index(drop=True)


def _review(over_time: pd.DataFrame, rules: pd.DataFrame, threshold: float, min_inspections: int) -> pd.DataFrame:
    """Rules whose latest well-inspected period found fraud too rarely, with the earlier rate."""
    enough = over_time[over_time["inspections"] >= max(min_inspections, 1)]
    latest = enough.sort_values("period", kind="stable").groupby("rule_id").tail(1)
    low = latest[latest["hit_rate"] < threshold]
    earlier = over_time.merge(low[["rule_id", "period"]].rename(columns={"period": "latest"}), on="rule_id")
    earlier = earlier[earlier["period"] < earlier["latest"]].groupby("rule_id").agg(
        earlier_inspections=("inspections", "sum"), earlier_frauds=("frauds", "sum"))
    review = low.merge(earlier, on="rule_id", how="left").fillna({"earlier_inspections": 0, "earlier_frauds": 0})
    review = review.astype({"earlier_inspections": "int64", "earlier_frauds": "int64"})
    review["earlier_hit_rate"] = review["earlier_frauds"] / review["earlier_inspections"].where(
        review["earlier_inspections"] > 0)
    period = review["period"].astype(str)
    before = np.where(review["earlier_inspections"] > 0,
                      "; before: " + _percents(review["earlier_hit_rate"]) + " ("
                      + review["earlier_frauds"].astype(str) + " of "
                      + review["earlier_inspections"].astype(str) + ")",
                      "; no earlier inspections")
    review["why"] = (_percents(review["hit_rate"]) + " in " + period + " (" + review["frauds"].astype(str) + " of "
                     + review["inspections"].astype(str) + " inspections found fraud)" + before)
    review = rules[["rule_id", "title", "pattern"]].merge(review.assign(period=period), on="rule_id")
    columns = ["rule_id", "title", "pattern", "period", "inspections", "frauds", "hit_rate",
               "earlier_inspections", "earlier_hit_rate", "why"]
    return review.sort_values(["hit_rate", "rule_id"], kind="stable").reset_index(drop=True)[columns]


# --------------------------------------------------------------------------- HTML

# Bar colours of the selections: the risk picks in the reports' accent, the random checks
# apart from them, the rest grey (they are neither side of the comparison).
SELECTION_COLOURS = {"risk": "#24518f", "explore": "#b0558f", NOT_SELECTED: "#9aa3b2"}
SELECTION_WORDS = {"risk": "risk picks", "explore": "random checks", NOT_SELECTED: NOT_SELECTED}


def _html_page(report: OutcomeReport) -> str:
    """The page, from ``outcomes.html.j2`` in the reports' own template environment
    (autoescaped; the batch report's layout and sortable table)."""
    from detector.report import environment, report_date  # only a page needs jinja2

    return environment().get_template("outcomes.html.j2").render(page=page_context(report), written=report_date())


def page_context(report: OutcomeReport) -> dict:
    """What the outcomes page shows, as plain values for ``outcomes.html.j2``.

    Returns
    -------
    dict
        ``report``; ``overall`` (hit rate as text); ``charts`` (inline SVG: ``heat_map``
        of hit rate per rule and period, ``rules``, ``lanes``, ``selection``; None when
        nothing was inspected); ``tables`` (``columns`` and formatted ``rows`` of each
        table, for the sortable table) and ``rule_filters`` (pattern and severity).
    """
    periods = _period_table(report.over_time)
    tables = {"review": _table_cells(report.review), "rules": _table_cells(report.by_rule),
              "lanes": _table_cells(report.by_lane), "patterns": _table_cells(report.by_pattern),
              "selection": _table_cells(report.by_selection.assign(
                  selection=report.by_selection["selection"].map(SELECTION_WORDS))),
              # 'hit rate (inspections)' cells sort by their rate
              "periods": _table_cells(periods.rename_axis(columns=None).reset_index(), numeric=list(periods.columns))}
    rules = tables["rules"]
    return {
        "report": report, "period_name": PERIODS[report.period],
        "overall": _percent(report.frauds / report.inspections) if report.inspections else "n/a",
        "rates": {name: _percent(rate) for name, rate in
                  report.by_selection.set_index("selection")["hit_rate"].items()},
        "charts": _charts(report) if report.inspections else None,
        "tables": tables,
        "rule_filters": [{"label": name, "columns": [rules["names"].index(name)],
                          "options": sorted(report.by_rule[name].dropna().astype(str).unique())}
                         for name in ("pattern", "severity") if len(report.by_rule)],
    }


def _charts(report: OutcomeReport) -> dict[str, str]:
    """The page's charts as inline SVG (see :mod:`detector.charts`)."""
    heat = report.over_time.pivot(index="rule_id", columns="period", values="hit_rate")
    heat = heat[sorted(heat.columns)]
    counts = report.over_time.pivot(index="rule_id", columns="period", values="inspections")
    counts = counts.reindex_like(heat).fillna(0).astype("int64")
    selected = report.by_selection[report.by_selection["inspections"] > 0]
    return {
        "heat_map": charts.heat_map(heat, title=f"Hit rate per rule and {PERIODS[report.period]}", counts=counts)
        if len(heat) else None,
        "rules": charts.bar_chart(_counted(report.by_rule["rule_id"], report.by_rule["inspections"]),
                                  report.by_rule["hit_rate"], categories=report.by_rule["severity"].fillna("").tolist(),
                                  title="Hit rate per rule", value_format="{:.1%}") if len(report.by_rule) else None,
        "lanes": charts.bar_chart(_counted(report.by_lane["lane"], report.by_lane["inspections"]),
                                  report.by_lane["hit_rate"], categories=report.by_lane["lane"].tolist(),
                                  colours=charts.LANE_COLOURS, title="Hit rate per lane", value_format="{:.1%}"),
        "selection": charts.bar_chart(
            _counted(selected["selection"].map(SELECTION_WORDS), selected["inspections"]), selected["hit_rate"],
            categories=selected["selection"].tolist(), colours=SELECTION_COLOURS,
            title="Hit rate of risk picks and random checks", value_format="{:.1%}"),
    }


def _counted(labels: pd.Series, inspections: pd.Series) -> list[str]:
    """Bar labels with the inspections behind each rate: 'red (12 inspected)'."""
    return (labels.astype(str) + " (" + inspections.map("{:,}".format) + " inspected)").tolist()


def _table_cells(frame: pd.DataFrame, numeric: list[str] = ()) -> dict:
    """A table for the sortable-table macro: its columns (numbers right-aligned and
    sorted as numbers: those of a number type, the rates and ``numeric``) and its
    cells as text, rates as percentages."""
    shown = _display(frame)
    numeric = [column.endswith("hit_rate") or column in numeric or pd.api.types.is_numeric_dtype(frame[column])
               for column in frame.columns]
    cells = shown.astype(object).where(shown.notna(), "").astype(str)
    return {"names": [str(column) for column in frame.columns],
            "columns": [{"label": str(column).replace("_", " "), "numeric": is_number}
                        for column, is_number in zip(frame.columns, numeric)],
            "rows": cells.to_numpy().tolist()}
