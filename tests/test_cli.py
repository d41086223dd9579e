"""The command line through typer's CliRunner: exit codes and what the user reads."""

import os
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import detector
from detector import cli
from detector.cli import app

PACK = str(Path(__file__).parent / "data" / "pack_small.yaml")
runner = CliRunner()
ROWS = ("declaration_id,hs_code,origin_country,export_country,license_number\n"
        "A,2805301200,VN,CN,\nB,2805301200,CN,CN,L-1\nC,28XX,CN,CN,\n")


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_score_writes_every_row_and_prints_a_summary(write_csv, tmp_path):
    out = tmp_path / "scored.csv"
    result = invoke("score", write_csv(ROWS), "-o", out, "--rules", PACK, "--no-default-rules")
    assert result.exit_code == 0, result.output
    scored = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert scored["declaration_id"].tolist() == ["A", "B", "C"]
    assert scored["lane"].tolist() == ["red", "green", "green"]
    assert "3 rows read, 1 invalid" in result.stderr
    assert "lanes: red 1, yellow 0, green 2" in result.stderr
    assert "top rules:\n  T-LICENCE-001 Rare earths without a licence (1)\n" \
           "  T-ORIGIN-001 Origin differs from country of export (1)\n" in result.stderr


def test_score_parquet_and_jsonl_outputs(write_csv, tmp_path):
    for name in ("scored.parquet", "scored.jsonl"):
        result = invoke("score", write_csv(ROWS), "-o", tmp_path / name, "--rules", PACK,
                        "--no-default-rules", "--quiet")
        assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(tmp_path / "scored.parquet")) == 3
    assert len(pd.read_json(tmp_path / "scored.jsonl", lines=True)) == 3


def test_score_missing_file_is_one_clear_line(tmp_path):
    result = invoke("score", tmp_path / "nope.csv", "--rules", PACK, "--no-default-rules")
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'nope.csv'}: file not found"


def test_score_missing_required_column_lists_columns(write_csv):
    result = invoke("score", write_csv("declaration_id,tariff\nA,2805\n"), "--rules", PACK, "--no-default-rules")
    assert result.exit_code == 2
    assert "missing required column 'hs_code'; columns found: declaration_id, tariff" in result.stderr


def test_score_reports_rule_pack_mistakes_before_reading(write_csv, tmp_path):
    pack = tmp_path / "bad.yaml"
    pack.write_text(Path(PACK).read_text().replace("compare_fields", "compare_field"))
    result = invoke("score", write_csv(ROWS), "--rules", pack, "--no-default-rules")
    assert result.exit_code == 2
    assert "bad.yaml: rule T-ORIGIN-001: when.all[1]: unknown predicate 'compare_field'" in result.stderr


def test_validate_prints_the_problem_table_and_exits_1(write_csv):
    result = invoke("validate", write_csv(ROWS))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["row", "column", "value", "problem"]
    assert lines[1].split()[:3] == ["3", "hs_code", "28XX"]
    assert "3 rows, 1 invalid, 1 problems" in result.stderr


def test_validate_clean_file_exits_0(write_csv):
    result = invoke("validate", write_csv("declaration_id,hs_code\nA,2805\n"))
    assert result.exit_code == 0
    assert "(none)" in result.stdout


def test_rules_list_and_show():
    listed = invoke("rules", "list", "--rules", PACK, "--no-default-rules")
    assert listed.exit_code == 0
    assert "T-ORIGIN-001" in listed.stdout and "critical" in listed.stdout
    shown = invoke("rules", "show", "T-LICENCE-001", "--rules", PACK, "--no-default-rules")
    assert shown.exit_code == 0
    assert "missing: license_number" in shown.stdout
    unknown = invoke("rules", "show", "NOPE-1", "--rules", PACK, "--no-default-rules")
    assert unknown.exit_code == 2 and "no rule NOPE-1" in unknown.stderr


def test_rules_test_passes_and_fails_with_details(tmp_path):
    passing = invoke("rules", "test", PACK)
    assert passing.exit_code == 0, passing.output
    assert "2 rules, 8 examples, 0 failed" in passing.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text(Path(PACK).read_text().replace('prefixes: ["2805"]', 'prefixes: ["2846"]'))
    failing = invoke("rules", "test", broken)
    assert failing.exit_code == 1
    assert "FAIL" in failing.stdout
    assert "hit[1]" in failing.stdout and "rule returned no hit" in failing.stdout


def test_evaluate_scores_an_unscored_labelled_file_and_prints_tables(write_csv):
    labelled = ("declaration_id,hs_code,origin_country,export_country,license_number,label,pattern\n"
                "A,2805301200,VN,CN,,1,mislabelled_origin\nB,2805301200,CN,CN,L-1,0,\n"
                "C,2846901920,JP,CN,,1,mislabelled_origin\nD,6907210000,CN,CN,,0,\n")
    result = invoke("evaluate", write_csv(labelled), "--budget", "25,50", "--rules", PACK, "--no-default-rules")
    assert result.exit_code == 0, result.output
    assert "risk_score: 4 rows, 2 frauds" in result.stdout
    assert "recall per pattern:" in result.stdout and "mislabelled_origin" in result.stdout


def test_evaluate_json_compares_score_columns(write_csv):
    scored = "declaration_id,hs_code,label,risk_score,other\nA,2805,1,0.9,0.1\nB,2805,0,0.1,0.9\n"
    result = invoke("evaluate", write_csv(scored), "--budget", "50", "--json",
                    "--score-column", "risk_score", "--score-column", "other")
    assert result.exit_code == 0, result.output
    import json
    data = json.loads(result.stdout)
    assert [d["score_column"] for d in data] == ["risk_score", "other"]
    assert [d["budgets"][0]["precision"] for d in data] == [1.0, 0.0]


def test_evaluate_without_labels_is_a_clear_error(write_csv):
    result = invoke("evaluate", write_csv("declaration_id,hs_code,risk_score\nA,2805,0.5\n"))
    assert result.exit_code == 2
    assert "no label column 'label'" in result.stderr


def test_generate_writes_labelled_declarations_deterministically(tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    for path in (first, second):
        result = invoke("generate", "-n", 500, "-o", path, "--seed", 4, "--start", "2025-06-01", "--days", 30)
        assert result.exit_code == 0, result.output
    assert first.read_bytes() == second.read_bytes()
    frame = pd.read_csv(first, dtype=str)
    assert len(frame) == 500 and {"label", "pattern"} <= set(frame.columns)
    assert frame["declaration_date"].min() >= "2025-06-01"
    bad = invoke("generate", "-n", 5, "-o", tmp_path / "c.csv", "--start", "June")
    assert bad.exit_code == 2 and "expected a date YYYY-MM-DD" in bad.stderr


def test_train_then_score_with_the_model_adds_anomaly_columns(tmp_path):
    from datetime import date

    from detector.synthetic import generate

    history, current = tmp_path / "history.csv", tmp_path / "current.csv"
    generate(3000, seed=1).to_csv(history, index=False)
    generate(800, seed=1, start=date(2026, 1, 1), days=30).to_csv(current, index=False)
    model = tmp_path / "model.zip"
    trained = invoke("train", history, "-o", model, "--trees", 20, "--seed", 3)
    assert trained.exit_code == 0, trained.output
    assert "3000 rows; features:" in trained.stderr and model.is_file()
    outputs = []
    for name in ("a.csv", "b.csv"):
        scored = invoke("score", current, "--model", model, "-o", tmp_path / name, "--quiet")
        assert scored.exit_code == 0, scored.output
        outputs.append((tmp_path / name).read_bytes())
    assert outputs[0] == outputs[1]
    frame = pd.read_csv(tmp_path / "a.csv", dtype=str, keep_default_na=False)
    columns = frame.columns.tolist()
    assert columns[columns.index("reasons") + 1:columns.index("reasons") + 4] == [
        "rule_score", "anomaly_score", "anomaly_percentile"]
    scores = frame["anomaly_score"].astype(float)
    assert scores.between(0, 1).all() and len(frame) == 800
    # The anomaly counts in the risk above 0.95 and flagged rows say why they are strange.
    risk, rules = frame["risk_score"].astype(float), frame["rule_score"].astype(float)
    assert (risk[scores > 0.95] > rules[scores > 0.95]).all() and (risk[scores <= 0.95] == rules[scores <= 0.95]).all()
    strange = frame[(scores > 0.95) & (frame["lane"] != "green")]
    assert len(strange) and strange["reasons"].str.contains(r"\[anomaly\] stranger than [\d.]+% of the history").all()
    assert not frame.loc[scores <= 0.95, "reasons"].str.contains("[anomaly]", regex=False).any()
    # Fitted on the file itself, the model ranks rows against this file, and says so.
    self_fitted = invoke("score", history, "-o", tmp_path / "c.csv", "--quiet")
    assert self_fitted.exit_code == 0, self_fitted.output
    reasons = pd.read_csv(tmp_path / "c.csv", dtype=str, keep_default_na=False)["reasons"]
    strange_here = reasons[reasons.str.contains("[anomaly]", regex=False)]
    assert len(strange_here) and strange_here.str.contains(r"\[anomaly\] stranger than [\d.]+% of this file").all()
    assert not reasons.str.contains("of the history").any()
    evaluated = invoke("evaluate", tmp_path / "a.csv", "--budget", "5")
    assert evaluated.exit_code == 0, evaluated.output
    assert "precision and recall at each budget" in evaluated.stdout
    for column in ("rule_score", "anomaly_score", "risk_score"):
        assert f"{column}: 800 rows" in evaluated.stdout


def test_score_fits_the_anomaly_model_on_a_large_enough_file(tmp_path, write_csv):
    from detector.synthetic import generate

    current = tmp_path / "current.csv"
    generate(1200, seed=2).to_csv(current, index=False)
    scored = invoke("score", current, "-o", tmp_path / "out.csv")
    assert scored.exit_code == 0, scored.output
    assert "anomaly: fitted on this file (1,200 rows, 100 trees, seed 0)" in scored.stderr
    assert "anomaly_score" in pd.read_csv(tmp_path / "out.csv", nrows=1).columns
    rules_only = invoke("score", current, "-o", tmp_path / "rules.csv", "--no-anomaly")
    assert "anomaly: off (rules only)" in rules_only.stderr
    assert pd.read_csv(tmp_path / "rules.csv")["anomaly_score"].isna().all()
    small = invoke("score", write_csv(ROWS), "-o", tmp_path / "small.csv")
    assert small.exit_code == 0 and "warning: anomaly part skipped: 3 rows, fewer than the 1,000" in small.stderr
    both = invoke("score", current, "--model", tmp_path / "m.zip", "--no-anomaly")
    assert both.exit_code == 2 and "contradict" in both.stderr


def test_score_refuses_a_tampered_model(tmp_path, write_csv):
    model = tmp_path / "model.zip"
    model.write_bytes(b"PK\x03\x04 not really a model")
    result = invoke("score", write_csv(ROWS), "--model", model, "--rules", PACK, "--no-default-rules")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and "model.zip" in result.stderr


def test_score_with_a_budget_sends_exactly_that_share_to_red(tmp_path):
    from tests.conftest import REPO

    out = tmp_path / "scored.csv"
    result = invoke("score", REPO / "sample_data" / "declarations.csv", "--budget", "2%", "-o", out, "--quiet")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert (frame["lane"] == "red").sum() == len(frame) * 2 // 100
    red_risk = frame.loc[frame["lane"] == "red", "risk_score"].astype(float)
    other_risk = frame.loc[frame["lane"] != "red", "risk_score"].astype(float)
    assert red_risk.min() >= other_risk.max()
    bad = invoke("score", REPO / "sample_data" / "declarations.csv", "--budget", "2,5", "-o", out)
    assert bad.exit_code == 2 and "give one percentage" in bad.stderr
    explored = invoke("score", REPO / "sample_data" / "declarations.csv", "--budget", "2%", "--explore", "10%",
                      "-o", out, "--quiet")
    assert explored.exit_code == 0, explored.output
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    # 417 rows inspected: 41 drawn at random, 376 by risk.
    assert frame["selection"].value_counts().to_dict() == {"": len(frame) - 417, "risk": 376, "explore": 41}
    assert frame.columns.tolist().index("selection") == frame.columns.tolist().index("lane") + 1
    no_budget = invoke("score", REPO / "sample_data" / "declarations.csv", "--explore", "10%", "-o", out)
    assert no_budget.exit_code == 2 and "needs an inspection budget" in no_budget.stderr


def test_outcomes_round_trip_score_record_add_report(tmp_path):
    from detector.synthetic import generate

    batch = tmp_path / "batch.csv"
    frame = generate(600, seed=4)
    frame.to_csv(batch, index=False)
    db = tmp_path / "outcomes.sqlite"
    scored = invoke("score", batch, "-o", tmp_path / "scored.csv", "--db", db, "--budget", "5%")
    assert scored.exit_code == 0, scored.output
    assert f"recorded as batch 1 in {db}" in scored.stderr
    out = pd.read_csv(tmp_path / "scored.csv", dtype=str, keep_default_na=False)
    inspected = out[out["lane"] == "red"]
    outcomes = pd.DataFrame({"declaration_id": inspected["declaration_id"], "inspected_on": "2025-03-01",
                             "result": inspected["label"].map({"1": "fraud", "0": "clean"})})
    outcomes.to_csv(tmp_path / "outcomes.csv", index=False)
    first = invoke("outcomes", "add", tmp_path / "outcomes.csv", "--db", db)
    assert first.exit_code == 0 and f"{len(inspected)} added, 0 already stored, 0 conflict(s)" in first.stdout
    again = invoke("outcomes", "add", tmp_path / "outcomes.csv", "--db", db)
    assert again.exit_code == 0 and f"0 added, {len(inspected)} already stored" in again.stdout
    flipped = outcomes.head(1).assign(result=lambda f: f["result"].map({"fraud": "clean", "clean": "fraud"}))
    flipped.to_csv(tmp_path / "flipped.csv", index=False)
    conflict = invoke("outcomes", "add", tmp_path / "flipped.csv", "--db", db)
    assert conflict.exit_code == 1 and "1 conflict(s)" in conflict.stdout
    report = invoke("outcomes", "report", "--db", db, "--html", tmp_path / "report.html")
    assert report.exit_code == 0, report.output
    frauds = int((inspected["label"] == "1").sum())
    assert f"{len(inspected)} inspections joined to scored declarations, {frauds} found fraud" in report.stdout
    assert "hit rate per rule" in report.stdout and (tmp_path / "report.html").is_file()
    missing = invoke("outcomes", "report", "--db", tmp_path / "nowhere.sqlite")
    assert missing.exit_code == 2 and "nowhere.sqlite" in missing.stderr


def test_train_a_supervised_model_from_labels_or_outcomes_and_score_with_it(tmp_path):
    from datetime import date

    from detector.synthetic import generate

    history, current = tmp_path / "history.csv", tmp_path / "current.csv"
    past = generate(2500, seed=1)
    past.to_csv(history, index=False)
    generate(1200, seed=1, start=date(2026, 1, 1), days=30).to_csv(current, index=False)
    from_labels = invoke("train", history, "--labels", "label", "-o", tmp_path / "labels.zip")
    assert from_labels.exit_code == 0, from_labels.output
    assert "2,500 rows, 2,500 inspected" in from_labels.stderr
    # The same history, of which only a third was inspected, through the outcome database.
    inspected = past.iloc[::3]
    pd.DataFrame({"declaration_id": inspected["declaration_id"], "inspected_on": "2025-12-31",
                  "result": inspected["label"].map({1: "fraud", 0: "clean"})}).to_csv(tmp_path / "o.csv", index=False)
    db = tmp_path / "o.sqlite"
    assert invoke("outcomes", "add", tmp_path / "o.csv", "--db", db).exit_code == 0
    from_store = invoke("train", history, "--outcomes", "--db", db, "-o", tmp_path / "outcomes.zip")
    assert from_store.exit_code == 0, from_store.output
    assert f"2,500 rows, {len(inspected):,} inspected" in from_store.stderr
    scored = invoke("score", current, "--supervised", tmp_path / "outcomes.zip", "-o", tmp_path / "s.csv", "-q")
    assert scored.exit_code == 0, scored.output
    frame = pd.read_csv(tmp_path / "s.csv", dtype=str, keep_default_na=False)
    assert frame["supervised_score"].astype(float).between(0, 1).all()
    assert invoke("score", current, "--supervised", tmp_path / "outcomes.zip", "-o", tmp_path / "t.csv").stderr.count(
        f"supervised: model trained on {len(inspected):,} inspected declarations") == 1
    evaluated = invoke("evaluate", tmp_path / "s.csv", "--budget", "5")
    assert "supervised_score: 1200 rows" in evaluated.stdout and "risk_score: 1200 rows" in evaluated.stdout
    both = invoke("train", history, "--labels", "label", "--outcomes")
    assert both.exit_code == 2 and "give one" in both.stderr
    missing = invoke("train", history, "--labels", "verdict")
    assert missing.exit_code == 2 and "no label column 'verdict'" in missing.stderr


def _score(source, out, *extra):
    return invoke("score", source, "-o", out, "--rules", PACK, "--no-default-rules", "--no-anomaly", *extra)


def _device(folder: Path, name: str, minor: int) -> Path:
    """A private copy of /dev/null (minor 3) or /dev/full (minor 7), so that a writer
    that replaces devices destroys only this node, not the machine's."""
    import stat

    node = folder / name
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, minor))
    except PermissionError:
        pytest.skip("creating a device node needs root (CAP_MKNOD)")
    return node


def test_score_to_a_device_keeps_the_device(write_csv, tmp_path):
    """Before: `-o /dev/null` as root replaced the device node with a regular file (the
    atomic rename)."""
    import stat

    null = _device(tmp_path, "null", 3)
    result = _score(write_csv(ROWS), null, "--quiet")
    assert result.exit_code == 0, result.output
    assert stat.S_ISCHR(os.stat(null).st_mode)


def test_score_into_a_fifo_writes_into_it(write_csv, tmp_path):
    """Before: a named pipe given as -o was replaced by a regular file."""
    import stat
    import threading

    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    result = _score(write_csv(ROWS), fifo, "--quiet")
    reader.join(timeout=60)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert received and received[0].count(b"\n") == 4


def test_score_through_a_symlink_writes_its_target_and_keeps_the_link(write_csv, tmp_path):
    target, link = tmp_path / "real.csv", tmp_path / "link.csv"
    target.write_text("old\n")
    link.symlink_to(target)
    assert _score(write_csv(ROWS), link, "--quiet").exit_code == 0
    assert link.is_symlink() and "declaration_id" in target.read_text()


def test_score_to_standard_output(write_csv):
    result = _score(write_csv(ROWS), "-")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith('"declaration_id"') and len(result.stdout.splitlines()) == 4
    assert "wrote standard output" in result.stderr


def test_output_that_is_an_input_is_refused_before_anything_runs(write_csv, tmp_path):
    """Before: `-o` naming the input (or a hard link or symlink to it) replaced the
    declarations with the scored file; `outcomes report --html DB` replaced the database."""
    source = write_csv(ROWS)
    hard, soft = tmp_path / "hard.csv", tmp_path / "soft.csv"
    os.link(source, hard)
    soft.symlink_to(source)
    for out in (source, hard, soft):
        result = _score(source, out)
        assert result.exit_code == 2 and "same file as the input" in result.stderr
    assert source.read_text() == ROWS
    problems = invoke("validate", source, "-o", source)
    assert problems.exit_code == 2 and source.read_text() == ROWS


@pytest.mark.parametrize("name, message", [("out.xls", "unknown output extension '.xls'"),
                                           ("out.csv.gz", "unknown output extension '.gz'")])
def test_unknown_output_extension_is_an_error(write_csv, tmp_path, name, message):
    """Before: `-o out.xls` silently wrote CSV under that name."""
    result = _score(write_csv(ROWS), tmp_path / name)
    assert result.exit_code == 2 and message in result.stderr
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize("where, message", [("folder", "is a folder"), ("under_a_file", "cannot write"),
                                            ("full", "No space left")])
def test_unwritable_outputs_are_one_clear_line(write_csv, tmp_path, where, message):
    """Before: a folder, a path under a file or a full disk as -o ended in a traceback."""
    out = {"folder": lambda: tmp_path, "under_a_file": lambda: write_csv("x", "plain.txt") / "out.csv",
           "full": lambda: _device(tmp_path, "full", 7)}[where]()
    result = _score(write_csv(ROWS), out)
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_terminal_escapes_in_cells_are_not_printed_raw(write_csv):
    """Before: an escape sequence in a cell (`\\x1b]0;pwned\\x07`) reached the terminal
    through `validate`'s table and the summary."""
    path = write_csv("declaration_id,hs_code\nA,\x1b]0;pwned\x07\n")
    result = invoke("validate", path)
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "\\x1b]0;pwned\\x07" in result.stdout


def test_a_negative_seed_is_one_clear_line(write_csv, tmp_path):
    result = invoke("score", write_csv(ROWS), "-o", tmp_path / "o.csv", "--seed", "-1")
    assert result.exit_code == 2 and "--seed" in result.output
    assert "Traceback" not in result.output


def test_quiet_still_warns_about_renamed_input_columns(write_csv, tmp_path):
    result = _score(write_csv("declaration_id,hs_code,lane\nA,2805,old\n"), tmp_path / "o.csv", "--quiet")
    assert result.exit_code == 0
    assert result.stderr.strip() == ("warning: input column lane renamed lane_input (the output has a column "
                                     "lane of its own)")


def test_rules_show_prints_the_pack_text_as_written_with_its_real_path(tmp_path):
    """Before: `rules show` printed a re-serialisation of the parsed rule (comments
    gone) and the path of the copy it was loaded from could not be seen."""
    pack = tmp_path / "mine.yaml"
    text = Path(PACK).read_text()
    first = text.index("  - id:")
    pack.write_text(text[:first] + "  # analyst note: keep this one\n" + text[first:])
    rule_id = text[first:].split()[2]
    result = invoke("rules", "show", rule_id, "--rules", pack, "--no-default-rules")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"# {pack.resolve()}"
    assert result.stdout.splitlines()[1:3] == ["  # analyst note: keep this one", f"  - id: {rule_id}"]


# ANSI escape sequences (colours, cursor moves), to measure what a terminal shows.
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")


def test_version_prints_the_package_version():
    """Before: `detector --version` was "No such option: --version"."""
    result = invoke("--version")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"detector {detector.__version__}\n"


def test_shell_completion_can_be_installed():
    """Before: completion was turned off; `--show-completion` was an unknown option."""
    assert "--install-completion" in invoke("--help").stdout
    shown = invoke("--show-completion", "bash")
    assert shown.exit_code == 0, shown.output
    assert "complete" in shown.stdout and "COMP_WORDS" in shown.stdout


def _help_texts(command, path=()):
    """(command path, help text) of every command, argument and option of the app."""
    yield path, command.help or ""
    for param in command.params:
        yield path, getattr(param, "help", None) or ""
    for name, sub in getattr(command, "commands", {}).items():
        yield from _help_texts(sub, (*path, name))


def test_help_shows_bracketed_text_as_written():
    """Before: rich read "[recovered_value, notes]" in `outcomes add --help` as markup
    and printed "(fraud/clean), ." instead."""
    import typer

    bracketed = [(path, text) for path, text in _help_texts(typer.main.get_command(app)) if "[" in text]
    assert any("[recovered_value, notes]" in text for _, text in bracketed)
    for path, text in bracketed:
        shown = " ".join(invoke(*path, "--help").stdout.split())
        for part in re.findall(r"\[[^\]]*\]", text):
            assert " ".join(part.split()) in shown, (path, part)


@pytest.fixture
def terminal(monkeypatch):
    """stdout and stderr taken for a terminal 70 columns wide, with colours."""
    monkeypatch.setattr(cli, "_terminal", lambda stream: True)
    monkeypatch.setenv("COLUMNS", "70")
    monkeypatch.delenv("NO_COLOR", raising=False)


def test_tables_on_a_terminal_wrap_at_its_width_left_aligned(terminal):
    """Before: `rules list` printed pandas' text, as wide as its longest title and
    right-aligned, whatever the terminal."""
    pack = Path(PACK).read_text().replace("title: Rare earths without a licence",
                                          "title: Rare earths without a licence, " + "long words " * 8)
    listed = invoke("rules", "list", "--rules", _write(pack), "--no-default-rules")
    assert listed.exit_code == 0, listed.output
    shown = ESCAPES.sub("", listed.stdout).splitlines()
    assert max(map(len, shown)) <= 70
    assert " ".join(shown).count("words") == 8  # wrapped, not cut
    high, critical = (next(line for line in shown if word in line) for word in (" high ", " critical "))
    assert high.index(" high ") == critical.index(" critical ")  # text left-aligned


def _write(text: str) -> Path:
    import tempfile

    path = Path(tempfile.mkdtemp()) / "pack.yaml"
    path.write_text(text)
    return path


def test_lane_words_coloured_on_a_terminal_plain_with_no_color_or_in_a_pipe(write_csv, terminal, monkeypatch):
    """Before: lanes were plain words everywhere; a table never knew a terminal from a pipe."""
    scored = write_csv("declaration_id,hs_code,label,risk_score,lane\nA,2805,1,0.9,red\nB,2805,0,0.1,green\n")
    coloured = invoke("evaluate", scored, "--budget", "50")
    assert coloured.exit_code == 0, coloured.output
    assert re.search(r"\x1b\[[0-9;]*31m red", coloured.stdout) or re.search(r"\x1b\[[0-9;]*31mred", coloured.stdout)
    monkeypatch.setenv("NO_COLOR", "1")
    plain = invoke("evaluate", scored, "--budget", "50")
    assert "\x1b" not in plain.stdout and plain.stdout == ESCAPES.sub("", coloured.stdout)
    monkeypatch.setattr(cli, "_terminal", lambda stream: False)
    piped = invoke("rules", "list", "--rules", PACK, "--no-default-rules")
    assert "\x1b" not in piped.stdout and piped.stdout.splitlines()[0].split() == [
        "id", "severity", "pattern", "title", "pack"]


def _stages(text: str, names) -> list[int]:
    """Where each stage name first shows in ``text``, in the order given."""
    return [text.find(name) for name in names]


def test_progress_names_each_stage_with_its_rows_in_order(tmp_path, terminal, monkeypatch):
    """Before: the bar counted rules only and sat at 95% through the whole anomaly fit,
    with no word of what it was doing."""
    from detector.synthetic import generate

    monkeypatch.setattr(cli, "_PROGRESS_BYTES", 0)
    current = tmp_path / "current.csv"
    generate(1200, seed=2).to_csv(current, index=False)
    scored = invoke("score", current, "-o", tmp_path / "out.csv")
    assert scored.exit_code == 0, scored.output
    where = _stages(scored.stderr, ["reading", "validating", "rules", "anomaly fit", "combining", "writing"])
    assert -1 not in where and where == sorted(where), where
    assert "1,200 rows" in scored.stderr
    trained = invoke("train", current, "-o", tmp_path / "model.zip", "--trees", 10)
    assert trained.exit_code == 0, trained.output
    where = _stages(trained.stderr, ["reading", "validating", "anomaly fit"])
    assert -1 not in where and where == sorted(where), where
    evaluated = invoke("evaluate", current, "--no-anomaly", "--budget", "5")
    assert evaluated.exit_code == 0, evaluated.output
    where = _stages(evaluated.stderr, ["reading", "validating", "rules", "combining", "evaluating"])
    assert -1 not in where and where == sorted(where), where
    monkeypatch.setattr(cli, "_PROGRESS_ROWS", 0)
    generated = invoke("generate", "-n", 300, "-o", tmp_path / "g.csv")
    assert generated.exit_code == 0 and "generating" in generated.stderr


def test_no_progress_when_stderr_is_not_a_terminal(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "_PROGRESS_BYTES", 0)
    result = _score(_write(ROWS), tmp_path / "out.csv")
    assert result.exit_code == 0 and "validating" not in result.stderr and "\x1b" not in result.stderr


def test_summary_names_rules_says_what_to_run_and_lists_mitigating_rules_apart():
    """Before: the summary gave bare ids ("top rules: RE-MITIGATE-001 128, ...") with a
    licence on file counted among the hits, and no way to see the invalid rows."""
    summary = detector.ScoreSummary(
        source="declarations.csv", rows=100, invalid_rows=39, lanes={"red": 1, "yellow": 2, "green": 97},
        rule_hits={"RE-ORIGIN-001": 12, "RE-MITIGATE-001": 40, "RE-MAIL-002": 0}, skipped_rules={},
        rules_evaluated=3, rule_titles={"RE-ORIGIN-001": "Origin claim 'not made in China'",
                                        "RE-MITIGATE-001": "Licence on file"},
        mitigating=frozenset({"RE-MITIGATE-001"}))
    lines = summary.lines()
    assert "39 invalid rows: `detector validate declarations.csv`" in lines
    top = lines.index("top rules:")
    assert lines[top + 1:top + 4] == ["  RE-ORIGIN-001 Origin claim 'not made in China' (12)",
                                      "lowered risk:", "  RE-MITIGATE-001 Licence on file (40)"]
    assert not any("RE-MAIL-002" in line for line in lines)


def test_score_says_how_to_list_the_invalid_rows(write_csv, tmp_path):
    path = write_csv(ROWS)
    result = _score(path, tmp_path / "o.csv")
    assert f"1 invalid row: `detector validate {path}`" in result.stderr


@pytest.mark.parametrize("budget, warned", [("0.02", True), ("0.02%", False), ("2%", False), ("0.5", False)])
def test_a_budget_written_as_a_fraction_is_warned_about(write_csv, tmp_path, budget, warned):
    """Before: `--budget 0.02` silently inspected 0.02% of rows, a hundredth of the 2% meant."""
    result = _score(write_csv(ROWS), tmp_path / "o.csv", "--budget", budget, "--quiet")
    assert result.exit_code == 0, result.output
    warning = "warning: --budget 0.02 means 0.02% of rows; write 2% for 2 percent"
    assert (warning in result.stderr) is warned


def test_rule_ids_are_found_in_any_case_with_a_suggestion_when_unknown():
    """Before: `rules show t-licence-001` was "no rule t-licence-001", with no hint of
    the id meant."""
    shown = invoke("rules", "show", "t-licence-001", "--rules", PACK, "--no-default-rules")
    assert shown.exit_code == 0, shown.output
    assert "  - id: T-LICENCE-001" in shown.stdout
    typo = invoke("rules", "show", "T-LICENSE-001", "--rules", PACK, "--no-default-rules")
    assert typo.exit_code == 2
    assert typo.stderr.strip() == ("error: no rule T-LICENSE-001; did you mean T-LICENCE-001? "
                                   "`detector rules list` shows the loaded rules")


# Risk rises down the file: row 4 is the only red one, rows 1 and 3 tie on 0.
RANKED = ("declaration_id,hs_code,origin_country,export_country,license_number\n"
          "A,6907210000,CN,CN,\nB,2805301200,VN,CN,L-1\nC,6907210000,CN,CN,\nD,2805301200,VN,CN,\n")


@pytest.mark.parametrize("options, ids", [
    (["--lane", "red"], ["D"]),
    (["--lane", "red,yellow"], ["B", "D"]),
    (["--lane", "yellow", "--lane", "RED"], ["B", "D"]),
    (["--top", "2"], ["B", "D"]),
    (["--top", "3"], ["A", "B", "D"]),  # A and C tie: the earlier row is kept
    (["--min-risk", "0.5"], ["B", "D"]),
    (["--lane", "green", "--top", "1"], ["A"]),
])
def test_score_writes_only_the_rows_the_filters_keep_in_file_order(write_csv, tmp_path, options, ids):
    """Before: there was no way to write only the flagged rows."""
    out = tmp_path / "kept.csv"
    result = _score(write_csv(RANKED), out, *options)
    assert result.exit_code == 0, result.output
    kept = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert kept["declaration_id"].tolist() == ids
    assert "lanes: red 1, yellow 1, green 2" in result.stderr  # the summary counts the whole file
    assert f"({len(ids)} of 4 rows)" in result.stderr


def test_an_unknown_lane_is_one_clear_line(write_csv, tmp_path):
    result = _score(write_csv(RANKED), tmp_path / "o.csv", "--lane", "amber")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --lane 'amber': expected red, yellow, green"


def test_score_and_validate_read_standard_input(tmp_path):
    """Before: `detector score -` was "-: file not found"."""
    scored = runner.invoke(app, ["score", "-", "--rules", PACK, "--no-default-rules", "--no-anomaly"], input=ROWS)
    assert scored.exit_code == 0, scored.output
    frame = pd.read_csv(__import__("io").StringIO(scored.stdout), dtype=str, keep_default_na=False)
    assert frame["declaration_id"].tolist() == ["A", "B", "C"] and frame["lane"].tolist() == ["red", "green", "green"]
    assert "wrote standard output" in scored.stderr
    checked = runner.invoke(app, ["validate", "-"], input=ROWS)
    assert checked.exit_code == 1
    assert checked.stdout.splitlines()[1].split()[:3] == ["3", "hs_code", "28XX"]


def test_filtered_parquet_has_the_kept_rows_and_no_extra_column(write_csv, tmp_path):
    out = tmp_path / "kept.parquet"
    result = _score(write_csv(RANKED), out, "--top", "2")
    assert result.exit_code == 0, result.output
    kept = pd.read_parquet(out)
    assert kept["declaration_id"].tolist() == ["B", "D"]
    assert kept.columns.tolist() == _score(write_csv(RANKED), "-").stdout.splitlines()[0].replace('"', "").split(",")


SHOWCASE = Path(__file__).parents[1] / "sample_data" / "showcase.csv"


def test_score_writes_a_batch_report_and_report_rebuilds_it_from_the_scored_file(tmp_path):
    """Before: the only way to see a scored batch was the CSV; now `score --report` and
    `detector report SCORED` write one self-contained page with the flagged shipments."""
    scored, page = tmp_path / "scored.csv", tmp_path / "batch.html"
    result = invoke("score", SHOWCASE, "-o", scored, "--no-anomaly", "--report", page)
    assert result.exit_code == 0, result.output
    assert f"wrote {page}" in result.stderr
    html = page.read_text(encoding="utf-8")
    flagged = pd.read_csv(scored, dtype=str, keep_default_na=False).query("lane != 'green'")["declaration_id"]
    assert all(f'"{declaration}"' in html for declaration in flagged)
    assert "src=\"http" not in html and "href=\"http" not in html
    again = invoke("report", scored, "-o", tmp_path / "again.html")
    assert again.exit_code == 0, again.output
    assert "RE-LICENCE-001" in (tmp_path / "again.html").read_text(encoding="utf-8")


def test_report_of_a_file_that_is_not_scored_says_what_to_run(tmp_path):
    result = invoke("report", SHOWCASE, "-o", tmp_path / "r.html")
    assert result.exit_code == 2
    assert "not a scored file" in result.stderr and "detector score" in result.stderr
    assert not (tmp_path / "r.html").exists()


def test_report_never_writes_over_the_scored_file(tmp_path):
    scored = tmp_path / "scored.csv"
    assert invoke("score", SHOWCASE, "-o", scored, "--no-anomaly").exit_code == 0
    before = scored.read_bytes()
    result = invoke("report", scored, "-o", scored)
    assert result.exit_code == 2 and "same file" in result.stderr
    assert scored.read_bytes() == before


def test_explain_prints_a_declarations_evidence_from_a_scored_file_or_an_input(tmp_path):
    """`detector explain FILE ID`: the analyst opens one shipment by its id, from what
    `score` wrote or straight from the declarations (scored first)."""
    scored = tmp_path / "scored.csv"
    assert invoke("score", SHOWCASE, "-o", scored, "--no-anomaly").exit_code == 0
    from_scored = invoke("explain", scored, "CN202500024")
    from_input = invoke("explain", SHOWCASE, "CN202500024", "--no-anomaly")
    assert from_scored.exit_code == 0 and from_input.exit_code == 0, from_scored.output + from_input.output
    assert from_scored.stdout == from_input.stdout
    assert "CN202500024 (row 24, red lane" in from_scored.stdout
    assert "[RE-MAIL-002]" in from_scored.stdout and "siblings: CN202500025, CN202500026" in from_scored.stdout
    unknown = invoke("explain", scored, "NO-SUCH-ID")
    assert unknown.exit_code == 2 and "NO-SUCH-ID" in unknown.stderr


def test_explain_reads_declarations_once_and_takes_them_from_standard_input(tmp_path, monkeypatch):
    """Before: explain read unscored declarations in full to see they were not scored,
    then again to score them, and on standard input the second read found it empty
    ("<stdin>: file is empty"). Now the header tells, and a pipe is read once."""
    import detector.io

    reads = []
    read_csv = detector.io._read_csv
    monkeypatch.setattr(detector.io, "_read_csv", lambda *args: reads.append(args[0]) or read_csv(*args))
    from_file = invoke("explain", SHOWCASE, "CN202500024", "--no-anomaly")
    assert from_file.exit_code == 0 and len(reads) == 1, from_file.output
    piped = runner.invoke(app, ["explain", "-", "CN202500024", "--no-anomaly"], input=SHOWCASE.read_bytes())
    assert piped.exit_code == 0, piped.output
    assert piped.stdout == from_file.stdout


def test_score_writes_typed_parquet_with_metadata_and_a_workbook(tmp_path):
    """Before: Parquet output held the input's numbers and dates as text and nothing of
    the run, and `-o out.xlsx` was refused. Now Parquet keeps types (rule_hits a list)
    and carries the run metadata, and .xlsx is a real workbook."""
    import openpyxl
    import pyarrow.parquet as pq

    source = tmp_path / "in.csv"
    source.write_text("declaration_id,hs_code,declaration_date,declared_value,package_count,origin_country,"
                      "export_country,license_number\nA,2805301200,2025-03-01,\"1,200.50\",3,VN,CN,\n"
                      "B,2805301200,2025-03-02,80,,CN,CN,L-1\n", encoding="utf-8")
    parquet, workbook = tmp_path / "out.parquet", tmp_path / "out.xlsx"
    for target in (parquet, workbook):
        result = invoke("score", source, "-o", target, "--rules", PACK, "--no-default-rules", "-q")
        assert result.exit_code == 0, result.output
    table = pq.read_table(parquet)
    assert str(table.schema.field("declaration_date").type) == "date32[day]"
    assert table.column("declared_value").to_pylist() == [1200.5, 80.0]
    assert table.column("rule_hits").to_pylist() == [["T-LICENCE-001", "T-ORIGIN-001"], []]
    assert detector.io.read_metadata(parquet)["options"]["seed"] == 0
    sheet = openpyxl.load_workbook(workbook)["scored"]
    header = [cell.value for cell in sheet[1]]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref
    assert sheet.cell(2, header.index("declared_value") + 1).value == 1200.5


def test_excel_csv_has_a_byte_order_mark_and_decimal_comma_uses_semicolons(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text(ROWS, encoding="utf-8")
    bom, european = tmp_path / "bom.csv", tmp_path / "eu.csv"
    assert invoke("score", source, "-o", bom, "--rules", PACK, "--no-default-rules", "--excel-csv", "-q").exit_code == 0
    assert bom.read_bytes().startswith(b"\xef\xbb\xbf\"declaration_id\"")
    result = invoke("score", source, "-o", european, "--rules", PACK, "--no-default-rules", "--decimal", ",", "-q")
    assert result.exit_code == 0, result.output
    back = pd.read_csv(european, sep=";", decimal=",")
    assert back["risk_score"].dtype == float and back["risk_score"].max() > 0.5


def test_rules_show_takes_the_comments_above_a_rule_with_it_and_leaves_the_next_rules_out(tmp_path):
    """Before: a rule's text began at its `- id:` line, so the comment block written
    above a rule was printed at the end of the rule before it, and not with its own."""
    text = Path(PACK).read_text()
    head, origin, licence = text[:text.index("  - id: T-ORIGIN")], *text[text.index("  - id: T-ORIGIN"):].split(
        "  - id: T-LICENCE")
    origin = origin.replace("    when:\n", "    # both prefixes: the metals and their compounds\n    when:\n")
    origin_text = "  # Origin rules: a declared origin against the route.\n  # Source: test notes.\n" + origin
    licence_text = "  # Licence rules.\n  - id: T-LICENCE" + licence
    pack = tmp_path / "commented.yaml"
    pack.write_text(head + origin_text + "\n  # Section: licences\n\n" + licence_text)

    shown = invoke("rules", "show", "T-ORIGIN-001", "--rules", pack, "--no-default-rules")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout == f"# {pack.resolve()}\n{origin_text.rstrip()}\n"
    assert "# both prefixes" in shown.stdout and "Licence" not in shown.stdout and "Section" not in shown.stdout
    last = invoke("rules", "show", "T-LICENCE-001", "--rules", pack, "--no-default-rules")
    assert last.exit_code == 0, last.output
    assert last.stdout == f"# {pack.resolve()}\n{licence_text.rstrip()}\n"


SIX_SCORED = ("declaration_id,hs_code,risk_score,rule_score,label,pattern,lane\n"
              "A,2805,0.9,0.5,1,origin,red\nB,2805,0.8,0.9,0,,yellow\nC,2805,0.8,0.1,1,bottle_concealment,red\n"
              "D,2805,0.3,0.1,0,,green\nE,2805,0.2,0.7,1,origin,green\nF,2805,0.1,0.0,0,,green\n")


def test_evaluate_and_outcomes_report_draw_their_tables_to_the_terminal_width(write_csv, tmp_path, terminal):
    """Before: `evaluate` and `outcomes report` printed pandas' text on a terminal too,
    as wide as their widest table (the rules' titles made `outcomes report` 200
    columns wide) with text right-aligned."""
    evaluated = invoke("evaluate", write_csv(SIX_SCORED), "--budget", "10,50", "--score-column", "risk_score")
    assert evaluated.exit_code == 0, evaluated.output
    shown = ESCAPES.sub("", evaluated.stdout).splitlines()
    assert max(map(len, shown)) <= 70
    assert "recall per pattern:" in shown and any(line.startswith("origin ") for line in shown)  # left-aligned
    assert any(line.split() == ["red", "0", "2"] for line in shown)  # lanes x label keeps its lanes

    from detector.synthetic import generate

    generate(600, seed=4).to_csv(tmp_path / "batch.csv", index=False)
    db = tmp_path / "outcomes.sqlite"
    scored = invoke("score", tmp_path / "batch.csv", "-o", tmp_path / "s.csv", "--db", db, "--budget", "5%")
    assert scored.exit_code == 0, scored.output
    out = pd.read_csv(tmp_path / "s.csv", dtype=str, keep_default_na=False)
    red = out[out["lane"] == "red"]
    pd.DataFrame({"declaration_id": red["declaration_id"], "inspected_on": "2025-03-01",
                  "result": red["label"].map({"1": "fraud", "0": "clean"})}).to_csv(tmp_path / "o.csv", index=False)
    assert invoke("outcomes", "add", tmp_path / "o.csv", "--db", db).exit_code == 0
    report = invoke("outcomes", "report", "--db", db)
    assert report.exit_code == 0, report.output
    shown = ESCAPES.sub("", report.stdout).splitlines()
    assert max(map(len, shown)) <= 70
    assert any(line.split()[:2] == ["rule_id", "2025-03"] for line in shown)  # the period table's rules


def test_evaluate_into_a_pipe_prints_the_evaluation_text_unchanged(write_csv):
    """The tables reach a pipe as the same text the evaluation formats, byte for byte."""
    from detector.evaluation import evaluate_scores, format_comparison, format_evaluation

    path = write_csv(SIX_SCORED)
    evaluations = evaluate_scores(pd.read_csv(path), budgets=(10.0, 50.0))
    piped = invoke("evaluate", path, "--budget", "10,50")
    assert piped.exit_code == 0, piped.output
    assert piped.stdout == "\n\n".join([format_comparison(evaluations), *map(format_evaluation, evaluations)]) + "\n"
