"""The ``detector`` command line: a thin typer layer over the public API.

Every :class:`~detector.errors.DetectorError` becomes one line on stderr and exit code
2; ``validate`` and ``rules test`` exit 1 when they find problems, so scripts and CI
can rely on the code. Tables are drawn with rich on a terminal (wrapped to its width,
lanes coloured unless ``NO_COLOR`` is set) and written as plain text into a pipe or a
file, so scripts read the same words with no escape codes.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import re
import sys
from contextlib import ExitStack, contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import pandas as pd
import typer

import detector
from detector.errors import DetectorError
from detector.evaluation import comparison_parts, evaluation_parts, parse_budgets
from detector.io import OUTPUT_FORMATS, STDIN, STDOUT, output_format, refuse_overwriting
from detector.report import (
    SCORED_COLUMNS,
    batch_report,
    case_view,
    format_case_view,
    load_scored,
    scored_table,
    write_report,
)
from detector.risk import LANES
from detector.rules.source import rule_text
from detector.text_columns import table_text

# No rich markup in help texts: with it, a bracketed part such as "[recovered_value,
# notes]" is read as a style tag and vanishes from --help.
app = typer.Typer(add_completion=True, no_args_is_help=True, rich_markup_mode=None,
                  help="Score customs declarations for smuggling patterns and explain every flag.")
rules_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="List, show and test the rule packs.")
app.add_typer(rules_app, name="rules")
outcomes_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                           help="Record inspection outcomes and report hit rates.")
app.add_typer(outcomes_app, name="outcomes")

# Files above this size (or this many generated rows) take more than a moment: show
# the stages on a terminal.
_PROGRESS_BYTES = 5_000_000
_PROGRESS_ROWS = 25_000
# A budget below this without a % sign is most likely a fraction meant as a percentage
# (0.02 for 2%); 0.1% of a day's declarations is still a real, if small, budget.
_FRACTION_LIKE_BUDGET = 0.1
# Tables longer than this are printed as plain text even on a terminal: rich lays out
# a table row by row, and nobody reads thousands of rows in a terminal anyway.
_RICH_ROWS = 2_000
_LANE_STYLES = {"red": "bold red", "yellow": "yellow", "green": "green"}

RulesOption = Annotated[Optional[list[Path]], typer.Option(
    "--rules", help="Extra rule pack file or folder (repeatable), loaded after the shipped packs.")]
NoDefaultOption = Annotated[bool, typer.Option(
    "--no-default-rules", help="Do not load the shipped rule packs.")]
MappingOption = Annotated[Optional[str], typer.Option(
    "--mapping", help="Column mapping YAML file, or a shipped mapping name such as wco_bacuda.")]
DelimiterOption = Annotated[Optional[str], typer.Option(
    "--delimiter", help="CSV delimiter (detected when omitted).")]
EncodingOption = Annotated[Optional[str], typer.Option(
    "--encoding", help="CSV encoding, e.g. utf-8 or latin-1 (detected when omitted).")]
ModelOption = Annotated[Optional[Path], typer.Option(
    "--model", help="Anomaly model from `detector train` (default: fit one on the file itself).")]
NoAnomalyOption = Annotated[bool, typer.Option(
    "--no-anomaly", help="Rules only: no anomaly model, risk from the rules alone.")]
SeedOption = Annotated[int, typer.Option("--seed", min=0, help="Random seed; the same seed gives the same model.")]
SupervisedOption = Annotated[Optional[Path], typer.Option(
    "--supervised", help="Supervised model from `detector train --labels/--outcomes`, blended into the risk.")]
DbOption = Annotated[Optional[Path], typer.Option(
    "--db", help="Outcome database (default: $DETECTOR_DB, else detector-outcomes.sqlite here).")]


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"detector {detector.__version__}")
        raise typer.Exit()


@app.callback()
def _setup(version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True, help="Print the version and exit.")] = False) -> None:
    _use_jemalloc()


def _use_jemalloc() -> None:
    """Allocate Arrow memory with jemalloc where this pyarrow build has it.

    Scoring allocates and frees many column-sized buffers. pyarrow's default pool on
    Linux hands freed pages back to the system at once, and each new buffer then pays
    for fresh zeroed pages; jemalloc reuses them. On a million declarations this cut
    system time by about half and wall time by a fifth (benchmarks/README.md). An
    ``ARROW_DEFAULT_MEMORY_POOL`` set by the user wins.
    """
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    import pyarrow as pa

    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except NotImplementedError:  # e.g. Windows wheels are built without jemalloc
        pass


# C0 and C1 control characters other than tab and newline: a cell holding an escape
# sequence must not reach the analyst's terminal through a summary or a table.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _shown(text) -> str:
    """``text`` with control characters written as ``\\xNN`` instead of run."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def _say(text: str, err: bool = False) -> None:
    """Print ``text`` with control characters shown as ``\\xNN`` instead of run."""
    typer.echo(_shown(text), err=err)


def _terminal(stream) -> bool:
    """Whether ``stream`` is a terminal a person reads (not a pipe or a file)."""
    return stream.isatty()


def _console(stderr: bool = False):
    """A rich console on stdout (or stderr) for a terminal: its width, and colours
    unless ``NO_COLOR`` is set (then no escape codes at all, not even bold)."""
    from rich.console import Console

    plain = os.environ.get("NO_COLOR", "") != ""
    return Console(stderr=stderr, force_terminal=True, highlight=False,
                   color_system=None if plain else "auto")


# A cell written as a number: 0.636, 1,043, 14.0%, "14.0% (40)" (a rate and its
# inspections), or n/a / NaN / empty where there is none. A column of them is
# right-aligned like numbers, although it holds text.
_NUMBER_TEXT = r"-?[\d,]*\.?\d+%?(?: \([\d,]+\))?|n/a|NaN|nan|"


def _rich_table(frame: pd.DataFrame):
    """``frame`` as a rich table: text left-aligned and wrapped, numbers (and numbers
    written as text) right-aligned, lane words coloured; cells are plain text, never
    read as markup. ``frame.attrs`` may ask for the index as the first column(s) and a
    format for floats (see :func:`detector.evaluation.table_part`)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    spec = frame.attrs.get("float_format")
    if frame.attrs.get("index"):
        frame = frame.reset_index()
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    cells = []
    for name in frame.columns:
        column = frame[name]
        if spec and pd.api.types.is_float_dtype(column):
            text = column.map(lambda v: "NaN" if pd.isna(v) else format(v, spec))
        else:
            text = column.astype("str")
        numeric = (pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)) \
            or bool(text.str.fullmatch(_NUMBER_TEXT).all())
        table.add_column(_shown(name), justify="right" if numeric else "left", overflow="fold")
        cells.append(text.map(_shown).tolist())
    # rich takes a table row by row; _RICH_ROWS bounds how many.
    for row in zip(*cells):
        table.add_row(*(Text(cell, style=_LANE_STYLES.get(cell, "")) for cell in row))
    return table


def _echo_table(frame: pd.DataFrame) -> None:
    """Print a table: drawn by rich on a terminal, as plain text otherwise (with its
    index when ``frame.attrs`` ask for it, as :func:`detector.evaluation.table_text`)."""
    if not len(frame):
        _say("(none)")
    elif _terminal(sys.stdout) and len(frame) <= _RICH_ROWS:
        _console().print(_rich_table(frame))
    else:
        _say(table_text(frame))


def _echo_parts(parts: list) -> None:
    """Print report parts: text lines as :func:`_echo_text` does (wrapped: they hold
    no table), tables as :func:`_echo_table`; into a pipe, the same text as the
    report's own text form."""
    lines: list[str] = []
    for part in parts:
        if isinstance(part, str):
            lines.append(part)
            continue
        if lines:
            _echo_text(lines, wrap=True)
            lines = []
        _echo_table(part)
    if lines:
        _echo_text(lines, wrap=True)


def _echo_text(lines, wrap: bool = False) -> None:
    """Print finished text lines (reports formatted elsewhere): lane words coloured on
    a terminal; wrapped at its width only when ``wrap`` says they hold no text table,
    whose columns must line up."""
    text = "\n".join(lines)
    if not _terminal(sys.stdout):
        _say(text)
        return
    from rich.text import Text

    shown = Text(_shown(text))
    for lane, style in _LANE_STYLES.items():
        shown.highlight_regex(rf"\b{lane}\b", style)
    _console().print(shown, soft_wrap=not wrap)


def _fail(message: str, code: int = 2) -> None:
    _say(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def _user_errors():
    try:
        yield
    except DetectorError as exc:
        _fail(str(exc))


# Over 60 lines for its 20 options, each a typed parameter with its help; the body,
# about 35 lines, loads, scores and writes through the API.
@app.command()
def score(
    file: Annotated[Path, typer.Argument(help="Declarations CSV or Parquet file, or - for standard input.")],
    output: Annotated[Optional[Path], typer.Option(
        "-o", "--output", help="Output file, or - for standard output (default: <input name>.scored.<format> "
        "in the current folder; standard output when the input is standard input).")] = None,
    rules: RulesOption = None,
    no_default_rules: NoDefaultOption = False,
    mapping: MappingOption = None,
    fmt: Annotated[Optional[str], typer.Option(
        "--format", help=f"Output format: {', '.join(OUTPUT_FORMATS)} (default: from the output name, else csv).")]
    = None,
    delimiter: DelimiterOption = None,
    encoding: EncodingOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary on stderr.")] = False,
    model: ModelOption = None,
    no_anomaly: NoAnomalyOption = False,
    supervised: SupervisedOption = None,
    seed: SeedOption = 0,
    budget: Annotated[Optional[str], typer.Option(
        "--budget", help="Inspection capacity, e.g. 2%: exactly that share of rows goes to the red lane.")]
    = None,
    explore: Annotated[Optional[str], typer.Option(
        "--explore", help="With --budget: share of it picked at random among the rest, e.g. 10%.")] = None,
    record: Annotated[bool, typer.Option(
        "--record", help="Keep the lanes and rule hits in the outcome database, for `outcomes report`.")] = False,
    db: DbOption = None,
    lane: Annotated[Optional[list[str]], typer.Option(
        "--lane", help="Write only the rows of this lane: red, yellow or green (repeatable, or red,yellow).")]
    = None,
    top: Annotated[Optional[int], typer.Option(
        "--top", min=1, help="Write only the N rows of highest risk_score (ties: the earlier row), in file order.")]
    = None,
    min_risk: Annotated[Optional[float], typer.Option(
        "--min-risk", min=0.0, max=1.0, help="Write only the rows with risk_score at least this.")] = None,
    report: Annotated[Optional[Path], typer.Option(
        "--report", help="Also write the batch report, one HTML page (as `detector report` does).")] = None,
    excel_csv: Annotated[bool, typer.Option(
        "--excel-csv", help="CSV with a byte order mark, so Excel on Windows reads it as UTF-8.")] = False,
    decimal: Annotated[str, typer.Option(
        "--decimal", help="Decimal mark of CSV numbers: . or , (with , fields are separated by ;).")] = ".",
) -> None:
    """Score FILE: every input row once, in order, with risk, lane, hits and reasons.

    Without --model the anomaly part is fitted on FILE itself (1,000 rows or more).
    --lane, --min-risk and --top choose the rows written (in file order, --top
    last); the summary and --record still count the whole file.
    """
    with _user_errors(), ExitStack() as opened:
        chosen = output_format(output or "", fmt)
        target = output or Path(STDOUT if str(file) == STDIN else f"{file.stem}.scored.{chosen}")
        refuse_overwriting(target, file, model, supervised, _mapping_file(mapping),
                           _database_path(db) if record or db else None)
        if report is not None:
            refuse_overwriting(report, file, target, model, supervised, _mapping_file(mapping))
        lanes = _lanes(lane)
        # A batch that cannot be stored (locked, read-only, damaged) fails before any work.
        store = opened.enter_context(_store(db)) if record or db else None
        if store is not None:
            store.check_writable()
        rule_set = detector.load_rules(rules, include_default=not no_default_rules)
        anomaly_model = _anomaly_model(model, no_anomaly)
        learned = _supervised_model(supervised)
        capacity = _single_budget(budget) if budget else None
        with _progress(_worth_showing(file, quiet)) as progress:
            declarations = detector.load_declarations(file, mapping, delimiter=delimiter, encoding=encoding,
                                                      reference_dirs=rule_set.reference_dirs,
                                                      on_stage=progress.stage)
            result = detector.score(declarations, rule_set, on_stage=progress.stage,
                                    model=anomaly_model, budget=capacity, seed=seed, supervised=learned,
                                    explore=_single_budget(explore, "--explore") if explore else 0.0)
            kept = _kept_rows(result.output, lanes, top, min_risk)
            progress.stage("writing", len(kept))
            detector.write_output(dataclasses.replace(result, output=kept), target, chosen, excel_csv=excel_csv,
                                  decimal=decimal)
            if report is not None:
                progress.stage("report", len(result.output))
                write_report(batch_report(result.output, result.metadata, rule_set), report, file, target)
        batch = store.record_batch(result, budget=capacity) if store is not None else None
    _tell_scored(result.summary, target, quiet, store, batch, _kept_words(len(kept), len(result.output)))
    if report is not None and not quiet:
        _say(f"wrote {report}", err=True)


def _lanes(given: list[str] | None) -> tuple[str, ...]:
    """The lanes of --lane (repeated or comma-separated), checked."""
    lanes = tuple(part.strip().lower() for text in given or () for part in text.split(",") if part.strip())
    unknown = [name for name in lanes if name not in LANES]
    if unknown:
        raise DetectorError(f"--lane {unknown[0]!r}: expected {', '.join(LANES)}")
    return lanes


def _kept_rows(output: pd.DataFrame, lanes: tuple[str, ...], top: int | None,
               min_risk: float | None) -> pd.DataFrame:
    """The scored rows --lane, --min-risk and --top keep, in file order.

    --top applies last: of the rows the other filters keep, the ``top`` of highest
    ``risk_score``, the earlier row first among equal scores; they stay in file order,
    so the written file still reads like the input. The kept rows keep their index
    (their position in the file), so columns aligned with the whole output, such as
    the typed input columns, still line up with them.
    """
    keep = np.ones(len(output), dtype=bool)
    if lanes:
        keep &= output["lane"].isin(lanes).to_numpy()
    if min_risk is not None:
        keep &= output["risk_score"].to_numpy(dtype=np.float64) >= min_risk
    rows = np.flatnonzero(keep)
    if top is not None and top < len(rows):
        highest = np.argsort(-output["risk_score"].to_numpy(dtype=np.float64)[rows], kind="stable")[:top]
        rows = np.sort(rows[highest])
    return output if len(rows) == len(output) else output.iloc[rows]


def _kept_words(kept: int, rows: int) -> str:
    """How much of the file was written, when the filters left rows out."""
    return "" if kept == rows else f" ({kept:,} of {rows:,} rows)"


def _tell_scored(summary, target: Path, quiet: bool, store, batch, kept: str = "") -> None:
    """What `score` says on stderr: the summary (only its warnings with --quiet), where
    the output went (and how many rows, when filtered) and the batch it was recorded as."""
    if quiet:
        for line in summary.warnings():
            _say(line, err=True)
        return
    for line in summary.lines():
        _say(line, err=True)
    _say(f"wrote {'standard output' if str(target) == STDOUT else target}{kept}", err=True)
    if store is not None:
        _say(f"recorded as batch {batch} in {store.path}", err=True)


def _pack_folders(rules: list[Path] | None) -> tuple[Path, ...]:
    """The ``reference/`` folders of the packs given with --rules: their synonym tables
    extend the shipped ones when the file is read."""
    return detector.load_rules(rules, include_default=False).reference_dirs if rules else ()


def _mapping_file(mapping: str | None) -> Path | None:
    """The mapping file read, when --mapping names a file (not a shipped mapping)."""
    return Path(mapping) if mapping and Path(mapping).is_file() else None


def _database_path(db: Path | None) -> Path:
    from detector.outcomes import default_db_path

    return db or default_db_path()


def _single_budget(text: str, option: str = "--budget") -> float:
    budgets = _budgets(text, option)
    if len(budgets) != 1:
        raise DetectorError(f"{option} {text!r}: give one percentage, e.g. 2%")
    return budgets[0]


def _budgets(text: str, option: str = "--budget") -> tuple[float, ...]:
    """The percentages of ``text``; a warning on stderr for one that looks like a
    fraction (0.02 written for 2%), which would inspect a hundred times fewer rows."""
    budgets = parse_budgets(text)
    for part, budget in zip((p.strip() for p in text.split(",") if p.strip()), budgets):
        if budget < _FRACTION_LIKE_BUDGET and not part.endswith("%"):
            _say(f"warning: {option} {part} means {part}% of rows; write {budget * 100:g}% for "
                 f"{budget * 100:g} percent", err=True)
    return budgets


def _supervised_model(path: Path | None):
    if path is None:
        return None
    from detector.supervised import SupervisedModel

    return SupervisedModel.load(path)


def _anomaly_choice(path: Path | None, off: bool) -> Path | str | None:
    """--model / --no-anomaly as ``detector.score`` takes ``model``, the file not read
    yet: its path, ``"batch"`` or None."""
    if path and off:
        raise DetectorError("--model and --no-anomaly contradict each other; give one")
    return None if off else path or "batch"


def _anomaly_model(path: Path | None, off: bool):
    """What ``detector.score`` takes as ``model`` for --model / --no-anomaly."""
    choice = _anomaly_choice(path, off)
    if not isinstance(choice, Path):
        return choice
    from detector.anomaly import AnomalyModel

    return AnomalyModel.load(choice)


@app.command()
def train(
    history: Annotated[Path, typer.Argument(help="Declarations to learn from.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Model file to write.")] = Path("model.zip"),
    mapping: MappingOption = None,
    trees: Annotated[int, typer.Option("--trees", min=10, max=10_000, help="Trees in the isolation forest.")] = 100,
    seed: SeedOption = 0,
    features: Annotated[Optional[str], typer.Option(
        "--features", help="Comma-separated features, or 'all' (default: the peer and pairing features).")]
    = None,
    labels: Annotated[Optional[str], typer.Option(
        "--labels", help="Column of inspection outcomes (1 or fraud, 0 or clean, empty not inspected): "
        "fit the supervised model instead.")] = None,
    outcomes: Annotated[bool, typer.Option(
        "--outcomes", help="Take the labels from the outcome database: fit the supervised model instead.")] = False,
    db: DbOption = None,
    rules: RulesOption = None,
    no_default_rules: NoDefaultOption = False,
    delimiter: DelimiterOption = None,
    encoding: EncodingOption = None,
) -> None:
    """Fit a model on HISTORY and save it (no pickle).

    Without --labels or --outcomes: the isolation-forest anomaly model. With either:
    the supervised model of fraud, on the anomaly features, the rule hits and the
    past inspections of parties, goods and places.
    """
    with _user_errors(), _progress(_worth_showing(history, quiet=False)) as progress:
        if labels and outcomes:
            raise DetectorError("--labels and --outcomes are two sources of labels; give one")
        refuse_overwriting(output, history, _mapping_file(mapping), _database_path(db) if outcomes else None)
        declarations = detector.load_declarations(history, mapping, delimiter=delimiter, encoding=encoding,
                                                  reference_dirs=_pack_folders(rules), on_stage=progress.stage)
        if labels or outcomes:
            progress.stage("supervised fit", len(declarations))
            path, lines = _train_supervised(declarations, labels, db if outcomes else None, output, seed,
                                            detector.load_rules(rules, include_default=not no_default_rules))
        else:
            from detector.anomaly import AnomalyModel

            progress.stage("anomaly fit", len(declarations))
            fitted = AnomalyModel.fit(declarations.table, features=features, trees=trees, seed=seed)
            path = fitted.save(output)
            lines = [f"{history}: {len(declarations)} rows; features: {', '.join(fitted.features)}"]
            if fitted.missing_features:
                lines.append(f"left out (inputs missing): {', '.join(fitted.missing_features)}")
    for line in lines:
        _say(line, err=True)
    _say(f"wrote {path}", err=True)


def _train_supervised(declarations, label_column: str | None, db: Path | None, output: Path, seed: int,
                      rule_set) -> tuple[Path, list[str]]:
    from detector.supervised import train_from_outcomes, training_summary

    fitted = (detector.train_supervised(declarations, label_column, rule_set, seed=seed) if label_column
              else train_from_outcomes(declarations, db, rule_set, seed=seed))
    return fitted.save(output), [training_summary(fitted, declarations.source)]


def _worth_showing(file: Path, quiet: bool) -> bool:
    """Whether to show the stages of reading ``file``: on a terminal, for standard
    input or a file big enough to take more than a moment."""
    if quiet or not _terminal(sys.stderr):
        return False
    return str(file) == STDIN or (file.is_file() and file.stat().st_size > _PROGRESS_BYTES)


@dataclasses.dataclass
class _Progress:
    """What a run reports through: ``stage(name, rows)`` when a stage starts (the
    ``on_stage`` of :func:`detector.load_declarations` and :func:`detector.score`);
    ``advance(steps)`` for a stage of known length. Silent unless given a bar.

    The rules have no count of their own: they run side by side and report in rule
    order only once the slowest is done, so a count would stand at 0 and then jump.
    """

    bar: object = None  # rich.progress.Progress
    task: object = None

    def stage(self, name: str, rows: int, total: int | None = None) -> None:
        """Show stage ``name`` over ``rows`` rows (0: not known yet); with ``total``,
        a bar of that many steps."""
        if self.bar is None:
            return
        # A stage of unknown length pulses rather than stands still at some share.
        self.bar.reset(self.task, total=total, description=_stage_words(name, rows),
                       steps=f"0/{total:,}" if total else "")
        self.bar.refresh()

    def advance(self, steps: int = 1) -> None:
        if self.bar is None:
            return
        self.bar.advance(self.task, steps)
        task = self.bar.tasks[0]
        if task.total:
            self.bar.update(self.task, steps=f"{task.completed:,.0f}/{task.total:,.0f}")


@contextmanager
def _progress(enabled: bool):
    """The stage running, its rows and its time on stderr; a :class:`_Progress` that
    says nothing when off."""
    if not enabled:
        yield _Progress()
        return
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    # The count in words as well as the bar: without colours (NO_COLOR) a bar's done
    # and remaining parts look alike.
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[steps]}"),
                  TimeElapsedColumn(), console=_console(stderr=True), transient=True) as bar:
        yield _Progress(bar, bar.add_task(_stage_words("starting", 0), total=None, steps=""))


def _stage_words(name: str, rows: int) -> str:
    """'anomaly fit       20,867 rows', in columns that stay put from stage to stage."""
    return f"{name:<16} {f'{rows:,} rows' if rows else '':>16}"


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="Declarations CSV or Parquet file, or - for standard input.")],
    mapping: MappingOption = None,
    delimiter: DelimiterOption = None,
    encoding: EncodingOption = None,
    output: Annotated[Optional[Path], typer.Option(
        "-o", "--output", help="Also write the problems table to this CSV file.")] = None,
) -> None:
    """Report row-level problems (row, column, value, problem); exit 1 if there are any."""
    with _user_errors():
        if output:
            refuse_overwriting(output, file, _mapping_file(mapping))
        declarations = detector.load_declarations(file, mapping, delimiter=delimiter, encoding=encoding)
        problems = declarations.problems
        if output:
            detector.io.write_table(problems, output, "csv")
    _echo_table(problems[["row", "column", "value", "problem"]])
    for note in declarations.read_notes:
        _say(f"read: {note}", err=True)
    _say(f"{file}: {len(declarations)} rows, {int(declarations.invalid.sum())} invalid, "
               f"{len(problems)} problems", err=True)
    if len(problems):
        raise typer.Exit(1)


@app.command()
def evaluate(
    file: Annotated[Path, typer.Argument(help="Labelled declarations, scored or not.")],
    label_column: Annotated[str, typer.Option(
        "--label-column", help="Column of labels: 1 or fraud, 0 or clean.")] = "label",
    budget: Annotated[str, typer.Option("--budget", help="Inspection budgets in percent, e.g. 1,2,5,10.")]
    = "1,2,5,10",
    score_column: Annotated[Optional[list[str]], typer.Option(
        "--score-column", help="Score column(s) to compare; repeatable (default: rule_score, "
        "anomaly_score, supervised_score and risk_score, those present).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    rules: RulesOption = None,
    no_default_rules: NoDefaultOption = False,
    model: ModelOption = None,
    no_anomaly: NoAnomalyOption = False,
    supervised: SupervisedOption = None,
    seed: SeedOption = 0,
    mapping: MappingOption = None,
    delimiter: DelimiterOption = None,
    encoding: EncodingOption = None,
) -> None:
    """Precision and recall at inspection budgets, AP, ROC AUC, recall per pattern, lanes.

    A labelled file without score columns is scored first, as `detector score` would
    (rules, and the anomaly model given or fitted on the file); a scored file is
    measured as it is. With several
    score columns a side-by-side table comes first: rule_score is the rules alone,
    anomaly_score the anomaly model alone, supervised_score the supervised model alone,
    risk_score all combined.
    """
    with _user_errors(), _progress(_worth_showing(file, quiet=False)) as progress:
        budgets = _budgets(budget)
        declarations = detector.load_declarations(file, mapping, delimiter=delimiter, encoding=encoding,
                                                  reference_dirs=_pack_folders(rules), on_stage=progress.stage)
        # The model files are read only when the file is to be scored.
        results = detector.evaluate_declarations(
            declarations, label_column, score_column, budgets,
            rules=detector.load_rules(rules, include_default=not no_default_rules),
            model=_anomaly_choice(model, no_anomaly), supervised=supervised, seed=seed, on_stage=progress.stage)
    if as_json:
        _say(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        parts = [*comparison_parts(results), ""] if len(results) > 1 else []
        for number, result in enumerate(results):
            parts += [""] * (number > 0) + evaluation_parts(result)
        _echo_parts(parts)


@app.command()
def generate(
    rows: Annotated[int, typer.Option("-n", "--rows", min=1, max=10**10, help="Number of declarations.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="CSV, Parquet or JSONL file to write.")],
    seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed; the same seed gives the same file.")] = 0,
    fraud_rate: Annotated[float, typer.Option(
        "--fraud-rate", min=0.0, max=0.5, help="Share of rows with a planted scheme (label 1).")] = 0.02,
    start: Annotated[Optional[str], typer.Option(
        "--start", help="First declaration date, YYYY-MM-DD (default 2025-01-01).")] = None,
    days: Annotated[int, typer.Option("--days", min=1, max=36_525, help="Days covered.")] = 365,
) -> None:
    """Write labelled synthetic declarations with planted smuggling schemes.

    Rows stream in chunks, so any size fits in memory; the same seed gives the same file.
    """
    from detector.io import write_chunks
    from detector.synthetic import generate_chunks

    show = _terminal(sys.stderr) and rows > _PROGRESS_ROWS
    with _user_errors(), _progress(show) as progress:
        try:
            first = date.fromisoformat(start) if start else date(2025, 1, 1)
        except ValueError:
            raise DetectorError(f"--start {start!r}: expected a date YYYY-MM-DD") from None
        chunks = generate_chunks(rows, seed=seed, fraud_rate=fraud_rate, start=first, days=days)
        path = write_chunks(_counted(chunks, progress, rows), output)
    _say(f"wrote {rows} declarations to {path}", err=True)


def _counted(chunks, progress: _Progress, rows: int):
    """``chunks`` passed on unchanged, the rows written so far filling the bar."""
    progress.stage("generating", rows, total=rows)
    for chunk in chunks:
        yield chunk
        progress.advance(len(chunk))


@app.command("report")
def report_command(
    scored: Annotated[Path, typer.Argument(help="A file written by `detector score` (CSV, Parquet or JSON lines).")],
    output: Annotated[Optional[Path], typer.Option(
        "-o", "--output", help="The HTML page (default: <scored name>.report.html in the current folder).")] = None,
    rules: RulesOption = None,
    no_default_rules: NoDefaultOption = False,
) -> None:
    """Write the batch report of SCORED: one self-contained HTML page (no network).

    What was scored and with what, the lanes, the risk distribution, hits per rule,
    frauds per lane and pattern when the file has a label column, and the flagged
    shipments to sort and filter, each opening its case view. The rules give titles,
    severities and patterns: the shipped packs, and those of --rules.
    """
    with _user_errors():
        target = output or Path(f"{scored.name.split('.')[0]}.report.html")
        refuse_overwriting(target, scored)
        frame, metadata = load_scored(scored)
        if frame is None:
            raise DetectorError(f"{scored}: not a scored file (no {', '.join(SCORED_COLUMNS)} columns); score it "
                                f"first: detector score {scored} --report {target}")
        rule_set = detector.load_rules(rules, include_default=not no_default_rules)
        write_report(batch_report(frame, metadata, rule_set), target, scored)
    _say(f"wrote {target}", err=True)


@app.command()
def explain(
    file: Annotated[Path, typer.Argument(help="A scored file, or declarations to score first.")],
    declaration_ids: Annotated[list[str], typer.Argument(help="Declaration id(s) to explain.")],
    rules: RulesOption = None,
    no_default_rules: NoDefaultOption = False,
    mapping: MappingOption = None,
    model: ModelOption = None,
    no_anomaly: NoAnomalyOption = False,
    supervised: SupervisedOption = None,
    seed: SeedOption = 0,
) -> None:
    """Every piece of evidence behind the declarations named, strongest first.

    FILE is a file `detector score` wrote (read as it is), or declarations, which are
    scored first with the options given (the same as `detector score` would).
    """
    with _user_errors():
        rule_set = detector.load_rules(rules, include_default=not no_default_rules)

        def scored(source, name: str) -> pd.DataFrame:
            declarations = detector.load_declarations(source, mapping, reference_dirs=rule_set.reference_dirs,
                                                      name=name)
            return detector.score(declarations, rule_set, model=_anomaly_model(model, no_anomaly), seed=seed,
                                  supervised=_supervised_model(supervised)).output

        evidence = case_view(scored_table(file, scored), declaration_ids, rule_set)
    _echo_text(format_case_view(evidence).rstrip("\n").split("\n"))


def _store(db: Path | None, create: bool = True):
    from detector.outcomes import OutcomeStore

    return OutcomeStore(db, create=create)


@outcomes_app.command("add")
def outcomes_add(
    file: Annotated[Path, typer.Argument(
        help="CSV or Parquet: declaration_id, inspected_on, result (fraud/clean), [recovered_value, notes].")],
    db: DbOption = None,
) -> None:
    """Import inspection outcomes; importing the same file again adds nothing.

    A row that disagrees with an outcome already stored is reported and not written;
    exit 1 when there are such conflicts.
    """
    with _user_errors(), _store(db) as store:
        report = store.add_outcomes_file(file)
        where = store.path
    _echo_text(report.lines())
    _say(f"database: {where}", err=True)
    if len(report.conflicts):
        raise typer.Exit(1)


@outcomes_app.command("report")
def outcomes_report(
    db: DbOption = None,
    threshold: Annotated[float, typer.Option(
        "--threshold", min=0.0, max=1.0, help="List rules whose latest hit rate is below this (0.05 = 5%).")]
    = 0.05,
    min_inspections: Annotated[int, typer.Option(
        "--min-inspections", min=1, help="Periods with fewer inspections are not judged.")] = 20,
    period: Annotated[str, typer.Option("--period", help="W, M, Q or Y: the period of the hit rates over time.")]
    = "M",
    html: Annotated[Optional[Path], typer.Option("--html", help="Also write the report as an HTML page.")] = None,
) -> None:
    """Hit rate of inspections per rule, lane, pattern and over time; rules to review."""
    with _user_errors(), _store(db, create=False) as store:
        report = store.report(threshold=threshold, min_inspections=min_inspections, period=period)
        if html:
            report.to_html(html)
    _echo_parts(report.parts())
    if html:
        _say(f"wrote {html}", err=True)


@rules_app.command("list")
def rules_list(rules: RulesOption = None, no_default_rules: NoDefaultOption = False) -> None:
    """List every loaded rule: id, severity, pattern, title."""
    with _user_errors():
        rule_set = detector.load_rules(rules, include_default=not no_default_rules)
    _echo_table(pd.DataFrame(
        [(r.id, r.severity, r.pattern, r.title, r.source.name) for r in rule_set],
        columns=["id", "severity", "pattern", "title", "pack"]))
    for pack in dict.fromkeys(r.source.resolve() for r in rule_set):
        _say(f"pack: {pack}", err=True)


@rules_app.command("show")
def rules_show(rule_id: Annotated[str, typer.Argument(help="Rule id, e.g. RE-ORIGIN-001.")],
               rules: RulesOption = None, no_default_rules: NoDefaultOption = False) -> None:
    """Show one rule as written in its pack, with the file it comes from."""
    with _user_errors():
        rule_set = detector.load_rules(rules, include_default=not no_default_rules)
        rule = _find_rule(rule_set, rule_id)
        text = rule_text(rule)
    _say(f"# {rule.source.resolve()}")
    _say(text)


def _find_rule(rule_set, rule_id: str):
    """The rule of ``rule_id`` in any case (re-origin-001); unknown, an error that
    names the closest ids."""
    by_id = {rule.id.casefold(): rule for rule in rule_set}
    rule = by_id.get(rule_id.strip().casefold())
    if rule is not None:
        return rule
    # 0.8: a letter or two off (licence/license, a dropped digit), not any rule of the same shape.
    close = difflib.get_close_matches(rule_id.strip().casefold(), by_id, n=3, cutoff=0.8)
    hint = f"did you mean {' or '.join(by_id[c].id for c in close)}? " if close else ""
    raise DetectorError(f"no rule {rule_id}; {hint}`detector rules list` shows the loaded rules")


@rules_app.command("test")
def rules_test(path: Annotated[Optional[Path], typer.Argument(
        help="Rule pack file or folder to test (default: the shipped packs).")] = None) -> None:
    """Run every rule's hit and miss examples; exit 1 if any fails."""
    with _user_errors():
        rule_set = detector.load_rules([path] if path else None, include_default=path is None)
        results = detector.test_rules(rule_set)
    _echo_table(detector.example_summary(results))
    failures = results[~results["passed"]]
    if len(failures):
        _say("\nfailed examples:")
        _echo_table(failures[["rule", "example", "detail", "note"]])
    _say(f"{len(rule_set)} rules, {len(results)} examples, {len(failures)} failed", err=True)
    if len(failures):
        raise typer.Exit(1)


if __name__ == "__main__":  # pragma: no cover
    app()
