"""The batch report page and the case view, built from a scored table."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pandas as pd
import pytest

import detector
from detector.errors import DetectorError, OutputFileError
from detector.report import (
    MAX_CASE_ROWS,
    batch_report,
    case_view,
    flagged_mask,
    format_case_view,
    rule_hit_ids,
    write_report,
)
from tests.conftest import REPO

SHOWCASE = REPO / "sample_data" / "showcase.csv"


@pytest.fixture(scope="module")
def rules():
    return detector.load_rules()


@pytest.fixture(scope="module")
def result(rules):
    return detector.score(detector.load_declarations(SHOWCASE), rules, model=None)


@pytest.fixture(scope="module")
def scored(result):
    return result.output


@pytest.fixture(scope="module")
def metadata(result):
    """The run's metadata, or one shaped by the contract where the result has none."""
    known = getattr(result, "metadata", None)
    return known if known is not None else {
        "detector_version": "0.1.0", "source": "showcase.csv", "rows": len(result.output), "invalid_rows": 8,
        "rule_packs": [{"path": "shipped:rare_earth.yaml", "sha256": "ab" * 32}], "rules_evaluated": 43,
        "rules_skipped": {"RE-X-001": "needs the column license_number"},
        "anomaly": {"mode": "history", "rows": 120000, "date_from": "2024-01-01", "date_to": "2024-12-31",
                    "fingerprint": "f00d"},
        "supervised": None, "options": {"budget": None, "explore": 0.0, "seed": 0},
        "lanes": {"red": 16, "yellow": 21, "green": 32}}


@pytest.fixture(scope="module")
def page(scored, metadata, rules):
    return batch_report(scored, metadata, rules)


def _cases(page: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="case-data">(.*?)</script>', page, re.S)[1])


def _flagged_table_rows(page: str) -> list[str]:
    table = page[page.index('id="flagged-table"'):]
    table = table[:table.index("</table>")]
    return re.findall(r'<tr data-href="#case=([^"]*)"', table)


def test_page_loads_nothing_from_the_network(page):
    """A report opened from an e-mail attachment or an air-gapped desk must show all
    of itself: no script, style, font or image from a URL."""
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//|@import", page, re.I)
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def test_counts_in_the_page_equal_the_scored_table(page, scored, metadata):
    lanes = scored["lane"].value_counts()
    for lane in ("red", "yellow", "green"):
        assert f'data-lane="{lane}">{lanes.get(lane, 0):,}<' in page
    assert f'<span id="invalid-rows">{(scored["status"] == "invalid").sum():,}</span>' in page
    assert "detector validate showcase.csv" in page or "detector validate " + str(metadata["source"]) in page
    assert f'<span id="no-risk">{(scored["risk_score"] == 0).sum()}</span>' in page
    flagged = scored.loc[flagged_mask(scored), "declaration_id"]
    assert sorted(_flagged_table_rows(page)) == sorted(flagged)
    assert len(flagged) == lanes["red"] + lanes["yellow"]
    hits = rule_hit_ids(scored["rule_hits"]).value_counts()
    rule_table = page[page.index('id="rule-table"'):]
    for rule_id in ("RE-CONTENT-006", "RE-MAIL-002"):
        cells = re.search(rf"<td>{rule_id}</td>(.*?)</tr>", rule_table, re.S)[1]
        assert re.findall(r"<td[^>]*>([^<]*)</td>", cells)[3] == str(hits[rule_id])


def test_rule_packs_model_and_date_are_stated(scored, metadata, rules, monkeypatch):
    """The page says what scored the batch; its date comes from SOURCE_DATE_EPOCH so
    that the same batch gives the same bytes."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")  # 2026-01-01 00:00 UTC
    first = batch_report(scored, metadata, rules)
    assert first == batch_report(scored, metadata, rules)
    assert "2026-01-01" in first
    for pack in metadata["rule_packs"]:
        assert pack["sha256"] in first
    if metadata["anomaly"]["mode"] == "history":
        assert f'{metadata["anomaly"]["date_from"]} to {metadata["anomaly"]["date_to"]}' in first
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "soon")
    with pytest.raises(DetectorError, match="SOURCE_DATE_EPOCH"):
        batch_report(scored, metadata, rules)


def test_mitigating_rules_are_shown_apart_as_lowered_risk(page):
    hits_section = page[page.index('id="rule-table"'):page.index("<h3>Lowered risk</h3>")]
    lowered = page[page.index("<h3>Lowered risk</h3>"):page.index('id="flagged"')]
    assert "RE-MITIGATE-001" not in hits_section
    assert "RE-MITIGATE-001" in lowered and "#1a9850" in lowered


def test_markup_in_titles_and_cells_stays_text(scored, rules):
    """Before: nothing; guards that a rule title or a declaration's description with
    ``<script>`` cannot run in the analyst's browser, in the tables or in the case data."""
    hostile = "<script>alert('t')</script>"
    changed = detector.RuleSet([dataclasses.replace(rule, title=hostile) if rule.id == "RE-MAIL-002" else rule
                                for rule in rules], rules.sources)
    table = scored.copy()
    table.loc[table["declaration_id"] == "CN202500024", "description"] = "</script><img src=x onerror=alert(1)>"
    page = batch_report(table, None, changed)
    assert hostile not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt;" in page
    assert page.count("<script") == 3  # the table's, the case data, the case view's
    cases = _cases(page)
    assert "</script><img src=x onerror=alert(1)>" in [row["description"] for row in cases["rows"]]
    assert hostile in [piece["title"] for piece in cases["evidence"]]


def test_case_view_gives_the_evidence_in_the_order_it_weighs(scored, rules):
    """A mitigating rule weighs negative: after the rules that raise the risk, before
    the notes (held below red for want of corroboration)."""
    evidence = case_view(scored, "CN202500035", rules)
    assert evidence["source"].tolist() == ["RE-PRICE-001", "RE-MITIGATE-001", "corroboration"]
    assert evidence.iloc[1]["kind"] == "lowered risk" and evidence.iloc[1]["weight"] == -0.6
    assert evidence.iloc[2]["kind"] == "note" and np.isnan(evidence.iloc[2]["weight"])
    assert evidence["order"].tolist() == list(range(1, len(evidence) + 1))


def test_case_view_orders_rules_and_models_by_weight():
    """The anomaly's share (0.4 at score 0.99) comes between a critical and a low rule,
    and notes come last; titles come from the rules, the models' from their text."""
    shipped = detector.load_rules()
    low = dataclasses.replace(next(r for r in shipped if r.severity == "low"), id="T-LOW")
    critical = dataclasses.replace(next(r for r in shipped if r.severity == "critical"), id="T-CRIT")
    scored = pd.DataFrame({
        "declaration_id": ["D1", "D2"], "risk_score": [0.95, 0.1], "lane": ["red", "green"],
        "rule_hits": ["T-LOW;T-CRIT", ""],
        "reasons": ["[T-LOW] a low thing | [T-CRIT] a breach | [anomaly] stranger than 99.0% of the history: "
                    "value per kg 10x its peers | [corroboration] evidence from one angle only", ""],
        "anomaly_score": [0.99, 0.2], "supervised_score": [np.nan, np.nan]})
    evidence = case_view(scored, ["D1"], detector.RuleSet([low, critical]))
    assert evidence["source"].tolist() == ["T-CRIT", "anomaly", "T-LOW", "corroboration"]
    anomaly = evidence.iloc[1]
    assert anomaly["title"] == "stranger than 99.0% of the history"
    assert anomaly["reason"] == "value per kg 10x its peers"
    assert anomaly["weight"] == pytest.approx(0.4)
    assert evidence.iloc[0]["title"] == critical.title
    green = case_view(scored, "D2", detector.RuleSet([low, critical]))
    assert green["source"].tolist() == ["anomaly"]
    assert green.iloc[0]["title"] == "anomaly score 0.200"


def test_case_view_links_the_sibling_declarations(scored, rules, page):
    evidence = case_view(scored, "CN202500024", rules)
    mail = evidence.set_index("source").loc["RE-MAIL-002"]
    assert mail["siblings"] == ["CN202500025", "CN202500026"]
    assert evidence.set_index("source").loc["RE-ORIGIN-001", "siblings"] == []
    embedded = [piece for piece in _cases(page)["evidence"]
                if piece["declaration_id"] == "CN202500024" and piece["source"] == "RE-MAIL-002"]
    assert embedded[0]["siblings"] == ["CN202500025", "CN202500026"]
    text = format_case_view(evidence)
    assert text.startswith("CN202500024 (row 24, red lane, risk 0.896)")
    assert "siblings: CN202500025, CN202500026" in text
    assert text.index("RE-ORIGIN-001") < text.index("RE-CONTENT-006")


def test_case_view_of_a_declaration_with_no_evidence_says_so(scored, rules):
    """Before: a green row with no hit gave no line at all in ``detector explain``."""
    evidence = case_view(scored, "CN202500001", rules)
    assert evidence["source"].tolist() == [""]
    assert format_case_view(evidence).splitlines()[:2] == [
        "CN202500001 (row 1, green lane, risk 0.000)", "  no evidence: no rule hit and no model spoke of it"]


def test_case_view_names_an_unknown_declaration(scored):
    with pytest.raises(DetectorError, match="CN-NOPE not in the scored table"):
        case_view(scored, ["CN202500024", "CN-NOPE"])


def test_case_view_reads_a_scored_file_back(scored, rules, tmp_path):
    """A scored CSV reads ``rule_hits`` back as "A;B" text, a Parquet file as lists:
    both give the same case and the same report counts."""
    path = detector.write_output(detector.score(detector.load_declarations(SHOWCASE), rules, model=None),
                                 tmp_path / "scored.csv")
    from_csv = pd.read_csv(path, dtype=str, keep_default_na=False)
    as_lists = scored.assign(rule_hits=scored["rule_hits"].str.split(";").map(
        lambda ids: [i for i in ids if i]))  # a per-row map to build the fixture only
    expected = case_view(scored, "CN202500024", rules)
    pd.testing.assert_frame_equal(case_view(from_csv, "CN202500024", rules), expected)
    pd.testing.assert_frame_equal(case_view(as_lists, "CN202500024", rules), expected)
    assert _flagged_table_rows(batch_report(as_lists, None, rules)) == _flagged_table_rows(
        batch_report(from_csv, None, rules))


def test_flagged_rows_are_capped_and_the_page_says_so(scored, rules):
    """Before: nothing; a million-row batch must still give a page that opens, so the
    case data holds at most ``max_cases`` rows, the riskiest, and says it is capped."""
    page = batch_report(scored, None, rules, max_cases=5)
    shown = _flagged_table_rows(page)
    assert len(shown) == 5 and len(_cases(page)["rows"]) == 5
    riskiest = scored[flagged_mask(scored)].sort_values("risk_score", ascending=False, kind="stable")
    assert shown == riskiest["declaration_id"].head(5).tolist()
    assert "the 5 riskiest of the 37 flagged shipments" in page
    assert 'id="capped"' not in batch_report(scored, None, rules)
    assert MAX_CASE_ROWS == 5000


def test_a_large_batch_gives_a_page_that_opens(scored, rules):
    """60,000 rows, 32,000 flagged: the page carries 5,000 cases and stays small."""
    copies = 870
    big = pd.concat([scored] * copies, ignore_index=True)
    big["declaration_id"] = big["declaration_id"] + "-" + np.repeat(np.arange(copies), len(scored)).astype(str)
    page = batch_report(big, None, rules)
    assert len(_cases(page)["rows"]) == MAX_CASE_ROWS
    assert len(_flagged_table_rows(page)) == MAX_CASE_ROWS
    assert "the 5,000 riskiest of the 32,190 flagged shipments" in page
    assert len(page.encode()) < 20_000_000


def test_frauds_per_lane_and_pattern_from_labels(scored, rules):
    labels = pd.Series(np.where(scored["lane"] == "red", "fraud", np.where(scored["lane"] == "yellow", "clean", "")))
    page = batch_report(scored, None, rules, labels=labels)
    lanes = page[page.index('id="lane-frauds"'):]
    red = int((scored["lane"] == "red").sum())
    assert re.search(rf"<td>red</td>\s*<td class=\"num\">{red}</td>\s*<td class=\"num\">{red}</td>"
                     rf"\s*<td class=\"num\">{red}</td>\s*<td class=\"num\">100.0%</td>", lanes)
    assert 'id="pattern-frauds"' in page and "mail_splitting" in page[page.index('id="pattern-frauds"'):]
    with_column = batch_report(scored.assign(label=labels.to_numpy()), None, rules)
    assert with_column[with_column.index('id="frauds"'):] == page[page.index('id="frauds"'):]
    assert 'id="frauds"' not in batch_report(scored, None, rules)


def test_write_report_refuses_the_scored_input(scored, rules, tmp_path):
    source = tmp_path / "scored.csv"
    scored.to_csv(source, index=False)
    before = source.read_bytes()
    page = batch_report(scored, None, rules)
    with pytest.raises(OutputFileError, match="same file as the input"):
        write_report(page, source, source)
    assert source.read_bytes() == before
    written = write_report(page, tmp_path / "report.html", source)
    assert written.read_text(encoding="utf-8") == page
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []
