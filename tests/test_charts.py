"""The reports' inline SVG charts: what they draw, escaped and deterministic."""

import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from detector import charts

SVG = "{http://www.w3.org/2000/svg}"


def _parsed(svg: str) -> ET.Element:
    """The chart as XML: a chart that does not parse shows nothing in a browser."""
    return ET.fromstring(svg)


def _of_class(root: ET.Element, tag: str, kind: str) -> list[ET.Element]:
    return [element for element in root.iter(SVG + tag) if element.get("class") == kind]


def test_histogram_counts_every_value_in_its_bin():
    """The bins' tooltips add up to the rows scored, out-of-range values included in
    the edge bins, so the chart agrees with the lane counts beside it."""
    values = [0.0, 0.05, 0.31, 0.32, 0.95, 1.0, 1.4, np.nan]
    root = _parsed(charts.histogram(values, bins=10, marks={"red 0.60": 0.6, "yellow 0.30": 0.3}))
    bars = _of_class(root, "rect", "bar")
    assert len(bars) == 10
    counts = [int(re.search(r": (\d+) rows", bar.find(SVG + "title").text).group(1)) for bar in bars]
    assert counts == [2, 0, 0, 2, 0, 0, 0, 0, 0, 3]
    assert len(_of_class(root, "line", "mark")) == 2
    assert "red 0.60" in charts.histogram(values, marks={"red 0.60": 0.6})


def test_bar_chart_one_bar_per_rule_coloured_by_severity_and_labels_escaped():
    """A rule title with markup is shown as text, never run as markup in the report."""
    svg = charts.bar_chart(["RE-1 <script>alert(1)</script>", "RE-2 fish & chips"], [12, 3],
                           categories=["critical", "low"])
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg and "fish &amp; chips" in svg
    bars = _of_class(_parsed(svg), "rect", "bar")
    assert [bar.get("fill") for bar in bars] == [charts.SEVERITY_COLOURS["critical"], charts.SEVERITY_COLOURS["low"]]
    widths = [float(bar.get("width")) for bar in bars]
    assert widths[0] == pytest.approx(4 * widths[1], rel=0.01)
    texts = [text.text for text in _parsed(svg).iter(SVG + "text")]
    assert "12" in texts and texts[:2] == ["critical", "low"]  # the legend, strongest first
    assert len(_of_class(_parsed(svg), "rect", "legend")) == 2


def test_bar_chart_refuses_values_that_do_not_match_labels():
    with pytest.raises(ValueError, match="one value"):
        charts.bar_chart(["a", "b"], [1])


def test_heat_map_one_cell_per_rule_and_month_with_colour_and_tooltip():
    rates = pd.DataFrame({"2025-01": [0.0, 1.0, np.nan], "2025-02": [0.5, 0.25, 0.1]},
                         index=["RE-1", "RE-2", "R<3>"])
    root = _parsed(charts.heat_map(rates, counts=pd.DataFrame(10, index=rates.index, columns=rates.columns)))
    cells = _of_class(root, "rect", "cell")
    assert len(cells) == 6
    fills = [cell.get("fill") for cell in cells]
    assert fills[:2] == ["#f7fbff", charts.heat_colour(0.5)]
    assert fills[2] == "#08306b"  # rate 1: the darkest
    assert fills[4] == charts.NO_DATA_COLOUR
    tips = [cell.find(SVG + "title").text for cell in cells]
    assert tips[1] == "RE-1 \u00b7 2025-02: 50.0% of 10"
    assert tips[4] == "R<3> \u00b7 2025-01: no data"
    assert len(_of_class(root, "rect", "legend")) == 5


def test_line_chart_draws_a_step_through_every_point():
    svg = charts.line_chart([1, 2, 5], [0.9, 0.5, 0.2])
    root = _parsed(svg)
    assert len(_of_class(root, "circle", "point")) == 3
    path = _of_class(root, "path", "line")[0].get("d")
    assert path.count("L") == 4  # two steps: across, then down, per later point


def test_charts_are_deterministic():
    """The same data gives the same bytes: a report can be compared with the last one."""
    values = np.random.default_rng(0).random(500)
    assert charts.histogram(values) == charts.histogram(values.copy())
    assert charts.line_chart([1, 2], [0.3333333, 0.6666666]) == charts.line_chart([1, 2], [0.3333333, 0.6666666])
