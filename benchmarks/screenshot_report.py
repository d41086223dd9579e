#!/usr/bin/env python
"""Screenshots of the batch report, for a person to look at.

Scores the shipped showcase sample with the rules (no anomaly model: fast, and the
same page every time), writes its batch report, opens it in headless Chromium
(Debian's ``chromium``, through Playwright) and saves two PNG files into the folder
given (``/tmp`` by default):

- ``report.png``: the whole page;
- ``case.png``: the case view of the riskiest flagged shipment with sibling
  declarations (a group rule's others), opened by clicking its row.

Run from the checkout: ``python benchmarks/screenshot_report.py [FOLDER]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tests/browser.py: the one place that launches Chromium

import detector  # noqa: E402
from detector.report import batch_report, case_view, flagged_mask, write_report  # noqa: E402
from tests.browser import launch_chromium, watch  # noqa: E402

SAMPLE = REPO / "sample_data" / "showcase.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default="/tmp", type=Path, help="where the PNG files go (default /tmp)")
    folder = parser.parse_args().folder
    folder.mkdir(parents=True, exist_ok=True)
    rules = detector.load_rules()
    result = detector.score(detector.load_declarations(SAMPLE), rules, model=None)
    scored = result.output
    page_path = write_report(batch_report(scored, getattr(result, "metadata", None), rules), folder / "report.html")
    flagged = scored[flagged_mask(scored)].sort_values("risk_score", ascending=False, kind="stable")
    evidence = case_view(scored, flagged["declaration_id"].tolist(), rules)
    with_siblings = evidence.loc[evidence["siblings"].str.len() > 0, "declaration_id"]
    shown = with_siblings.iloc[0] if len(with_siblings) else flagged["declaration_id"].iloc[0]
    with launch_chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        url = page_path.resolve().as_uri()
        problems = watch(page, url)
        page.goto(url, wait_until="load")
        page.screenshot(path=str(folder / "report.png"), full_page=True)
        page.click(f"#flagged-table tr[data-href='#case={shown}'] td:nth-child(2)")
        page.wait_for_selector("#case-view:not([hidden])")
        page.screenshot(path=str(folder / "case.png"))
    for problem in problems.all():
        print(f"page problem: {problem}", file=sys.stderr)
    print(f"{page_path}\n{folder / 'report.png'}\n{folder / 'case.png'} (case {shown})")
    sys.exit(1 if problems.all() else 0)


if __name__ == "__main__":
    main()
