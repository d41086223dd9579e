import pandas as pd
import pytest

import detector
import detector.threads
from detector.threads import MAX_THREADS, threads_for
from tests.conftest import REPO


@pytest.mark.parametrize("tasks, cores, expected", [(0, 4, 1), (1, 4, 1), (3, 4, 3), (20, 4, 4), (50, 64, MAX_THREADS)])
def test_threads_are_bounded_by_tasks_cores_and_the_cap(monkeypatch, tasks, cores, expected):
    monkeypatch.setattr(detector.threads, "available_cores", lambda: cores)
    assert threads_for(tasks) == expected


def test_scores_do_not_depend_on_the_number_of_threads(monkeypatch, tmp_path):
    # Validation, rules, the forest and the writer split work over threads; results are
    # gathered in a fixed order, so one thread and many give the same bytes.
    outputs = []
    for cores in (1, 6):
        monkeypatch.setattr(detector.threads, "available_cores", lambda: cores)
        declarations = detector.load_declarations(REPO / "sample_data" / "declarations.csv")
        result = detector.score(declarations, seed=3)
        path = detector.write_output(result, tmp_path / f"scored_{cores}.csv")
        outputs.append((result.declarations.problems, path.read_bytes()))
    pd.testing.assert_frame_equal(outputs[0][0], outputs[1][0])
    assert outputs[0][1] == outputs[1][1]
