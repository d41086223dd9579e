"""What the group predicates need of a whole file, gathered chunk by chunk.

``group_count`` and ``group_sum`` compare each row with the other rows of its group
(the same exporter and consignee) inside a date window; the other rows may sit anywhere
in the file. So a group condition first reads every chunk into :class:`GroupCells`: one
cell per group and day, holding the rows' count, their sum and the first few of their
declaration ids. The cells grow with the groups and days, not the rows (a year of a
million declarations from ten thousand exporter-consignee pairs is at most a few
hundred thousand cells), and each row is then answered from them: its window's total
and the ids of its siblings. A table scored whole is the one-chunk case of the same
code, so a file read in chunks gives the same bytes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# Declaration ids a reason names per row (``siblings``), then "and N more".
MAX_SIBLINGS = 5
# Ids kept per cell: the first rows of a window, one more than shown since a row does
# not name itself.
_KEPT_IDS = MAX_SIBLINGS + 1
_SEPARATOR = "\x1f"  # joins a group's values into one key (a unit separator no one types)
# Sums are kept in whole ten-thousandths (0.1 g of a weight in kg, a hundredth of a cent):
# integers add exactly in any order, so a total does not depend on where chunks or
# partitions end, and 28.574 kg reads 28.574, not 28.573999999999998. No declaration
# carries more than _MAX_AMOUNT of anything; larger cells are clipped to it.
_SCALE = 10_000
_MAX_AMOUNT = 10.0**13


def group_keys(table: pd.DataFrame, by: list[str]) -> pd.Series:
    """Each row's group as one text key, missing where a ``by`` value is missing: the
    same key in whatever chunk the row is read. Meant for the distinct groups of a
    chunk (:meth:`detector.rules.predicates.TableCache.rows`), a few thousand texts,
    not for every row."""
    parts = [table[name] for name in by]
    missing = np.zeros(len(table), dtype=bool)
    for part in parts:
        missing |= part.isna().to_numpy()
    texts = [part.astype("str") for part in parts]
    key = texts[0] if len(texts) == 1 else texts[0].str.cat(texts[1:], sep=_SEPARATOR)
    return key.astype(object).where(~missing, None)


class GroupCells:
    """Count, sum and first ids per (group, day) cell of one group condition.

    Rows are added chunk by chunk in file order (:meth:`add`); :meth:`totals` and
    :meth:`siblings` then answer any row from the cells. Sums are whole numbers of
    ten-thousandths, exact in any order, so no total depends on where chunks end.

    Parameters
    ----------
    within_days : int or None
        The window's half-width in days; None counts the whole file (one cell per
        group).
    """

    def __init__(self, within_days: int | None):
        self.within_days = within_days
        self._groups = pd.Index([], dtype=object)   # group key -> group code, first seen first
        self._cells = pd.Index([], dtype=np.int64)  # cell number (_cell_numbers) -> cell
        self.count = np.empty(0, dtype=np.int64)
        self.total = np.empty(0, dtype=np.int64)  # in 1 / _SCALE
        self._ids = np.empty((0, _KEPT_IDS), dtype=object)
        self._id_rows = np.empty((0, _KEPT_IDS), dtype=np.int64)
        self._order: tuple | None = None
        self._last_keys, self._last_learned, self._last_codes = None, False, np.empty(0, dtype=np.int64)

    # Days are counted from 1970-01-01 and shifted into [0, _DAY_SPAN): a cell's number
    # is group * span + shifted day, which fits in int64 for 2**30 groups and orders the
    # cells by group, then day.
    _DAY_SPAN = 2**32
    _DAY_SHIFT = 2**31

    def _cell_numbers(self, groups: np.ndarray, days: np.ndarray) -> np.ndarray:
        return groups * self._DAY_SPAN + (days + self._DAY_SHIFT)

    def _day_of(self, days) -> np.ndarray:
        if self.within_days is None or days is None:
            return None
        return np.asarray(days, dtype="datetime64[D]").astype(np.int64)

    def _global_groups(self, groups: np.ndarray, keys: np.ndarray, learn: bool) -> np.ndarray:
        """The file-wide group code of each row, from its code into the chunk's
        distinct ``keys`` (-1: no group); new keys are numbered when ``learn``. The
        codes of the last ``keys`` are kept: a chunk asks for them twice (gathering,
        then answering), and a table scored whole is its own first chunk."""
        # Codes looked up without learning may miss keys a learning call must add.
        if keys is not self._last_keys or (learn and not self._last_learned):
            present = pd.notna(keys)
            if learn and not len(self._groups) and present.all():
                self._groups, known = pd.Index(keys, dtype=object), np.arange(len(keys))
            else:
                if learn:
                    new = pd.Index(pd.unique(keys[present])).difference(self._groups, sort=False)
                    self._groups = self._groups.append(new)
                known = np.where(present, self._groups.get_indexer(keys), -1) if len(self._groups) else \
                    np.full(len(keys), -1)
            self._last_keys, self._last_learned = keys, learn
            self._last_codes = np.append(known.astype(np.int64), -1)
        return self._last_codes[groups]

    def add(self, groups: np.ndarray, keys: np.ndarray, days, amounts: np.ndarray, ids: pd.Series | None,
            rows: np.ndarray) -> None:
        """Add one chunk's counted rows.

        Parameters
        ----------
        groups : ndarray of int
            Each row's code into ``keys``; -1 for a row not counted (no group, or not
            satisfying the condition's ``where``).
        keys : ndarray of object
            The chunk's distinct groups as :func:`group_keys` writes them.
        days : array of datetime64 or None
            The rows' dates (a missing date is not counted in a window).
        amounts : ndarray or None
            What each row adds to its cell's sum; None to count the rows.
        ids : Series or None
            The rows' declaration ids as text, or None when the file has none.
        rows : ndarray of int
            The rows' positions in the file.
        """
        self._order = None
        group = self._global_groups(groups, keys, learn=True)
        if self.within_days is None and len(self._groups) > len(self.count):
            # One cell per group, numbered as the groups are: no search needed.
            self._grow(self._cell_numbers(np.arange(len(self.count), len(self._groups)), 0))
        day = self._day_of(days)
        counted = group >= 0
        if day is not None:
            counted &= day != np.iinfo(np.int64).min  # NaT
        picked = np.flatnonzero(counted)
        if not len(picked):
            return
        if day is None:
            cells = group[picked]
        else:
            numbers = self._cell_numbers(group[picked], day[picked])
            cells = self._cells.get_indexer(numbers) if len(self._cells) else np.full(len(numbers), -1)
            new_cells = pd.unique(numbers[cells < 0])
            if len(new_cells):
                self._grow(new_cells)
                cells = self._cells.get_indexer(numbers)
        if ids is not None:
            self._keep_first_ids(cells, ids.to_numpy(dtype=object)[picked], np.asarray(rows)[picked])
        added = np.bincount(cells, minlength=len(self.count))
        self.count += added
        if amounts is None:
            self.total += added * _SCALE
        else:
            amounts = np.clip(np.asarray(amounts, dtype=np.float64)[picked], -_MAX_AMOUNT, _MAX_AMOUNT)
            np.add.at(self.total, cells, np.rint(amounts * _SCALE).astype(np.int64))

    def _grow(self, new_cells: np.ndarray) -> None:
        """Empty cells for ``new_cells`` (their numbers), after the existing ones."""
        grow = len(new_cells)
        self._cells = self._cells.append(pd.Index(new_cells))
        self.count = np.concatenate([self.count, np.zeros(grow, dtype=np.int64)])
        self.total = np.concatenate([self.total, np.zeros(grow, dtype=np.int64)])
        self._ids = np.concatenate([self._ids, np.full((grow, _KEPT_IDS), None, dtype=object)])
        self._id_rows = np.concatenate([self._id_rows, np.full((grow, _KEPT_IDS), -1, dtype=np.int64)])

    def _keep_first_ids(self, cells: np.ndarray, ids: np.ndarray, rows: np.ndarray) -> None:
        """Fill each cell's free id slots with its rows of this chunk, in file order."""
        order = np.argsort(cells, kind="stable")
        sorted_cells = cells[order]
        starts = np.searchsorted(sorted_cells, sorted_cells, side="left")
        slot = self.count[sorted_cells] + (np.arange(len(order)) - starts)
        keep = slot < _KEPT_IDS
        self._ids[sorted_cells[keep], slot[keep]] = ids[order][keep]
        self._id_rows[sorted_cells[keep], slot[keep]] = rows[order][keep]

    def _sorted(self) -> tuple:
        """Cells in (group, day) order, with running counts and sums over them."""
        if self._order is None:
            numbers = self._cells.to_numpy()
            order = np.argsort(numbers, kind="stable")
            numbers = numbers[order]
            self._order = (order, numbers, np.concatenate([[0], np.cumsum(self.total[order])]),
                           np.concatenate([[0], np.cumsum(self.count[order])]))
        return self._order

    def windows(self, groups: np.ndarray, keys: np.ndarray, days) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row (``groups``, ``keys`` and ``days`` as :meth:`add` takes them):
        whether it has a counted window, and the window's first and last cell + 1 in
        (group, day) order. :meth:`totals` and :meth:`siblings` read them."""
        group = self._global_groups(groups, keys, learn=False)
        day = self._day_of(days)
        counted = group >= 0
        if day is not None:
            counted &= day != np.iinfo(np.int64).min
        if day is None:  # one cell per group, in group order: the group is its window
            lower = np.where(counted, group, 0)
            return counted, lower, lower + counted
        day = np.where(counted, day, 0)
        reach = int(self.within_days)
        _, numbers, _, _ = self._sorted()
        # Rows of one cell share its window: search once per distinct cell.
        codes, asked = pd.factorize(self._cell_numbers(group, day))
        lower = np.searchsorted(numbers, asked - reach, side="left")[codes]
        upper = np.searchsorted(numbers, asked + reach, side="right")[codes]
        return counted, lower, upper

    def totals(self, windows: tuple) -> np.ndarray:
        """Per row, the sum over its window (NaN where the row has none: no group or
        no date)."""
        counted, lower, upper = windows
        _, _, sums, _ = self._sorted()
        return np.where(counted, (sums[upper] - sums[lower]) / _SCALE, np.nan)

    def siblings(self, windows: tuple, rows: np.ndarray) -> np.ndarray:
        """Per row, the declaration ids of the other rows its window counted: at most
        :data:`MAX_SIBLINGS`, by day then file order, then "and N more"; missing
        (None) where the row was not counted or is alone.

        The window's first ids are the first kept ids of its cells in (group, day)
        order, since each cell keeps its first rows; they are gathered column-wise,
        a handful of positions per row, whatever the window's size.
        """
        counted, lower, upper = windows
        present = np.flatnonzero(counted)
        out = np.full(len(counted), None, dtype=object)
        if not len(present):
            return out
        order, _, _, counts = self._sorted()
        kept = np.minimum(self.count[order], _KEPT_IDS)
        offsets = np.concatenate([[0], np.cumsum(kept)])
        filled = (np.arange(_KEPT_IDS) < kept[:, None]).ravel()
        slot_rows = self._id_rows[order].ravel()[filled]
        ids = pa.array(self._ids[order].ravel()[filled], pa.large_string())
        first, last = offsets[lower[present]], offsets[upper[present]]
        own = np.asarray(rows)[present]
        parts, shown = [], np.zeros(len(present), dtype=np.int64)
        for k in range(_KEPT_IDS):
            position = first + k
            inside = position < last
            at = np.where(inside, position, 0)
            keep = inside & (slot_rows[at] != own) & (shown < MAX_SIBLINGS)
            parts.append(pc.if_else(pa.array(keep), pc.take(ids, pa.array(at)), pa.scalar(None, pa.large_string())))
            shown += keep
        window = counts[upper[present]] - counts[lower[present]]
        out[present] = _joined(parts, window - 1 - shown, window <= 1)
        return out


def _joined(parts: list[pa.Array], more: np.ndarray, alone: np.ndarray) -> np.ndarray:
    """The shown ids joined with ", ", then " and N more" where more were counted;
    missing where the row is alone in its window."""
    # Joined two at a time: a many-input join skipping nulls returned too few rows
    # (pyarrow 26.0.1).
    joined = parts[0]
    for part in parts[1:]:
        both = pc.binary_join_element_wise(joined, part, pa.scalar(", ", pa.large_string()))
        joined = pc.if_else(pc.is_null(part), joined, pc.if_else(pc.is_null(joined), part, both))
    counted = pc.binary_join_element_wise(joined, pa.scalar(" and ", pa.large_string()),
                                          pc.cast(pa.array(more), pa.large_string()),
                                          pa.scalar(" more", pa.large_string()), pa.scalar("", pa.large_string()))
    joined = pc.if_else(pa.array(more > 0), counted, joined)
    joined = pc.if_else(pa.array(alone), pa.scalar(None, pa.large_string()), joined)
    return joined.to_numpy(zero_copy_only=False)
