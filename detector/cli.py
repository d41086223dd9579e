"""The ``detector`` command line: a thin typer layer over the public API.

Every :class:`~detector.errors.DetectorError` becomes one line on stderr and exit code
2; ``validate`` and ``rules test`` exit 1 when they find problems, so scripts and CI
can rely on the code.
"""

from __future__ import annotations

import json
import os
import re
import sys
from contextlib import ExitStack, contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import pandas as pd
import typer

import detector
from detector.errors import DetectorError
from detector.evaluation import format_comparison, format_evaluation, parse_budgets
from detector.io import OUTPUT_FORMATS, STDOUT, output_format, refuse_overwriting
from detector.rules.source import rule_text

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Score customs declarations for smuggling patterns and explain every flag.")
rules_app = typer.Typer(no_args_is_help=True, help="List, show and test the rule packs.")
app.add_typer(rules_app, name="rules")
outcomes_app = typer.Typer(no_args_is_help=True, help="Record inspection outcomes and report hit rates.")
app.add_typer(outcomes_app, name="outcomes")

# Files above this size take more than a moment: show a progress bar on a terminal.
_PROGRESS_BYTES = 5_000_000

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


@app.callback()
def _setup() -> None:
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


def _say(text: str, err: bool = False) -> None:
    """Print ``text`` with control characters shown as ``\\xNN`` instead of run."""
    typer.echo(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text)), err=err)


def _fail(message: str, code: int = 2) -> None:
    _say(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def _user_errors():
    try:
        yield
    except DetectorError as exc:
        _fail(str(exc))


def _echo_table(frame: pd.DataFrame) -> None:
    _say(frame.to_string(index=False) if len(frame) else "(none)")


@app.command()
def score(
    file: Annotated[Path, typer.Argument(help="Declarations CSV or Parquet file.")],
    output: Annotated[Optional[Path], typer.Option(
        "-o", "--output", help="Output file, or - for standard output (default: <input name>.scored.<format> "
        "in the current folder).")] = None,
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
) -> None:
    """Score FILE: every input row once, in order, with risk, lane, hits and reasons.

    Without --model the anomaly part is fitted on FILE itself (1,000 rows or more).
    """
    with _user_errors(), ExitStack() as opened:
        chosen = output_format(output or "", fmt)
        target = output or Path(f"{file.stem}.scored.{chosen}")
        refuse_overwriting(target, file, model, supervised, _mapping_file(mapping),
                           _database_path(db) if record or db else None)
        # A batch that cannot be stored (locked, read-only, damaged) fails before any work.
        store = opened.enter_context(_store(db)) if record or db else None
        if store is not None:
            store.check_writable()
        rule_set = detector.load_rules(rules, include_default=not no_default_rules)
        anomaly_model = _anomaly_model(model, no_anomaly)
        learned = _supervised_model(supervised)
        capacity = _single_budget(budget) if budget else None
        show_progress = sys.stderr.isatty() and not quiet and file.is_file() \
            and file.stat().st_size > _PROGRESS_BYTES
        with _progress(show_progress, len(rule_set)) as done:
            declarations = detector.load_declarations(file, mapping, delimiter=delimiter, encoding=encoding,
                                                      reference_dirs=rule_set.reference_dirs)
            done("rules")
            result = detector.score(declarations, rule_set, on_rule=lambda rule: done("rules"),
                                    model=anomaly_model, budget=capacity, seed=seed, supervised=learned,
                                    explore=_single_budget(explore, "--explore") if explore else 0.0)
            done("writing")
            detector.write_output(result, target, chosen)
            done("done")
        batch = store.record_batch(result, budget=capacity) if store is not None else None
    _tell_scored(result.summary, target, quiet, store, batch)


def _tell_scored(summary, target: Path, quiet: bool, store, batch) -> None:
    """What `score` says on stderr: the summary (only its warnings with --quiet), where
    the output went and the batch it was recorded as."""
    if quiet:
        for line in summary.warnings():
            _say(line, err=True)
        return
    for line in summary.lines():
        _say(line, err=True)
    _say(f"wrote {'standard output' if str(target) == STDOUT else target}", err=True)
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
    budgets = parse_budgets(text)
    if len(budgets) != 1:
        raise DetectorError(f"{option} {text!r}: give one percentage, e.g. 2%")
    return budgets[0]


def _supervised_model(path: Path | None):
    if path is None:
        return None
    from detector.supervised import SupervisedModel

    return SupervisedModel.load(path)


def _anomaly_model(path: Path | None, off: bool):
    """What ``detector.score`` takes as ``model`` for --model / --no-anomaly."""
    if path and off:
        raise DetectorError("--model and --no-anomaly contradict each other; give one")
    if off:
        return None
    if path is None:
        return "batch"
    from detector.anomaly import AnomalyModel

    return AnomalyModel.load(path)


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
        "--labels", help="Column of inspection outcomes (1 fraud, 0 clean, empty not inspected): "
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
    with _user_errors():
        if labels and outcomes:
            raise DetectorError("--labels and --outcomes are two sources of labels; give one")
        refuse_overwriting(output, history, _mapping_file(mapping), _database_path(db) if outcomes else None)
        declarations = detector.load_declarations(history, mapping, delimiter=delimiter, encoding=encoding,
                                                  reference_dirs=_pack_folders(rules))
        if labels or outcomes:
            path, lines = _train_supervised(declarations, labels, db if outcomes else None, output, seed,
                                            detector.load_rules(rules, include_default=not no_default_rules))
        else:
            from detector.anomaly import AnomalyModel

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
    from detector.supervised import training_summary

    if label_column:
        labels = detector.labels_from_column(declarations, label_column)
    else:
        with _store(db, create=False) as store:
            labels = detector.labels_from_outcomes(declarations, store.outcomes())
    fitted = detector.train_supervised(declarations, labels, rule_set, seed=seed)
    return fitted.save(output), [training_summary(fitted, declarations.source)]


@contextmanager
def _progress(enabled: bool, n_rules: int):
    """A progress bar on stderr over reading, each rule and writing; silent when off.

    Yields ``done(label)``: one step finished, ``label`` names what runs next.
    """
    if not enabled:
        yield lambda _label: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description:<16}"), BarColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("reading", total=n_rules + 3)

        def done(label: str) -> None:
            bar.update(task, advance=1, description=label)

        yield done


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="Declarations CSV or Parquet file.")],
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
    label_column: Annotated[str, typer.Option("--label-column", help="Column of 0/1 labels.")] = "label",
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
    with _user_errors():
        budgets = parse_budgets(budget)
        declarations = detector.load_declarations(file, mapping, delimiter=delimiter, encoding=encoding,
                                                  reference_dirs=_pack_folders(rules))
        table = declarations.raw
        # Rules and models are loaded only when the file is to be scored.
        if detector.needs_scoring(table, score_column):
            rule_set = detector.load_rules(rules, include_default=not no_default_rules)
            table = detector.score(declarations, rule_set, model=_anomaly_model(model, no_anomaly), seed=seed,
                                   supervised=_supervised_model(supervised)).output
        results = detector.evaluate_scores(table, label_column, score_column, budgets, source=str(file))
    if as_json:
        _say(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        parts = [format_comparison(results)] if len(results) > 1 else []
        _say("\n\n".join(parts + [format_evaluation(r) for r in results]))


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
    from detector.synthetic import write_synthetic

    with _user_errors():
        try:
            first = date.fromisoformat(start) if start else date(2025, 1, 1)
        except ValueError:
            raise DetectorError(f"--start {start!r}: expected a date YYYY-MM-DD") from None
        path = write_synthetic(output, rows, seed=seed, fraud_rate=fraud_rate, start=first, days=days)
    _say(f"wrote {rows} declarations to {path}", err=True)


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
    for line in report.lines():
        _say(line)
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
    for line in report.lines():
        _say(line)
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
    rule = rule_set.get(rule_id)
    if rule is None:
        _fail(f"no rule {rule_id}; `detector rules list` shows the loaded rules")
    _say(f"# {rule.source.resolve()}")
    _say(rule_text(rule))


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
