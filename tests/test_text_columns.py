import numpy as np
import pyarrow as pa
import pytest

from detector.text_columns import by_rank, choose_text, edge_bytes, formatted, join_per_row, with_thousands


def test_join_per_row_keeps_each_rows_order_and_leaves_others_empty():
    joined = join_per_row(np.array([2, 0, 2]), pa.array(["b", "a", "c"]), 4, "; ")
    assert joined.tolist() == ["a", "", "b; c", ""]


def test_choose_text_takes_words_by_code():
    assert choose_text(["green", "yellow", "red"], np.array([2, 0, 1, 0])).tolist() == \
        ["red", "green", "yellow", "green"]


def test_numbers_are_formatted_as_python_formats_them():
    values = np.array([2.45, 0.0812, 1e-5, 12345.5, np.inf])
    assert formatted("%.1f", values).to_pylist() == [f"{v:.1f}" for v in values]
    assert formatted("%.2g", values).to_pylist() == [f"{v:.2g}" for v in values]
    assert formatted("%d", np.array([], dtype=np.int64)).to_pylist() == []


def test_thousands_separators_match_python():
    numbers = [0, 7, 100, 999, 1000, 65536, 123456, 1234567, 12345678901]
    assert with_thousands(pa.array([str(n) for n in numbers])).to_pylist() == [f"{n:,}" for n in numbers]
    assert with_thousands(pa.array(["inf"])).to_pylist() == ["inf"]


def test_by_rank_calls_once_per_rank_and_column_strongest_first():
    order = np.array([[1, 0], [0, 1], [1, 0]])
    weight = np.array([[0.5, 0.9], [0.7, 0.01], [0.2, 0.3]])
    calls = []

    def phrases(column, rows):
        calls.append((column, rows.tolist()))
        return [f"c{column}r{row}" for row in rows]

    rows, said = by_rank(order, weight, 0.05, phrases)
    # rank 0: column 0 for row 1, column 1 for rows 0 and 2; rank 1: column 0 for rows 0 and 2
    # (row 1's second column weighs 0.01, under the minimum).
    assert calls == [(0, [1]), (1, [0, 2]), (0, [0, 2])]
    assert rows.tolist() == [1, 0, 2, 0, 2]
    assert [p for part in said for p in part] == ["c0r1", "c1r0", "c1r2", "c0r0", "c0r2"]


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
def test_edge_bytes_of_cells_including_empty_cells_and_slices(kind):
    cells = pa.array(["skip", "=a1", "", "b ", None, " c"], kind).slice(1)  # starts inside the buffers
    first, last, filled = edge_bytes(cells)
    assert filled.tolist() == [True, False, True, False, True]
    assert bytes(first[filled]) == b"=b " and bytes(last[filled]) == b"1 c"
    assert [len(part) for part in edge_bytes(pa.array([], kind))] == [0, 0, 0]
