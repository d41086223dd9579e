"""The batch report in a real headless Chromium: it renders with no error and no
request, its table filters and sorts, and its case views open."""

from __future__ import annotations

import pytest

import detector
from detector.report import batch_report, flagged_mask, rule_hit_ids, write_report
from tests.conftest import REPO

ROWS = "#flagged-table tbody tr:not([hidden])"


@pytest.fixture(scope="module")
def scored():
    result = detector.score(detector.load_declarations(REPO / "sample_data" / "showcase.csv"), model=None)
    return result.output


@pytest.fixture(scope="module")
def report_file(scored, tmp_path_factory):
    page = batch_report(scored, None, detector.load_rules())
    return write_report(page, tmp_path_factory.mktemp("report") / "report.html")


@pytest.fixture
def report(open_page, report_file):  # noqa: F811
    page, problems = open_page(report_file)
    yield page
    assert problems.all() == [], "the report logged errors or made requests"


def _shown_ids(page) -> list[str]:
    return page.locator(f"{ROWS} td:first-child").all_inner_texts()


def test_page_renders_with_no_error_and_no_request(open_page, report_file, scored):  # noqa: F811
    page, problems = open_page(report_file)
    flagged = int(flagged_mask(scored).sum())
    assert page.locator("#flagged-table [data-count]").inner_text() == f"{flagged} of {flagged} rows shown"
    assert page.locator("svg.chart").count() >= 3
    assert page.locator("#case-view").is_hidden()
    assert problems.all() == []


def test_filters_change_the_rows_shown(report, scored):
    flagged = scored[flagged_mask(scored)]
    assert page_rows(report) == len(flagged)
    report.select_option("#flagged-table select[data-filter-name=lane]", "red")
    assert page_rows(report) == int((flagged["lane"] == "red").sum())
    report.select_option("#flagged-table select[data-filter-name=rule]", "RE-MAIL-002")
    with_rule = rule_hit_ids(flagged["rule_hits"]) == "RE-MAIL-002"
    red_with_rule = flagged.loc[with_rule[with_rule].index]
    assert sorted(_shown_ids(report)) == sorted(red_with_rule.loc[red_with_rule["lane"] == "red", "declaration_id"])
    report.select_option("#flagged-table select[data-filter-name=lane]", "")
    report.select_option("#flagged-table select[data-filter-name=rule]", "")
    report.fill("#flagged-table input[data-filter-text]", "ganzhou")
    expected = flagged["exporter"].str.contains("Ganzhou") | flagged["consignee"].str.contains("Ganzhou")
    assert page_rows(report) == int(expected.sum()) > 0
    report.fill("#flagged-table input[data-filter-text]", "")
    party = flagged["consignee"].iloc[0]
    report.select_option("#flagged-table select[data-filter-name=party]", party)
    assert page_rows(report) == int(((flagged["exporter"] == party) | (flagged["consignee"] == party)).sum())


def page_rows(page) -> int:
    return page.locator(ROWS).count()


def test_sorting_by_risk_changes_the_order(report):
    def risks():
        return [float(text) for text in report.locator(f"{ROWS} td:nth-child(3)").all_inner_texts()]

    first = risks()
    assert first == sorted(first, reverse=True)  # riskiest first as written
    report.click("#flagged-table th:nth-child(3) button")
    assert risks() == sorted(first) != first
    report.click("#flagged-table th:nth-child(3) button")
    assert risks() == first


def test_clicking_a_row_opens_its_case_view_and_a_sibling_link_the_siblings(report):
    """Opening a case goes through the address (``#case=ID``), whose change the page
    hears a moment later: each check waits for the panel (a check made at once failed
    on a busy machine, the panel not shown yet)."""
    from playwright.sync_api import expect

    report.click("#flagged-table tr[data-href='#case=CN202500024'] td:nth-child(4)")
    panel = report.locator("#case-view")
    expect(panel).to_be_visible()
    expect(panel.locator("h2")).to_have_text("Case CN202500024")
    sources = panel.locator("ol.evidence > li").evaluate_all("items => items.map(item => item.dataset.source)")
    assert sources == ["RE-ORIGIN-001", "RE-MAIL-002", "RE-CONTENT-006"]
    panel.locator("ol.evidence .reason a.sibling", has_text="CN202500026").click()
    expect(panel.locator("h2")).to_have_text("Case CN202500026")
    assert report.evaluate("window.location.hash") == "#case=CN202500026"
    report.go_back()
    expect(panel.locator("h2")).to_have_text("Case CN202500024")
    panel.locator("button.close").click()
    expect(panel).to_be_hidden()


def test_a_case_opens_from_the_address(open_page, report_file):  # noqa: F811
    page, problems = open_page(report_file, "#case=CN202500027")
    from playwright.sync_api import expect

    expect(page.locator("#case-view h2")).to_have_text("Case CN202500027")
    assert "dysprosium metal" in page.locator("#case-view").inner_text()
    assert problems.all() == []
