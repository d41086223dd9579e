"""Outcome store: migrations, idempotent imports, conflicts, batches and hit-rate reports."""

import os
import re
import shutil
import sqlite3
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

import detector
from detector import charts, outcomes
from detector.errors import OutputFileError
from detector.outcomes import MIGRATIONS, OutcomeError, OutcomeStore, default_db_path, read_outcomes
from tests.conftest import REPO

TABLES = {"outcomes", "batches", "batch_rules", "batch_lanes", "batch_hits"}

# Three rules keyed on the remarks cell: 'a' hits ALPHA (high, red lane), 'b' hits BETA
# (medium, yellow), 'ab' hits ALPHA, BETA and GAMMA (red), anything else none (green).
RULES_YAML = """
- id: T-ALPHA-001
  title: Remarks say a
  description: test rule
  pattern: alpha_pattern
  severity: high
  when: {in: {field: remarks, values: [a, ab]}}
  reason: remarks {remarks}
  examples: {hit: [{remarks: a}], miss: [{remarks: c}]}
- id: T-BETA-001
  title: Remarks say b
  description: test rule
  pattern: beta_pattern
  severity: medium
  when: {in: {field: remarks, values: [b, ab]}}
  reason: remarks {remarks}
  examples: {hit: [{remarks: b}], miss: [{remarks: c}]}
- id: T-GAMMA-001
  title: Remarks say ab or g
  description: test rule
  pattern: beta_pattern
  severity: low
  when: {in: {field: remarks, values: [ab, g]}}
  reason: remarks {remarks}
  examples: {hit: [{remarks: g}], miss: [{remarks: c}]}
"""


# Lanes by severity alone (corroboration off), so each test rule's lane is its own.
BY_SEVERITY = detector.RiskPolicy(single_angle_max=detector.RiskPolicy().red)


def scored(remarks: dict[str, str], **options):
    """A real ScoreResult for declarations id -> remarks, with the three test rules
    (``options``: budget, explore, seed of :func:`detector.score`)."""
    rules = detector.RuleSet(detector.parse_rules(yaml.safe_load(RULES_YAML), Path("test.yaml")))
    table = pd.DataFrame({"declaration_id": list(remarks), "hs_code": "2805", "remarks": list(remarks.values())})
    return detector.score(detector.load_declarations(table), rules, policy=BY_SEVERITY, **options)


def count(store: OutcomeStore, table: str) -> int:
    return store.connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def query(store: OutcomeStore, sql: str) -> pd.DataFrame:
    cursor = store.connection.execute(sql)
    return pd.DataFrame(cursor.fetchall(), columns=[item[0] for item in cursor.description])


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        return {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def user_version(path: Path) -> int:
    connection = sqlite3.connect(path)
    try:
        return connection.execute("PRAGMA user_version").fetchone()[0]
    finally:
        connection.close()


@pytest.fixture
def store(tmp_path):
    with OutcomeStore(tmp_path / "outcomes.sqlite") as opened:
        yield opened


# --------------------------------------------------------------------------- schema


@pytest.mark.parametrize("existing", [False, True], ids=["no file", "empty file"])
def test_migrations_build_the_schema_from_an_empty_file(tmp_path, existing):
    path = tmp_path / "outcomes.sqlite"
    if existing:
        path.write_bytes(b"")
    with OutcomeStore(path) as opened:
        assert opened.version == len(MIGRATIONS)
    assert user_version(path) == len(MIGRATIONS)
    assert TABLES <= tables(path)


def test_reopening_keeps_the_data_and_applies_only_new_migrations(tmp_path, monkeypatch, write_csv):
    path = tmp_path / "outcomes.sqlite"
    with OutcomeStore(path) as opened:
        opened.add_outcomes_file(write_csv("declaration_id,inspected_on,result\nD1,2025-01-02,fraud\n"))
    monkeypatch.setattr(outcomes, "MIGRATIONS", MIGRATIONS + ("ALTER TABLE outcomes ADD COLUMN officer TEXT;",))
    with OutcomeStore(path) as opened:
        assert opened.version == len(MIGRATIONS) + 1
        stored = opened.outcomes()
    assert stored["declaration_id"].tolist() == ["D1"] and "officer" in stored.columns
    assert user_version(path) == len(MIGRATIONS) + 1


def test_a_failing_migration_is_rolled_back_whole(tmp_path, monkeypatch):
    path = tmp_path / "outcomes.sqlite"
    OutcomeStore(path).close()
    broken = "CREATE TABLE extra (x INTEGER);\nINSERT INTO no_such_table VALUES (1);"
    monkeypatch.setattr(outcomes, "MIGRATIONS", MIGRATIONS + (broken,))
    with pytest.raises(OutcomeError, match="no_such_table"):
        OutcomeStore(path)
    assert user_version(path) == len(MIGRATIONS)
    assert "extra" not in tables(path)


def version_one(path: Path) -> Path:
    """A database as the first schema left it (migration 1 only), with one outcome
    and one batch that scored D1 (red, ALPHA) and D2 (green)."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.executescript(MIGRATIONS[0])
        connection.executescript("""
            PRAGMA user_version = 1;
            INSERT INTO outcomes VALUES ('D1', '2025-01-05', 'fraud', 10, NULL, 'old.csv', '2025-01-06T00:00:00');
            INSERT INTO batches VALUES (1, 'old.csv', '2025-01-01T00:00:00+00:00', 2, NULL);
            INSERT INTO batch_rules VALUES (1, 'T-ALPHA-001', 'Remarks say a', 'alpha_pattern', 'high');
            INSERT INTO batch_lanes VALUES (1, 1, 'D1', 'red', 0.8), (1, 2, 'D2', 'green', 0.0);
            INSERT INTO batch_hits VALUES (1, 1, 'T-ALPHA-001');
        """)
    finally:
        connection.close()
    return path


def test_a_database_of_the_first_schema_opens_migrated_with_its_data(tmp_path):
    """Before: a batch's run metadata and its rows' selection had nowhere to go; an
    outcomes database made before they were recorded must open, keep what it holds and
    take them from its next batch on."""
    path = version_one(tmp_path / "outcomes.sqlite")
    with OutcomeStore(path) as opened:
        assert opened.version == len(MIGRATIONS) == 2
        old = opened.batches()
        assert old[["batch_id", "source", "row_count"]].values.tolist() == [[1, "old.csv", 2]]
        assert old["metadata"].tolist() == [None]
        assert query(opened, "SELECT selection FROM batch_lanes")["selection"].tolist() == [None, None]
        report = opened.report(min_inspections=1)
        assert (report.inspections, report.frauds) == (1, 1)
        assert rates(report.by_rule, "rule_id") == {"T-ALPHA-001": (1, 1, 1.0, 10.0)}
        batch = opened.record_batch(scored({"D3": "a", "D4": "c"}, budget=50))
        assert opened.batches().set_index("batch_id").loc[batch, "metadata"]["options"]["budget"] == 50
    assert user_version(path) == 2


def test_a_database_from_a_newer_detector_is_refused(tmp_path):
    path = tmp_path / "outcomes.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA application_id = {outcomes.APPLICATION_ID}")
        connection.execute("PRAGMA user_version = 99")
    with pytest.raises(OutcomeError, match=r"made by a newer detector \(schema version 99"):
        OutcomeStore(path)


def test_a_file_that_is_not_sqlite_is_refused_by_name(tmp_path):
    path = tmp_path / "outcomes.sqlite"
    path.write_text("declaration_id,inspected_on,result\n" * 200, encoding="utf-8")
    with pytest.raises(OutcomeError, match=re.escape(str(path)) + ": not an outcomes database"):
        OutcomeStore(path)
    assert path.read_text(encoding="utf-8").startswith("declaration_id")


def test_another_programs_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE customers (name TEXT)")
    with pytest.raises(OutcomeError, match="another program"):
        OutcomeStore(path)
    assert tables(path) == {"customers"}


def test_a_missing_database_is_an_error_when_not_creating(tmp_path):
    path = tmp_path / "typo.sqlite"
    with pytest.raises(OutcomeError, match="no outcomes database"):
        OutcomeStore(path, create=False)
    assert not path.exists()


def test_default_location_is_the_current_folder_unless_the_environment_says(tmp_path, monkeypatch):
    monkeypatch.delenv("DETECTOR_DB", raising=False)
    assert default_db_path() == Path("detector-outcomes.sqlite")
    monkeypatch.setenv("DETECTOR_DB", str(tmp_path / "office.sqlite"))
    assert default_db_path() == tmp_path / "office.sqlite"


# --------------------------------------------------------------------------- import

FIRST = """Declaration_ID , Inspected_On,RESULT,recovered_value,notes
D1,2025-01-10,FRAUD,100,undervalued
D2,2025-01-11,clean,,
D2,2025-01-11,clean,,
D3,2025-02-01,1,,
"""


def test_reimporting_the_same_file_adds_nothing(store, write_csv):
    path = write_csv(FIRST, "march.csv")
    first = store.add_outcomes_file(path)
    assert (first.added, first.unchanged, len(first.conflicts)) == (3, 0, 0)
    again = store.add_outcomes_file(path)
    assert (again.added, again.unchanged, len(again.conflicts)) == (0, 3, 0)
    stored = store.outcomes().set_index("declaration_id")
    assert count(store, "outcomes") == 3
    assert stored["result"].to_dict() == {"D1": "fraud", "D2": "clean", "D3": "fraud"}
    assert stored.loc["D1", "recovered_value"] == 100.0 and stored.loc["D1", "notes"] == "undervalued"
    assert pd.isna(stored.loc["D2", "notes"]) and stored.loc["D1", "source"] == str(path)


def test_a_conflicting_result_is_reported_and_the_stored_row_kept(store, write_csv):
    store.add_outcomes_file(write_csv(FIRST, "march.csv"))
    second = write_csv("declaration_id,inspected_on,result,recovered_value,notes\n"
                       "D9,2025-03-01,clean,,\n"
                       "D1,2025-01-10,clean,,undervalued\n"
                       "D2,2025-01-11,clean,,\n", "april.csv")
    report = store.add_outcomes_file(second)
    assert (report.added, report.unchanged) == (1, 1)
    conflict = report.conflicts.iloc[0].to_dict()
    assert len(report.conflicts) == 1
    assert conflict == {"declaration_id": "D1", "row": 2, "differs": "result, recovered_value",
                        "new_result": "clean",
                        "new_inspected_on": "2025-01-10", "old_result": "fraud", "old_inspected_on": "2025-01-10",
                        "old_source": f"stored from {second.parent / 'march.csv'}"}
    assert store.outcomes().set_index("declaration_id").loc["D1", "result"] == "fraud"
    assert any("D1" in line for line in report.lines())


def test_a_different_date_or_note_is_a_conflict_too(store, write_csv):
    store.add_outcomes_file(write_csv(FIRST, "march.csv"))
    report = store.add_outcomes_file(write_csv(
        "declaration_id,inspected_on,result,recovered_value,notes\n"
        "D1,2025-01-12,fraud,100,undervalued\nD2,2025-01-11,clean,,re-weighed\n", "april.csv"))
    assert report.conflicts.set_index("declaration_id")["differs"].to_dict() == {
        "D1": "inspected_on", "D2": "notes"}
    assert report.added == 0
    assert store.outcomes().set_index("declaration_id").loc["D1", "inspected_on"] == "2025-01-10"


def test_rows_of_one_file_that_disagree_are_reported_and_not_stored(store, write_csv):
    report = store.add_outcomes_file(write_csv(
        "declaration_id,inspected_on,result\n"
        "D1,2025-01-10,fraud\nD2,2025-01-10,clean\nD1,2025-01-10,clean\nD2,2025-01-10,clean\n"))
    assert (report.added, report.unchanged) == (1, 0)
    assert report.conflicts[["declaration_id", "row", "differs", "new_result", "old_result", "old_source"]
                            ].values.tolist() == [["D1", 3, "result", "clean", "fraud", "row 1 of this file"]]
    assert store.outcomes()["declaration_id"].tolist() == ["D2"]


def test_bad_rows_fail_the_whole_import_naming_row_column_and_value(store, write_csv):
    path = write_csv("declaration_id,inspected_on,result,recovered_value\n"
                     "D1,2025-01-10,fraud,10\n"
                     "D2,2025-02-30,clean,\n"
                     "D3,2025-01-10,maybe,\n"
                     ",2025-01-10,fraud,-5\n"
                     "D5,10/01/2025,clean,7\n", "bad.csv")
    with pytest.raises(OutcomeError) as caught:
        store.add_outcomes_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: 6 problem(s) in 4 row(s), nothing imported")
    assert "row 2, column 'inspected_on', value '2025-02-30': expected a date as YYYY-MM-DD" in message
    assert "row 3, column 'result', value 'maybe': expected fraud or clean" in message
    assert "row 4, column 'declaration_id', value '': expected a declaration id" in message
    assert "row 4, column 'recovered_value', value '-5': expected a value of 0 or more" in message
    assert "row 5, column 'inspected_on', value '10/01/2025'" in message
    assert message.endswith("; and 1 more")  # row 5: money recovered from a clean inspection
    assert count(store, "outcomes") == 0


def test_a_missing_required_column_is_named(write_csv):
    missing = r"missing column\(s\) inspected_on, result; columns found: declaration_id, date"
    with pytest.raises(OutcomeError, match=missing):
        read_outcomes(write_csv("declaration_id,date\nD1,2025-01-01\n"))


def test_parquet_outcomes_with_typed_columns(tmp_path):
    path = tmp_path / "outcomes.parquet"
    pd.DataFrame({"declaration_id": ["D1", "D2"], "inspected_on": pd.to_datetime(["2025-01-02", "2025-01-03"]),
                  "result": [True, False], "recovered_value": [12.5, None]}).to_parquet(path)
    frame = read_outcomes(path)
    assert frame["inspected_on"].tolist() == ["2025-01-02", "2025-01-03"]
    assert frame["result"].tolist() == ["fraud", "clean"]
    assert frame["recovered_value"].iloc[0] == 12.5 and pd.isna(frame["recovered_value"].iloc[1])


# --------------------------------------------------------------------------- batches


def test_record_batch_stores_rules_lanes_and_hits_of_the_score_result(store):
    result = scored({"D1": "a", "D2": "b", "D3": "ab", "": "a", "D5": "c"})
    batch = store.record_batch(result, scored_at="2025-01-01T08:00:00+00:00", budget=5.0)
    assert query(store, "SELECT batch_id, row_count, budget, scored_at FROM batches").values.tolist() == [
        [batch, 5, 5.0, "2025-01-01T08:00:00+00:00"]]
    rules = query(store, "SELECT rule_id, pattern, severity, title FROM batch_rules ORDER BY rule_id")
    assert rules.values.tolist() == [["T-ALPHA-001", "alpha_pattern", "high", "Remarks say a"],
                                     ["T-BETA-001", "beta_pattern", "medium", "Remarks say b"],
                                     ["T-GAMMA-001", "beta_pattern", "low", "Remarks say ab or g"]]
    lanes = query(store, "SELECT file_row, declaration_id, lane, risk_score FROM batch_lanes ORDER BY file_row")
    assert lanes["declaration_id"].fillna("(none)").tolist() == ["D1", "D2", "D3", "(none)", "D5"]
    assert lanes["lane"].tolist() == result.output["lane"].tolist() == ["red", "yellow", "red", "red", "green"]
    assert lanes["risk_score"].tolist() == result.output["risk_score"].tolist()
    hits = query(store, "SELECT file_row, rule_id FROM batch_hits")
    expected = {(row + 1, rule) for row, text in enumerate(result.output["rule_hits"]) for rule in text.split(";")
                if rule}
    assert set(map(tuple, hits.values.tolist())) == expected
    assert len(expected) == 6


# Ten declarations; a budget of 50% sends five to the red lane, 40% of them (two) drawn
# at random among the rows the risk did not pick.
BUDGETED = {"D1": "a", "D2": "ab", "D3": "a", "D4": "b", "D5": "c", "D6": "c", "D7": "g", "D8": "c",
            "D9": "b", "D10": "c"}


def test_record_batch_keeps_the_run_metadata_and_each_rows_selection(store):
    """Before: a batch kept only its source, time, row count and budget: not the
    detector version, rule-pack hashes, models and options behind its lanes, nor which
    red rows were random checks, so risk picks could not be compared with them."""
    result = scored(BUDGETED, budget=50, explore=40, seed=3)
    assert result.output["selection"].value_counts().to_dict() == {"": 5, "risk": 3, "explore": 2}
    batch = store.record_batch(result)
    stored = store.batches()
    assert stored["batch_id"].tolist() == [batch]
    assert stored["metadata"].iloc[0] == result.metadata
    assert stored["metadata"].iloc[0]["options"] == {"budget": 50, "explore": 40, "seed": 3}
    assert stored["budget"].tolist() == [50.0]  # from the metadata when not given
    selection = query(store, "SELECT selection FROM batch_lanes ORDER BY file_row")["selection"]
    assert selection.fillna("").tolist() == result.output["selection"].tolist()


def test_a_result_without_selection_or_metadata_is_recorded_with_neither(store):
    """A result from a scoring without a budget has an empty selection for every row,
    and one built without metadata (an older result object) records NULL, not '{}'."""
    result = scored({"D1": "a", "D2": "c"})
    store.record_batch(result)
    assert query(store, "SELECT selection FROM batch_lanes")["selection"].tolist() == [None, None]

    older = SimpleNamespace(output=result.output.drop(columns="selection"), rule_results=result.rule_results,
                            declarations=result.declarations)  # what record_batch reads, without ``metadata``
    store.record_batch(older)
    assert store.batches()["metadata"].tolist() == [result.metadata, None]


def test_the_database_refuses_a_selection_it_does_not_know(store):
    """The selection is checked by the database itself, as the lanes' results are."""
    store.record_batch(scored({"D1": "a"}))
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        store.connection.execute("UPDATE batch_lanes SET selection = 'manual'")
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        store.connection.execute("UPDATE batches SET metadata = 'not json'")


def test_record_batch_of_the_showcase_with_the_shipped_rules(store):
    result = detector.score(detector.load_declarations(REPO / "sample_data" / "showcase.csv"))
    store.record_batch(result)
    assert count(store, "batch_lanes") == len(result.output)
    assert count(store, "batch_rules") == result.rule_results.hits.shape[1]
    assert count(store, "batch_hits") == int(result.rule_results.hits.to_numpy().sum()) > 0


# --------------------------------------------------------------------------- report

REPORT_OUTCOMES = """declaration_id,inspected_on,result,recovered_value
D1,2025-01-05,fraud,100
D2,2025-01-06,clean,
D3,2025-02-01,fraud,50
D4,2025-02-02,clean,
D5,2025-02-03,clean,
D6,2025-02-04,fraud,
D99,2025-02-05,fraud,
"""


def report_store(store, write_csv):
    # D1, D5: ALPHA (red); D2: BETA (yellow); D3: ALPHA, BETA, GAMMA (red); D4, D6: none
    # (green); D7 is scored but not inspected, D99 inspected but never scored.
    store.record_batch(scored({"D1": "a", "D2": "b", "D3": "ab", "D4": "c", "D5": "a", "D6": "c", "D7": "b"}))
    store.add_outcomes_file(write_csv(REPORT_OUTCOMES))
    return store


def rates(frame, key):
    return {row[0]: tuple(row[1:]) for row in
            frame[[key, "inspections", "frauds", "hit_rate", "recovered_value"]].values.tolist()}


def test_hit_rates_per_rule_lane_and_pattern(store, write_csv):
    report = report_store(store, write_csv).report(min_inspections=1)
    assert (report.inspections, report.frauds, report.unmatched) == (6, 3, 1)
    assert rates(report.by_rule, "rule_id") == {"T-ALPHA-001": (3, 2, pytest.approx(2 / 3), 150.0),
                                                "T-BETA-001": (2, 1, 0.5, 50.0),
                                                "T-GAMMA-001": (1, 1, 1.0, 50.0)}
    assert report.by_rule.set_index("rule_id").loc["T-BETA-001", ["pattern", "severity", "title"]].tolist() == [
        "beta_pattern", "medium", "Remarks say b"]
    assert report.by_lane["lane"].tolist() == ["red", "yellow", "green"]
    assert rates(report.by_lane, "lane") == {"red": (3, 2, pytest.approx(2 / 3), 150.0),
                                             "yellow": (1, 0, 0.0, 0.0), "green": (2, 1, 0.5, 0.0)}
    # D3 is hit by two beta_pattern rules and counts once there.
    assert rates(report.by_pattern, "pattern") == {"alpha_pattern": (3, 2, pytest.approx(2 / 3), 150.0),
                                                   "beta_pattern": (2, 1, 0.5, 50.0),
                                                   "(no rule)": (2, 1, 0.5, 0.0)}
    alpha = report.over_time[report.over_time["rule_id"] == "T-ALPHA-001"]
    assert alpha[["period", "inspections", "frauds"]].values.tolist() == [["2025-01", 1, 1], ["2025-02", 2, 1]]
    assert report.review.empty


def test_outcomes_join_the_batch_recorded_last(store, write_csv):
    report_store(store, write_csv)
    store.record_batch(scored({"D1": "c", "D2": "b"}))  # D1 rescored: no rule, green
    report = store.report(min_inspections=1)
    assert rates(report.by_rule, "rule_id")["T-ALPHA-001"] == (2, 1, 0.5, 50.0)
    assert rates(report.by_lane, "lane")["green"] == (3, 2, pytest.approx(2 / 3), 100.0)


def test_a_declaration_listed_twice_in_a_batch_counts_once_with_its_first_row(store, write_csv):
    table = pd.DataFrame({"declaration_id": ["D1", "D1"], "hs_code": "2805", "remarks": ["a", "b"]})
    rules = detector.RuleSet(detector.parse_rules(yaml.safe_load(RULES_YAML), Path("test.yaml")))
    store.record_batch(detector.score(detector.load_declarations(table), rules, policy=BY_SEVERITY))
    store.add_outcomes_file(write_csv("declaration_id,inspected_on,result\nD1,2025-01-10,fraud\n"))
    report = store.report(min_inspections=1)
    assert report.by_rule["rule_id"].tolist() == ["T-ALPHA-001"] and report.inspections == 1
    assert report.by_lane["lane"].tolist() == ["red"]


def test_review_lists_a_rule_whose_hit_rate_fell_and_not_one_that_held(store, write_csv):
    remarks = {f"{letter.upper()}{n}": letter for letter in "abg" for n in range(1, 9)}
    store.record_batch(scored(remarks))
    # ALPHA: 3 of 4 in January, 0 of 4 in February. BETA: 2 of 4 in both months.
    # GAMMA: 4 of 4 in January; February's single clean inspection is too few to judge.
    rows = (["A1,2025-01-10,fraud", "A2,2025-01-10,fraud", "A3,2025-01-10,fraud", "A4,2025-01-10,clean"]
            + [f"A{n},2025-02-10,clean" for n in range(5, 9)]
            + [f"B{n},2025-01-10,{'fraud' if n < 3 else 'clean'}" for n in range(1, 5)]
            + [f"B{n},2025-02-10,{'fraud' if n < 7 else 'clean'}" for n in range(5, 9)]
            + [f"G{n},2025-01-10,fraud" for n in range(1, 5)] + ["G5,2025-02-10,clean"])
    store.add_outcomes_file(write_csv("declaration_id,inspected_on,result\n" + "\n".join(rows) + "\n"))
    report = store.report(threshold=0.1, min_inspections=4)
    assert report.review["rule_id"].tolist() == ["T-ALPHA-001"]
    listed = report.review.iloc[0]
    assert (listed["period"], listed["inspections"], listed["frauds"], listed["hit_rate"]) == ("2025-02", 4, 0, 0.0)
    assert (listed["earlier_inspections"], listed["earlier_hit_rate"]) == (4, 0.75)
    assert listed["why"] == "0.0% in 2025-02 (0 of 4 inspections found fraud); before: 75.0% (3 of 4)"
    # With a lower bar GAMMA's thin February counts and is listed too.
    assert store.report(threshold=0.1, min_inspections=1).review["rule_id"].tolist() == [
        "T-ALPHA-001", "T-GAMMA-001"]
    text = "\n".join(report.lines())
    assert "rules to review (hit rate below 10.0% in the rule's latest month with at least 4 inspections)" in text
    assert "T-ALPHA-001" in text


def section(page: str, name: str) -> str:
    """The markup of one ``<section id=name>`` of the page."""
    begin = page.index(f'<section id="{name}">')
    return page[begin:page.index("</section>", begin)]


def svg_cells(markup: str) -> list[str]:
    """The fill colour of each heat-map cell in ``markup``."""
    return re.findall(r'<rect class="cell" [^>]*fill="(#[0-9a-f]{6})"', markup)


def test_to_html_writes_one_page_with_the_review_table_first(store, write_csv, tmp_path):
    report_store(store, write_csv)
    report = store.report(threshold=0.6, min_inspections=1)
    # ALPHA: 1 of 1 in January, 1 of 2 in February; BETA and GAMMA: 1 of 1 in February.
    assert report.review["rule_id"].tolist() == ["T-ALPHA-001"]
    page = report.to_html(tmp_path / "reports" / "outcomes.html")
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "<style>" in text
    assert text.index('<section id="review">') < text.index('<section id="rules">')
    assert "T-ALPHA-001" in section(text, "review").split("<table", 1)[1]
    assert "66.7%" in section(text, "rules")
    assert [p.name for p in page.parent.iterdir()] == ["outcomes.html"]


def test_the_page_charts_hit_rates_per_rule_and_period_lane_and_selection(store, write_csv, tmp_path):
    """Before: the HTML report was tables only; an analyst had to read a rule's hit rate
    month by month off a grid of numbers to see it fall."""
    report_store(store, write_csv)
    text = store.report(min_inspections=1).to_html(tmp_path / "outcomes.html").read_text(encoding="utf-8")
    heat = section(text, "over-time")
    # Three rules x two months with inspections; GAMMA had none in January (grey).
    cells = svg_cells(heat)
    assert len(cells) == 3 * 2 and cells.count(charts.NO_DATA_COLOUR) == 1
    assert "T-ALPHA-001 \u00b7 2025-02: 50.0% of 2</title>" in heat
    assert heat.count("<svg") == 1
    lanes = section(text, "lanes")
    assert lanes.count('<rect class="bar"') == 3 and "red (3 inspected)" in lanes
    selection = section(text, "selection")
    assert selection.count("<svg") == 1 and "(not selected) (6 inspected)" in selection
    assert "random checks: none inspected" in selection
    covered = section(text, "covered")
    assert str(store.path) in covered and "6 from 2025-01-05 to 2025-02-04" in covered
    assert "1 scored from" in covered
    # Sortable tables (no rule to review: that one says none): a sort button on every
    # column header.
    assert text.count("<table") == text.count('<div class="sortable"') == 5
    assert text.count('<th scope="col"') == text.count('<button type="button">') > 5 * 3
    assert "<p class=\"muted\">none</p>" in section(text, "review")


def test_the_page_escapes_every_value_and_loads_nothing_from_the_network(tmp_path):
    """Titles, patterns and ids come from rule packs and files an analyst did not write:
    markup in them is shown as text, never run; and the page opens offline (an e-mail
    attachment), so it may name no address to fetch."""
    hostile = '<script>alert("x")</script>'
    table = hand_made({"risk": (4, 2), "explore": (2, 1)})
    hits = pd.DataFrame({"declaration_id": table["declaration_id"], "rule_id": "R-<b>&1"})
    rules = pd.DataFrame({"rule_id": ["R-<b>&1"], "title": [hostile], "pattern": ["p&q"], "severity": ["high"]})
    report = outcomes.build_report(table, hits, rules, min_inspections=1)
    text = report.to_html(tmp_path / "outcomes.html").read_text(encoding="utf-8")
    assert hostile not in text and "R-<b>" not in text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in text and "R-&lt;b&gt;&amp;1" in text
    assert "p&amp;q" in text and len(svg_cells(text)) == 1 * 3  # one rule x three months
    addresses = set(re.findall(r"[a-z]+://[^\s\"'<>)]*", text))
    assert addresses <= {"http://www.w3.org/2000/svg"}  # the SVG namespace names, never fetches
    assert not re.search(r"\bsrc=|@import|url\(", text)


def hand_made(selections: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """Joined outcomes as :meth:`OutcomeStore.report` reads them: per selection
    (None for a row the budget did not pick), (inspections, frauds)."""
    parts = [pd.DataFrame({"selection": selection, "fraud": np.arange(inspections) < frauds})
             for selection, (inspections, frauds) in selections.items()]
    joined = pd.concat(parts, ignore_index=True)
    return pd.DataFrame({
        "declaration_id": [f"D{n}" for n in range(len(joined))],
        "inspected_on": [f"2025-0{1 + n % 3}-1{n % 10}" for n in range(len(joined))],
        "result": np.where(joined["fraud"], "fraud", "clean"), "recovered_value": np.nan, "batch_id": 1,
        "lane": np.where(joined["selection"].notna(), "red", "yellow"), "risk_score": 0.5,
        "selection": joined["selection"].astype(object)})


NO_HITS = pd.DataFrame(columns=["declaration_id", "rule_id"])
NO_RULES = pd.DataFrame(columns=["rule_id", "title", "pattern", "severity"])


def test_risk_picks_are_compared_with_random_checks():
    """Before: the report could not tell risk picks from random checks, so an analyst
    could not see whether ranking by risk finds more fraud than checking at random."""
    outcomes_table = hand_made({"risk": (8, 4), "explore": (4, 1), None: (3, 0)})
    report = outcomes.build_report(outcomes_table, NO_HITS, NO_RULES, min_inspections=4)
    assert rates(report.by_selection, "selection") == {"risk": (8, 4, 0.5, 0.0), "explore": (4, 1, 0.25, 0.0),
                                                       "(not selected)": (3, 0, 0.0, 0.0)}
    assert report.by_selection["selection"].tolist() == ["risk", "explore", "(not selected)"]
    assert report.selection_verdict == ("risk picks found fraud in 50.0% of their inspections (4 of 8), random "
                                        "checks in 25.0% (1 of 4): risk picks find fraud 2.0 times as often")
    text = "\n".join(report.lines())
    assert "hit rate by selection (risk picks against random checks):" in text
    assert report.selection_verdict in text
    thin = outcomes.build_report(outcomes_table, NO_HITS, NO_RULES, min_inspections=5)
    assert thin.selection_verdict == ("risk picks found fraud in 50.0% of their inspections (4 of 8), random "
                                      "checks in 25.0% (1 of 4): too few to compare (at least 5 of each)")


@pytest.mark.parametrize("selections, verdict", [
    ({"risk": (6, 3), None: (2, 1)}, "risk picks found fraud in 50.0% of their inspections (3 of 6), random "
                                     "checks: none inspected; score with a budget and an exploration share "
                                     "(--budget, --explore) to compare"),
    ({"risk": (6, 3), "explore": (6, 0)}, "risk picks found fraud in 50.0% of their inspections (3 of 6), random "
                                          "checks in 0.0% (0 of 6): random checks found no fraud"),
    ({None: (2, 1)}, "risk picks: none inspected, random checks: none inspected; score with a budget and an "
                     "exploration share (--budget, --explore) to compare"),
], ids=["no random checks", "random checks found nothing", "no budget"])
def test_the_selection_verdict_says_why_it_cannot_compare(selections, verdict):
    report = outcomes.build_report(hand_made(selections), NO_HITS, NO_RULES, min_inspections=1)
    assert report.selection_verdict == verdict
    assert report.by_selection["selection"].tolist()[:2] == ["risk", "explore"]


def test_selection_figures_from_recorded_batches_and_the_span_covered(store, write_csv):
    """The report joins each inspection to the selection its row was given, and says
    which inspections and batches it covers."""
    result = scored(BUDGETED, budget=50, explore=40, seed=3)
    # Risk picks D1, D2, D3; random checks D4, D8; D9 is yellow, inspected all the same.
    assert result.output.set_index("declaration_id").loc[["D1", "D2", "D3", "D4", "D8", "D9"], "selection"].tolist() \
        == ["risk", "risk", "risk", "explore", "explore", ""]
    store.record_batch(result, scored_at="2025-01-31T09:00:00+00:00")
    store.add_outcomes_file(write_csv("declaration_id,inspected_on,result\nD1,2025-02-10,fraud\n"
                                      "D2,2025-02-11,fraud\nD3,2025-02-12,clean\nD4,2025-02-13,fraud\n"
                                      "D8,2025-02-14,clean\nD9,2025-02-15,clean\n"))
    store.record_batch(scored({"X1": "c"}), scored_at="2025-03-01T09:00:00+00:00")
    report = store.report(min_inspections=1)
    assert rates(report.by_selection, "selection") == {
        "risk": (3, 2, pytest.approx(2 / 3), 0.0), "explore": (2, 1, 0.5, 0.0), "(not selected)": (1, 0, 0.0, 0.0)}
    assert report.selection_verdict.endswith("risk picks find fraud 1.3 times as often")
    assert (report.inspected_from, report.inspected_to) == ("2025-02-10", "2025-02-15")
    assert (report.batches, report.scored_from, report.scored_to) == (
        2, "2025-01-31T09:00:00+00:00", "2025-03-01T09:00:00+00:00")
    assert report.database == store.path
    assert report.coverage == ("6 inspections from 2025-02-10 to 2025-02-15; 2 batches scored from 2025-01-31 "
                               "to 2025-03-01")
    assert f"database: {store.path} (6 inspections from 2025-02-10" in "\n".join(report.lines())


def test_report_rejects_an_unknown_period(store):
    with pytest.raises(OutcomeError, match="period 'fortnight'"):
        store.report(period="fortnight")


def test_an_empty_store_reports_nothing_without_failing(store):
    report = store.report()
    assert (report.inspections, report.frauds, report.unmatched) == (0, 0, 0)
    assert report.by_rule.empty and report.review.empty
    assert "none" in "\n".join(report.lines())


# --------------------------------------------------------------------------- files that cannot be used

ONE_OUTCOME = "declaration_id,inspected_on,result\nD1,2025-01-02,fraud\n"
NOBODY = 65534


def filled(path: Path) -> Path:
    """An outcomes database holding one outcome and one batch."""
    source = path.with_name("first.csv")
    source.write_text(ONE_OUTCOME, encoding="utf-8")
    with OutcomeStore(path) as opened:
        opened.add_outcomes_file(source)
        opened.record_batch(scored({"D1": "a", "D2": "c"}))
    return path


@pytest.fixture
def shared_folder():
    """A folder any user may enter: the read-only cases run as 'nobody' under root.

    Root writes to any file whatever its mode, so ``chmod 0444`` proves nothing there
    (containers and CI often run tests as root). Under root the read-only blocks drop
    the effective user and group to nobody (:func:`unprivileged`), for whom the modes
    hold, and take root back after. pytest's own temporary folders sit in a folder
    only root may enter, so these cases use a folder under the system temp folder.
    """
    folder = Path(tempfile.mkdtemp(prefix="outcomes-"))
    folder.chmod(0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(folder)


@contextmanager
def unprivileged():
    """Run the block as a user whom file and folder modes bind (nobody, under root)."""
    if os.geteuid() != 0:
        yield
        return
    try:
        os.setegid(NOBODY)
        os.seteuid(NOBODY)
    except PermissionError:
        os.setegid(0)
        pytest.skip("running as root without the right to change user: chmod cannot make a file read-only")
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def test_a_locked_database_waits_a_bounded_time_then_says_who_to_wait_for(tmp_path):
    """Before: `score --record` on a database another process held locked waited 5 s,
    after writing the output, then 'cannot open the outcomes database: database is locked'."""
    path = filled(tmp_path / "outcomes.sqlite")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        with pytest.raises(OutcomeError) as caught:
            OutcomeStore(path, timeout=0.3)
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert str(caught.value) == (f"{path}: the outcomes database is in use by another program (still locked "
                                 "after 0.3 s, e.g. by another `detector score --record` or `outcomes add`); "
                                 "run again when it has finished")
    assert 0.3 <= waited < 3


def test_a_database_another_run_is_writing_is_refused_before_any_work(tmp_path, write_csv):
    """Before: a database another run was writing opened fine, and recording the batch
    after scoring ended in a traceback (sqlite3.OperationalError: database is locked)."""
    path = filled(tmp_path / "outcomes.sqlite")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with OutcomeStore(path, timeout=0.1) as opened:
            assert opened.outcomes()["declaration_id"].tolist() == ["D1"]  # reading still works
            with pytest.raises(OutcomeError, match="in use by another program") as checked:
                opened.check_writable()
            with pytest.raises(OutcomeError, match="in use by another program") as recording:
                opened.record_batch(scored({"D3": "a"}))
            with pytest.raises(OutcomeError, match="in use by another program"):
                opened.add_outcomes_file(write_csv("declaration_id,inspected_on,result\nD4,2025-01-02,fraud\n"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert str(checked.value).startswith(f"{path}: ") and str(recording.value) == str(checked.value)
    with OutcomeStore(path) as reopened:
        assert count(reopened, "batches") == 1 and count(reopened, "outcomes") == 1


def test_a_read_only_database_can_be_reported_but_refuses_writes_before_any_work(shared_folder):
    """Before: a database file of mode 0444 opened fine and recording the batch after
    scoring ended in a traceback (sqlite3.OperationalError: attempt to write a readonly database)."""
    folder = shared_folder / "office"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    path = filled(folder / "outcomes.sqlite")
    path.chmod(0o444)
    before = path.read_bytes()
    with unprivileged(), OutcomeStore(path) as opened:
        assert opened.report(min_inspections=1).inspections == 1
        with pytest.raises(OutcomeError) as checked:
            opened.check_writable()
        with pytest.raises(OutcomeError) as recording:
            opened.record_batch(scored({"D3": "a"}))
    assert str(checked.value) == (f"{path}: the outcomes database is read-only; ask for write access to it, "
                                  "or choose another database with --db or DETECTOR_DB")
    assert str(recording.value) == str(checked.value)
    assert path.read_bytes() == before


def test_a_database_in_a_read_only_folder_refuses_writes_before_any_work(shared_folder):
    """Before: with the database's folder read-only (SQLite keeps its journal beside the
    file) recording the batch after scoring ended in a traceback ('attempt to write a
    readonly database'), and a new database there failed with 'unable to open database file'."""
    folder = shared_folder / "archive"
    folder.mkdir()
    path = filled(folder / "outcomes.sqlite")
    path.chmod(0o666)
    folder.chmod(0o555)
    with unprivileged():
        with OutcomeStore(path) as opened:
            with pytest.raises(OutcomeError) as checked:
                opened.check_writable()
        with pytest.raises(OutcomeError) as creating:
            OutcomeStore(folder / "new.sqlite")
        with pytest.raises(OutcomeError) as nesting:
            OutcomeStore(folder / "2025" / "new.sqlite")
    assert str(checked.value) == (
        f"{path}: cannot write the outcomes database: its folder {folder} is read-only, and SQLite keeps "
        "a journal file beside the database while it writes; ask for write access to the folder, "
        "or choose another database with --db or DETECTOR_DB")
    assert str(creating.value) == (
        f"{folder / 'new.sqlite'}: cannot open or create the outcomes database; check that the file and its "
        f"folder {folder} may be read and written, or choose another database with --db or DETECTOR_DB")
    assert str(nesting.value).startswith(f"{folder / '2025' / 'new.sqlite'}: cannot create the folder "
                                         f"{folder / '2025'} for the outcomes database: Permission denied")
    assert sorted(p.name for p in folder.iterdir()) == ["first.csv", "outcomes.sqlite"]


def _random_bytes(path: Path) -> None:
    path.write_bytes(np.random.default_rng(7).bytes(8192))


def _truncated(path: Path) -> None:
    filled(path)
    path.write_bytes(path.read_bytes()[:6000])


def _csv_text(path: Path) -> None:
    path.write_text(ONE_OUTCOME * 100, encoding="utf-8")


def _other_programs_at_version_one(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE customers (name TEXT)")
        connection.execute("PRAGMA user_version = 1")


def _other_programs_at_version_ninety_nine(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA user_version = 99")


def _a_table_dropped(path: Path) -> None:
    filled(path)
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TABLE batch_hits")


def _newer_schema(path: Path) -> None:
    filled(path)
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA user_version = 7")


DAMAGED = {
    "random bytes": (_random_bytes, ": not an outcomes database: not an SQLite file (damaged, or another kind of "
                                    "file); restore it from a backup, or choose the outcomes database with --db or "
                                    "DETECTOR_DB"),
    "truncated": (_truncated, ": the outcomes database is damaged (database disk image is malformed); restore it "
                              "from a backup, or move it aside to start a new one"),
    "a CSV file": (_csv_text, ": not an outcomes database: not an SQLite file"),
    "another program's SQLite file": (_other_programs_at_version_one, ": an SQLite database of another program, "
                                      "not an outcomes database; choose the outcomes database with --db or "
                                      "DETECTOR_DB"),
    "another program's at version 99": (_other_programs_at_version_ninety_nine, ": an SQLite database of another "
                                        "program"),
    "a table dropped": (_a_table_dropped, ": the outcomes database is damaged (table batch_hits missing); "
                                          "restore it from a backup"),
    "a newer schema": (_newer_schema, ": outcomes database made by a newer detector (schema version 7, this one "
                                      "knows up to 2); upgrade detector to use it"),
}


@pytest.mark.parametrize("damage", DAMAGED.values(), ids=DAMAGED.keys())
def test_a_damaged_or_foreign_database_is_refused_at_open_in_one_line_and_left_as_it_was(tmp_path, damage):
    """Before: another program's SQLite file at user_version 1, or ours with a table
    dropped, opened fine and recording a batch after scoring raised a traceback
    (sqlite3.OperationalError: no such table); a truncated file said only 'cannot open
    the outcomes database: database disk image is malformed'."""
    make, message = damage
    path = tmp_path / "outcomes.sqlite"
    make(path)
    before = path.read_bytes()
    with pytest.raises(OutcomeError) as caught:
        OutcomeStore(path)
    assert str(caught.value).startswith(f"{path}{message}")
    assert "\n" not in str(caught.value)
    assert path.read_bytes() == before


def test_damage_found_after_opening_is_one_line_too(tmp_path, write_csv):
    """Before: a database whose pages after the first were overwritten opened fine, and
    the report, an import or recording a batch ended in a traceback
    (sqlite3.DatabaseError: database disk image is malformed)."""
    path = filled(tmp_path / "outcomes.sqlite")
    with path.open("r+b") as file:
        file.seek(4096)
        file.write(b"\xff" * (path.stat().st_size - 4096))
    expected = (f"{path}: the outcomes database is damaged (database disk image is malformed); restore it "
                "from a backup, or move it aside to start a new one")
    with OutcomeStore(path) as opened:
        for use in (opened.report, opened.outcomes, lambda: opened.record_batch(scored({"D9": "a"})),
                    lambda: opened.add_outcomes_file(write_csv(ONE_OUTCOME))):
            with pytest.raises(OutcomeError) as caught:
                use()
            assert str(caught.value) == expected


def test_a_database_replaced_while_open_stores_nothing_and_says_so(tmp_path):
    """Before: a database replaced by another file while open (`score -o DB --record`)
    ended in a traceback (sqlite3.OperationalError: attempt to write a readonly database)."""
    path = filled(tmp_path / "outcomes.sqlite")
    with OutcomeStore(path) as opened:
        replacement = tmp_path / "scored.csv"
        replacement.write_text("declaration_id,lane\nD1,red\n", encoding="utf-8")
        os.replace(replacement, path)
        with pytest.raises(OutcomeError) as caught:
            opened.record_batch(scored({"D1": "a"}))
    assert str(caught.value) == (f"{path}: the outcomes database was replaced or deleted while in use (a file "
                                 "written over it?); nothing was stored: put the database back, or choose another "
                                 "database with --db or DETECTOR_DB")
    assert path.read_text(encoding="utf-8") == "declaration_id,lane\nD1,red\n"


def test_a_full_disk_stores_nothing_and_says_so(tmp_path):
    """Before: a batch that did not fit on the disk ended in a traceback (SQLite had
    rolled back already, so the second ROLLBACK failed: 'cannot rollback - no
    transaction is active', raised while handling 'database or disk is full')."""
    path = filled(tmp_path / "outcomes.sqlite")
    with OutcomeStore(path) as opened:
        pages = opened.connection.execute("PRAGMA page_count").fetchone()[0]
        opened.connection.execute(f"PRAGMA max_page_count = {pages}")  # as if the disk had no room left
        many = {f"D{n}": "ab" for n in range(900)}
        with pytest.raises(OutcomeError) as caught:
            opened.record_batch(scored(many))
        assert count(opened, "batches") == 1
    assert str(caught.value) == (f"{path}: the disk is full; nothing was written to the outcomes database; "
                                 "free some space and run again")


def test_a_migration_that_fills_the_disk_leaves_the_old_schema_and_says_so(tmp_path, monkeypatch):
    """Before: 'cannot open the outcomes database: database or disk is full', which
    says neither that nothing changed nor what to do."""
    path = filled(tmp_path / "outcomes.sqlite")
    pages = path.stat().st_size // 4096
    filling = (f"PRAGMA max_page_count = {pages};\n"  # as if the disk had no room left
               "CREATE TABLE officers AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
               "WHERE i < 1000) SELECT i, randomblob(500) AS badge FROM n;")
    monkeypatch.setattr(outcomes, "MIGRATIONS", MIGRATIONS + (filling,))
    with pytest.raises(OutcomeError) as caught:
        OutcomeStore(path)
    assert str(caught.value) == (f"{path}: the disk is full; nothing was written to the outcomes database; "
                                 "free some space and run again")
    assert user_version(path) == len(MIGRATIONS) and "officers" not in tables(path)


def test_check_writable_changes_nothing_in_the_file(tmp_path):
    """The check before scoring writes the schema version back in a transaction it rolls back."""
    path = filled(tmp_path / "outcomes.sqlite")
    before = path.read_bytes()
    with OutcomeStore(path) as opened:
        opened.check_writable()
        opened.check_writable()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first.csv", "outcomes.sqlite"]


def _same_path(database: Path) -> Path:
    return database


def _relative_path(database: Path) -> Path:
    os.chdir(database.parent)
    return Path(database.name)


def _symlink(database: Path) -> Path:
    link = database.with_name("report.html")
    link.symlink_to(database)
    return link


def _hard_link(database: Path) -> Path:
    link = database.with_name("report.html")
    os.link(database, link)
    return link


def _through_a_linked_folder(database: Path) -> Path:
    folder = database.parent.parent / "linked"
    folder.symlink_to(database.parent, target_is_directory=True)
    return folder / database.name


SAME_FILE = {"the same path": _same_path, "a relative path": _relative_path, "a symlink": _symlink,
             "a hard link": _hard_link, "a symlinked folder": _through_a_linked_folder}


@pytest.mark.parametrize("output_of", SAME_FILE.values(), ids=SAME_FILE.keys())
def test_the_html_report_is_never_written_over_its_database(tmp_path, monkeypatch, output_of):
    """Before: `detector outcomes report --html DB` replaced the database with the HTML page."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "office"
    folder.mkdir()
    path = filled(folder / "outcomes.sqlite")
    before = path.read_bytes()
    output = output_of(path)
    with OutcomeStore(path, create=False) as opened:
        report = opened.report(min_inspections=1)
    with pytest.raises(OutcomeError) as caught:
        report.to_html(output)
    assert str(caught.value) == (f"{output}: is the outcomes database the report reads ({path}); write the "
                                 "HTML report to another file, e.g. outcomes.html")
    assert path.read_bytes() == before and output.read_bytes() == before


def test_the_html_report_to_a_folder_or_an_unwritable_place_is_one_line(store, tmp_path):
    """Before: `outcomes report --html FOLDER` ended in a traceback (IsADirectoryError)."""
    report = store.report()
    with pytest.raises(OutputFileError) as caught:
        report.to_html(tmp_path)
    assert str(caught.value) == f"{tmp_path}: is a folder; give a file name for the output"
    assert [p.name for p in tmp_path.iterdir()] == ["outcomes.sqlite"]


def test_importing_the_database_itself_says_so_and_changes_nothing(tmp_path):
    """Before: `outcomes add DB` said 'unreadable encoding (UTF-16 or binary data); save
    the file as UTF-8 CSV', advice that misleads about the database file."""
    path = filled(tmp_path / "outcomes.sqlite")
    before = path.read_bytes()
    with OutcomeStore(path) as opened, pytest.raises(OutcomeError) as caught:
        opened.add_outcomes_file(path)
    assert str(caught.value) == (f"{path}: is the outcomes database itself; give the CSV or Parquet file of "
                                 "inspection outcomes")
    assert path.read_bytes() == before


@pytest.mark.parametrize("name, content, message", [
    ("missing.csv", None, "file not found"),
    ("empty.csv", b"", "file is empty"),
    ("binary.csv", bytes(range(256)) * 8, "unreadable encoding"),
    ("broken.parquet", b"PAR1 not really", "not a readable Parquet file"),
], ids=["missing", "empty", "binary", "not parquet"])
def test_an_unreadable_outcomes_file_is_named_and_imports_nothing(store, tmp_path, name, content, message):
    """An import refused for its file leaves the database as it was (passes before too)."""
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(detector.DetectorError, match=re.escape(f"{path}: {message}")):
        store.add_outcomes_file(path)
    assert count(store, "outcomes") == 0
