import threading

import pandas as pd
import pytest

import detector
import detector.threads
from detector.threads import MAX_THREADS, THREADS_FROM_ROWS, InlineExecutor, thread_pool, threads_for
from tests.conftest import REPO


@pytest.mark.parametrize("tasks, cores, expected", [(0, 4, 1), (1, 4, 1), (3, 4, 3), (20, 4, 4), (50, 64, MAX_THREADS)])
def test_threads_are_bounded_by_tasks_cores_and_the_cap(monkeypatch, tasks, cores, expected):
    monkeypatch.setattr(detector.threads, "available_cores", lambda: cores)
    assert threads_for(tasks) == expected
    assert threads_for(tasks, rows=THREADS_FROM_ROWS) == expected


def test_small_tables_run_in_the_calling_thread(monkeypatch):
    monkeypatch.setattr(detector.threads, "available_cores", lambda: 4)
    assert threads_for(10, rows=THREADS_FROM_ROWS - 1) == 1
    with thread_pool(10, rows=10) as pool:
        assert isinstance(pool, InlineExecutor)
        ran_in = list(pool.map(lambda _: threading.get_ident(), range(3)))
        failed = pool.submit(lambda: 1 / 0)
    assert ran_in == [threading.get_ident()] * 3
    with pytest.raises(ZeroDivisionError):
        failed.result()


def test_scores_do_not_depend_on_the_number_of_threads(monkeypatch, tmp_path):
    # Validation, rules, the forest and the writer split work over threads; results are
    # gathered in a fixed order, so one thread and many give the same bytes. The sample
    # is below the size that gets threads, so the threshold is lowered for the test.
    monkeypatch.setattr(detector.threads, "THREADS_FROM_ROWS", 0)
    outputs = []
    for cores in (1, 6):
        monkeypatch.setattr(detector.threads, "available_cores", lambda: cores)
        declarations = detector.load_declarations(REPO / "sample_data" / "declarations.csv")
        result = detector.score(declarations, seed=3)
        path = detector.write_output(result, tmp_path / f"scored_{cores}.csv")
        outputs.append((result.declarations.problems, path.read_bytes()))
    pd.testing.assert_frame_equal(outputs[0][0], outputs[1][0])
    assert outputs[0][1] == outputs[1][1]
