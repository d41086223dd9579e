"""The outcomes report in a real headless Chromium: it renders, and its tables sort and filter."""

import pytest

from detector.outcomes import OutcomeStore
from tests.test_outcomes import report_store


@pytest.fixture
def outcomes_page(tmp_path, write_csv):
    """The page of the report test set: ALPHA 2 of 3 inspections found fraud, BETA 1 of
    2, GAMMA 1 of 1; listed by inspections (ALPHA, BETA, GAMMA)."""
    with OutcomeStore(tmp_path / "outcomes.sqlite") as store:
        report = report_store(store, write_csv).report(min_inspections=1)
    return report.to_html(tmp_path / "outcomes.html")


def rule_ids(page) -> list[str]:
    """The rule ids of the rows of the hit-rate-per-rule table shown, top to bottom."""
    return page.locator("#table-rules tbody tr:visible td:first-child").all_inner_texts()


def test_the_page_renders_without_a_console_error_or_a_request(open_page, outcomes_page):
    """Before: a tables-only page; now charts and scripts that must run offline, cleanly."""
    page, problems = open_page(outcomes_page)
    assert page.title() == "Inspection outcomes"
    assert page.locator("#over-time svg rect.cell").count() == 3 * 2
    assert page.locator("#over-time svg").bounding_box()["width"] > 100
    assert problems.all() == []


def test_sorting_and_filtering_the_rule_table_change_the_rows_shown(open_page, outcomes_page):
    """A click on a column header sorts the rows (numbers highest first, then back), and
    the pattern drop-down keeps the rules of that pattern."""
    page, problems = open_page(outcomes_page)
    assert rule_ids(page) == ["T-ALPHA-001", "T-BETA-001", "T-GAMMA-001"]
    header = page.locator("#table-rules th", has_text="hit rate")
    header.locator("button").click()
    assert rule_ids(page) == ["T-GAMMA-001", "T-ALPHA-001", "T-BETA-001"]
    assert header.get_attribute("aria-sort") == "descending"
    header.locator("button").click()
    assert rule_ids(page) == ["T-BETA-001", "T-ALPHA-001", "T-GAMMA-001"]
    page.locator("#table-rules select").first.select_option("beta_pattern")
    assert rule_ids(page) == ["T-BETA-001", "T-GAMMA-001"]
    assert page.locator("#table-rules [data-count]").inner_text() == "2 of 3 rows shown"
    assert problems.all() == []
