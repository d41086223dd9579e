"""Group statistics gathered chunk by chunk answer every row as the whole file does."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.rules.groups import MAX_SIBLINGS, GroupCells, group_keys


def declarations(seed: int, rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({
        "declaration_id": [f"D{i}" for i in range(rows)],
        "exporter": pd.array(rng.choice(["Apex", "Borel", "Cato", None], rows), dtype="str"),
        "consignee": pd.array(rng.choice(["Xu", "Yan"], rows), dtype="str"),
        "declaration_date": pd.Timestamp("2025-03-01") + pd.to_timedelta(rng.integers(0, 40, rows), unit="D"),
        "gross_weight_kg": np.round(rng.random(rows) * 3, 3),
    })
    table.loc[rng.random(rows) < 0.05, "declaration_date"] = pd.NaT
    return table


def coded(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Rows' codes into their chunk's distinct group keys, as the rule engine hands them."""
    codes, distinct = pd.factorize(group_keys(table, ["exporter", "consignee"]), use_na_sentinel=True)
    return codes, np.asarray(distinct, dtype=object)


def gathered(table: pd.DataFrame, within_days, bounds: list[int], eligible: np.ndarray) -> GroupCells:
    """Cells filled chunk by chunk, the chunks ending at ``bounds``."""
    days = table["declaration_date"].to_numpy(dtype="datetime64[D]")
    cells = GroupCells(within_days)
    for start, end in zip([0, *bounds], [*bounds, len(table)]):
        part = slice(start, end)
        codes, keys = coded(table.iloc[part])
        cells.add(np.where(eligible[part], codes, -1), keys, days[part], table["gross_weight_kg"].to_numpy()[part],
                  table["declaration_id"].iloc[part], np.arange(start, end))
    return cells


def answers(table: pd.DataFrame, cells: GroupCells, eligible: np.ndarray, bounds: list[int] = ()):
    """Every row's total and siblings, asked chunk by chunk as a second pass would."""
    days = table["declaration_date"].to_numpy(dtype="datetime64[D]")
    totals, siblings = [], []
    for start, end in zip([0, *bounds], [*bounds, len(table)]):
        part = slice(start, end)
        codes, keys = coded(table.iloc[part])
        windows = cells.windows(np.where(eligible[part], codes, -1), keys, days[part])
        totals.append(cells.totals(windows))
        siblings += cells.siblings(windows, np.arange(start, end)).tolist()
    return np.concatenate(totals), siblings


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), rows=st.integers(1, 300), within=st.sampled_from([None, 0, 2, 9]),
       cuts=st.lists(st.floats(0, 1), max_size=6))
def test_chunks_ending_anywhere_give_the_totals_and_siblings_of_the_whole(seed, rows, within, cuts):
    """The promise the chunked scorer rests on: groups, windows and sibling lists that
    cross chunk boundaries come out byte for byte as from one chunk, sums too (whole
    ten-thousandths, exact in any order)."""
    table = declarations(seed, rows)
    eligible = table["gross_weight_kg"].to_numpy() <= 2.5
    bounds = sorted({int(c * rows) for c in cuts} - {0, rows})
    whole_totals, whole_siblings = answers(table, gathered(table, within, [], eligible), eligible)
    totals, siblings = answers(table, gathered(table, within, bounds, eligible), eligible, bounds)
    assert np.array_equal(totals, whole_totals, equal_nan=True)
    assert siblings == whole_siblings


def brute_force(table: pd.DataFrame, within: int, eligible: np.ndarray, row: int) -> list[int]:
    """The rows a window counts for ``row``, by day then file order."""
    same = ((table["exporter"] == table["exporter"][row])
            & (table["consignee"] == table["consignee"][row])).fillna(False)
    near = (table["declaration_date"] - table["declaration_date"][row]).abs() <= pd.Timedelta(days=within)
    members = table[same.to_numpy() & near.fillna(False).to_numpy() & eligible]
    return members.sort_values("declaration_date", kind="stable").index.tolist()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_totals_and_siblings_match_a_brute_force_count(seed):
    table = declarations(seed, 400)
    eligible = np.ones(len(table), dtype=bool)
    totals, siblings = answers(table, gathered(table, 3, [137, 290], eligible), eligible, [50, 290])
    for row in range(0, 400, 7):
        if pd.isna(table["exporter"][row]) or pd.isna(table["declaration_date"][row]):
            assert np.isnan(totals[row]) and siblings[row] is None
            continue
        members = brute_force(table, 3, eligible, row)
        assert totals[row] == pytest.approx(table["gross_weight_kg"][members].sum())
        others = [f"D{m}" for m in members if m != row]
        expected = ", ".join(others[:MAX_SIBLINGS]) + (f" and {len(others) - MAX_SIBLINGS} more"
                                                       if len(others) > MAX_SIBLINGS else "")
        assert siblings[row] == (expected or None)


def test_the_cells_grow_with_groups_and_days_not_rows():
    """Bounded memory: 20,000 declarations of 3 exporter-consignee pairs over 10 days
    are held as at most 30 cells of a count, a sum and six ids each."""
    rows = 20_000
    table = pd.DataFrame({"declaration_id": np.arange(rows).astype(str),
                          "exporter": np.tile(["Apex", "Borel", "Cato"], rows // 3 + 1)[:rows], "consignee": "Xu",
                          "declaration_date": pd.Timestamp("2025-03-01") + pd.to_timedelta(np.arange(rows) % 10,
                                                                                           unit="D"),
                          "gross_weight_kg": 1.0})
    cells = gathered(table, 7, list(range(1000, rows, 1000)), np.ones(rows, dtype=bool))
    assert len(cells.count) == 30 and int(cells.count.sum()) == rows
    assert cells._ids.shape == (30, MAX_SIBLINGS + 1)


def test_a_chunk_answered_before_it_is_gathered_still_counts_its_new_groups():
    """The codes of a chunk's keys are kept between calls; a lookup that found a key
    unknown must not stop the next gathering call from numbering it."""
    keys = np.array(["Apex\x1fXu"], dtype=object)
    cells = GroupCells(None)
    assert np.isnan(cells.totals(cells.windows(np.array([0]), keys, None)))
    cells.add(np.array([0, 0]), keys, None, None, None, np.array([0, 1]))
    assert cells.totals(cells.windows(np.array([0]), keys, None)).tolist() == [2.0]


def test_sums_read_as_the_decimals_written_in_any_order():
    """Float sums depended on the order rows were added (0.1 + 0.2 + 0.3 is not
    0.3 + 0.2 + 0.1) and printed as 28.573999999999998; whole ten-thousandths do not."""
    keys = np.array(["Apex"], dtype=object)
    forward, backward = GroupCells(None), GroupCells(None)
    amounts = np.array([0.1, 0.2, 0.3, 28.0 - 0.6 + 0.974])
    forward.add(np.zeros(4, dtype=np.int64), keys, None, amounts, None, np.arange(4))
    for row in (3, 2, 1, 0):
        backward.add(np.zeros(1, dtype=np.int64), keys, None, amounts[[row]], None, np.array([row]))
    windows = np.zeros(1, dtype=np.int64), keys, None
    assert forward.totals(forward.windows(*windows)).tolist() == [28.974]
    assert backward.totals(backward.windows(*windows)).tolist() == [28.974]
