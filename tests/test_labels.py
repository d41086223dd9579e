"""One reader of inspection outcomes for training, measuring and the report."""

import numpy as np
import pandas as pd
import pytest

from detector.errors import DetectorError
from detector.labels import read_labels


def test_numbers_words_and_empty_cells_read_as_outcomes():
    cells = [1, 0, 1.0, "0.0", " Fraud ", "CLEAN", "yes", "n", True, False, "", None, np.nan, pd.NA]
    assert np.array_equal(read_labels(cells), [1, 0, 1, 0, 1, 0, 1, 0, 1, 0, np.nan, np.nan, np.nan, np.nan],
                          equal_nan=True)


def test_a_cell_that_is_no_outcome_is_refused_with_its_row_and_value():
    with pytest.raises(DetectorError, match=r"history.csv, column 'verdict': 2 labels are not inspection "
                                            r"outcomes \(row 2: 'suspected'; row 4: 2\); expected 1 or fraud"):
        read_labels(["1", "suspected", "0", 2], "history.csv", "verdict")


def test_the_report_skips_a_label_column_that_holds_no_outcomes():
    """A file's own column named ``label`` (a handling note) is not a verdict: the
    page is drawn without outcomes instead of failing after scoring."""
    from detector.report import label_values

    scored = pd.DataFrame({"risk_score": [0.1, 0.2], "label": ["fragile", "keep dry"]})
    assert label_values(scored) is None
    assert label_values(scored.assign(label=["fraud", ""])).tolist()[0] == 1.0
    with pytest.raises(DetectorError, match="not inspection outcomes"):
        label_values(scored, labels=pd.Series(["fragile", "1"]))


def test_outcome_results_are_read_as_labels_are():
    """The outcome database's import read fewer words (no yes/no) than the label
    columns: one set of words now serves both."""
    from detector.labels import CLEAN_WORDS, FRAUD_WORDS
    from detector.outcomes import outcomes_frame

    words = [*FRAUD_WORDS, *CLEAN_WORDS]
    raw = pd.DataFrame({"declaration_id": [str(i) for i in range(len(words))], "inspected_on": "2025-06-01",
                        "result": [w.upper() for w in words]})
    stored = outcomes_frame(raw)["result"]
    assert stored.tolist() == ["fraud" if v == 1 else "clean" for v in read_labels(words)]
