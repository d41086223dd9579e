"""The predicate vocabulary of rule conditions.

Each predicate is a short function over the whole declarations table that returns a
pandas ``BooleanArray``: True, False, or missing where the row's value is unknown
(combinators then apply Kleene logic, and an unknown final result is no hit). Each is
registered where it is defined (``@predicate``) with the arguments it takes and its own
checks across them, so a rule pack is checked before it runs, the way pandera registers
its checks; its docstring is its documentation. Text matching runs on pyarrow's RE2
engine: linear time whatever the pattern, which is what makes user-written regexes safe
to run.
"""

from __future__ import annotations

import inspect
import operator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from detector.derived import DERIVED_FIELDS
from detector.reference import iso_dates, load_reference
from detector.rules.groups import GroupCells, group_keys
from detector.schema import FIELDS_BY_NAME
from detector.text import ALTERNATION_BUDGET, NEVER, PhraseMatcher, alternations, contains, normal_form, normalise

MAX_PATTERN_LENGTH = 200
MAX_PHRASE_LENGTH = 200
# Window sums key each row as ``group * span + day`` in int64; a century keeps that far
# inside the range for any file (and is longer than any customs look-back).
MAX_WITHIN_DAYS = 36_525
OPERATORS: dict[str, Callable] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne,
}
_NUMBER_KINDS = {"amount", "count", "number"}


def field_kind(name: str) -> str | None:
    """'number', 'date' or 'text' for a canonical or derived field; None if unknown."""
    if name in FIELDS_BY_NAME:
        kind = FIELDS_BY_NAME[name].kind
    elif name in DERIVED_FIELDS:
        kind = DERIVED_FIELDS[name]
    else:
        return None
    if kind in _NUMBER_KINDS:
        return "number"
    return "date" if kind == "date" else "text"


class TableCache:
    """What rules evaluated on one table share: distinct column values and results.

    Text predicates run on each distinct value once and broadcast the answer to the
    rows through integer codes: a million declarations hold a few thousand distinct HS
    codes, countries or consignees, so regexes, lower-casing and table look-ups cost
    what the distinct values cost, not what the rows cost. Packs also repeat the same
    condition in many rules (a YAML anchor such as "rare-earth HS code"), so each
    predicate call's result is kept in ``results`` and computed once per table.
    """

    def __init__(self, table: pd.DataFrame):
        self.table = table
        self.results: dict[tuple, pd.arrays.BooleanArray] = {}
        self._fields: dict[str, tuple[np.ndarray, pd.Series]] = {}
        self._normal: dict[str, pa.Array] = {}
        self._rows: dict[tuple[str, ...], tuple[np.ndarray, pd.DataFrame]] = {}

    def field(self, name: str) -> tuple[np.ndarray, pd.Series]:
        """Row codes (-1 = missing) and the distinct values of one column."""
        if name not in self._fields:
            codes, uniques = pd.factorize(self.table[name], use_na_sentinel=True)
            self._fields[name] = (codes, pd.Series(uniques, dtype=self.table[name].dtype))
        return self._fields[name]

    def normal(self, name: str) -> pa.Array:
        """The distinct values of one column in the text's normal form, computed once:
        every text predicate on the column matches on them."""
        if name not in self._normal:
            self._normal[name] = normal_form(self.field(name)[1])
        return self._normal[name]

    def rows(self, names: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
        """Row codes (-1 = some value missing) and the distinct combinations of columns."""
        key = tuple(names)
        if key in self._rows:
            return self._rows[key]
        first_codes, first_uniques = self.field(names[0])
        codes, size = first_codes.astype(np.int64), len(first_uniques)
        if len(names) == 1:
            # One column: its distinct values are the distinct rows, already in code order.
            self._rows[key] = (codes, first_uniques.reset_index(drop=True).to_frame(names[0]))
            return self._rows[key]
        for name in names[1:]:
            field_codes, uniques = self.field(name)
            if size * (len(uniques) + 1) >= 2**62:  # keep the combined key in int64
                codes, size = _renumber(codes), int(codes.max()) + 1
            codes = np.where((codes < 0) | (field_codes < 0), -1,
                             codes * (len(uniques) + 1) + field_codes)
            size *= len(uniques) + 1
        codes = _renumber(codes)
        missing = codes < 0
        representative = np.zeros(int(codes.max()) + 1 if len(codes) else 0, dtype=np.int64)
        representative[codes[~missing]] = np.flatnonzero(~missing)
        distinct = self.table[list(names)].iloc[representative].reset_index(drop=True)
        self._rows[key] = (codes, distinct)
        return self._rows[key]


def _renumber(codes: np.ndarray) -> np.ndarray:
    """Codes 0..k-1 for the non-negative entries, in order of first appearance."""
    present = codes >= 0
    out = np.full(len(codes), -1, dtype=np.int64)
    out[present] = pd.factorize(codes[present])[0]
    return out


def broadcast(per_value: np.ndarray, codes: np.ndarray) -> pd.arrays.BooleanArray:
    """Rows get the answer of their distinct value; rows with code -1 are unknown."""
    values = np.append(np.asarray(per_value, dtype=bool), False)[codes]
    return boolean(values, codes < 0)


@dataclass
class Context:
    """What predicates may read besides the table: the shared distinct values, where
    reference tables live, and the values that group predicates name with ``as:``
    (shown in reason templates)."""

    cache: TableCache
    reference_dirs: tuple[Path, ...] = ()
    named: dict[str, pd.Series] | None = None
    evaluate: Callable | None = None  # evaluates a nested condition (group ``where:``)
    # field -> the text of the cells validation could not read, missing elsewhere
    # (Declarations.unreadable); None when the table did not come through validation
    # (``unreadable`` is then unknown wherever the value is missing).
    unreadable: dict[str, pd.Series] | None = None


# ------------------------------------------------------------------- boolean helpers


def boolean(values: np.ndarray, unknown: np.ndarray | None = None) -> pd.arrays.BooleanArray:
    """A nullable boolean array: ``values`` where known, missing where ``unknown``."""
    values = np.asarray(values, dtype=bool)
    mask = np.zeros(len(values), dtype=bool) if unknown is None else np.asarray(unknown, dtype=bool)
    return pd.arrays.BooleanArray(values & ~mask, mask)


def _lower(series: pd.Series) -> pd.Series:
    """The text in its normal form (:func:`detector.text.normalise`), what every text
    predicate compares and matches: ``ＭＡＣＨＩＮＥＲＹ  Parts`` is ``machinery parts``."""
    return normalise(series)


def _alternations(alternatives: list[str]) -> list[str]:
    """``a|b|...`` bodies of at most ``ALTERNATION_BUDGET`` characters, in order; a
    text matches one of the alternatives exactly when it matches one of the bodies."""
    return alternations(alternatives, ALTERNATION_BUDGET)


def compile_regex(pattern: str) -> None:
    """Raise ValueError when RE2 rejects ``pattern`` (or it is too long to be bounded)."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(f"pattern is {len(pattern)} characters; at most {MAX_PATTERN_LENGTH}")
    try:
        pc.match_substring_regex(pa.array(["probe"]), pattern, ignore_case=True)
    except pa.ArrowInvalid as exc:
        raise ValueError(f"invalid pattern (RE2 syntax, no backreferences or lookaround): {exc}") from exc


def invalid_patterns(cells: np.ndarray) -> np.ndarray:
    """Which cells of a pattern column :func:`compile_regex` rejects (an empty cell is
    no pattern); the check parse runs on a ``regex`` table's column."""
    bad = set()
    for cell in set(cells) - {""}:
        try:
            compile_regex(cell)
        except ValueError:
            bad.add(cell)
    return np.isin(cells, list(bad))


def _match(ctx: Context, field: str, *patterns: str) -> pd.arrays.BooleanArray:
    """Case-insensitive RE2 search of any of the ``patterns`` in the normal form of each
    distinct value of ``field``."""
    codes, _ = ctx.cache.field(field)
    return broadcast(contains(ctx.cache.normal(field), list(patterns)), codes)


def _any_of(results: list[pd.arrays.BooleanArray]) -> pd.arrays.BooleanArray:
    combined = results[0]
    for result in results[1:]:
        combined = combined | result
    return combined


# ------------------------------------------------------------------------ registry


@dataclass(frozen=True)
class Arg:
    """One argument of a predicate: its kind names the checker the parser runs on it
    (``ARGUMENT_KINDS`` in :mod:`detector.rules.parse`)."""

    name: str
    # field, fields, number, int, value, values, text, texts, digits, op, pattern, table,
    # match, where, cond, name, choice, flag
    kind: str
    required: bool = True
    field_kind: str | None = None  # 'number' / 'text' / 'date' restriction for fields
    choices: tuple[str, ...] = ()
    default: Any = None
    any_of: bool = False  # for 'fields': the predicate runs on whichever are present
    # for 'field': the file need not have the column (``missing`` is then true on every
    # row): the rule still runs, where a need would skip it
    absent_ok: bool = False

    @property
    def keyword(self) -> str:
        """The predicate function's parameter: pack names that are Python keywords or
        clash with the table argument are renamed."""
        return _PYTHON_NAMES.get(self.name, self.name)


_PYTHON_NAMES = {"table": "table_name", "as": "name"}


class PackScope(Protocol):
    """What a predicate's own checks may use while its rule is parsed (the parser
    provides it): report a mistake at the rule, check a reference table, and say that
    the rule needs a column only some arguments read."""

    def fail(self, message: str) -> Exception: ...

    def need(self, field: str) -> None: ...

    def require(self, table_name: str, columns: list[str], where: str,
                cells: dict[str, str] | None = None) -> None: ...


Check = Callable[[PackScope, dict[str, Any], str], None]


@dataclass(frozen=True)
class Predicate:
    """A registered predicate: its function, the arguments a pack gives it and the
    checks across them that no single argument's kind can make."""

    name: str
    function: Callable
    args: tuple[Arg, ...]
    shorthand: str | None = None  # ``missing: F`` means ``missing: {field: F}``
    aliases: dict[str, str] = dataclass_field(default_factory=dict)  # ``field:`` accepted for ``fields:``
    check: Check | None = None

    @property
    def doc(self) -> str:
        """What the predicate is true for: the first paragraph of its docstring, one line."""
        return " ".join(inspect.getdoc(self.function).split("\n\n")[0].split())


PREDICATES: dict[str, Predicate] = {}


def predicate(name: str, *args: Arg, shorthand: str | None = None, aliases: dict[str, str] | None = None,
              check: Check | None = None) -> Callable[[Callable], Callable]:
    """Register the decorated function as predicate ``name`` taking ``args``; ``check``
    runs on the checked arguments together (``scope``, ``args``, ``where``).

    Registration order is the order packs' error messages list the predicates in.
    """
    def register(function: Callable) -> Callable:
        PREDICATES[name] = Predicate(name, function, args, shorthand, aliases or {}, check)
        return function
    return register


# -------------------------------------------------------------------- the predicates


def _check_values(scope: PackScope, field: str, values: list, where: str) -> None:
    """Values compared with ``field`` must be of its kind: numbers with a number,
    dates (YYYY-MM-DD) with a date, quoted text with text (an unquoted 0101 is 65)."""
    kind = field_kind(field)
    if kind == "number" and not all(isinstance(v, (int, float)) for v in values):
        raise scope.fail(f"{where}: field '{field}' is a number; give numbers")
    if kind == "date":
        written = np.array([v.isoformat() if type(v) is date else str(v) for v in values], dtype=object)
        if not iso_dates(written).all():
            raise scope.fail(f"{where}: field '{field}' is a date; give dates as YYYY-MM-DD, got {values!r}")
    if kind == "text" and not all(isinstance(v, str) for v in values):
        raise scope.fail(f"{where}: field '{field}' is text; quote the value(s) (YAML reads an "
                         f"unquoted 0101 as the number 65), got {values!r}")


def _check_value(scope: PackScope, args: dict[str, Any], where: str) -> None:
    _check_values(scope, args["field"], [args["value"]], where)


def _check_listed_values(scope: PackScope, args: dict[str, Any], where: str) -> None:
    _check_values(scope, args["field"], args["values"], where)


@predicate("equals", Arg("field", "field"), Arg("value", "value"), check=_check_value)
def equals(table: pd.DataFrame, ctx: Context, field: str, value: Any) -> pd.arrays.BooleanArray:
    """The field equals the value (text case-insensitive; on a date field, a date YYYY-MM-DD)."""
    return in_(table, ctx, field, [value])


@predicate("in", Arg("field", "field"), Arg("values", "values"), check=_check_listed_values)
def in_(table: pd.DataFrame, ctx: Context, field: str, values: list) -> pd.arrays.BooleanArray:
    """The field is one of the values (text case-insensitive; on a date field, dates YYYY-MM-DD)."""
    column = table[field]
    if field_kind(field) == "number":
        result = column.isin([float(v) for v in values]).to_numpy()
    elif field_kind(field) == "date":
        result = column.isin(pd.to_datetime([str(v) for v in values])).to_numpy()
    else:
        codes, uniques = ctx.cache.field(field)
        return broadcast(_lower(uniques).isin([str(v).lower() for v in values]).to_numpy(dtype=bool), codes)
    return boolean(result, column.isna().to_numpy())


@predicate("not_in", Arg("field", "field"), Arg("values", "values"), check=_check_listed_values)
def not_in(table: pd.DataFrame, ctx: Context, field: str, values: list) -> pd.arrays.BooleanArray:
    """The field is none of the values (a missing field stays unknown)."""
    return ~in_(table, ctx, field, values)


@predicate("compare", Arg("field", "field", field_kind="number"), Arg("op", "op"), Arg("value", "number"))
def compare(table: pd.DataFrame, ctx: Context, field: str, op: str, value: float) -> pd.arrays.BooleanArray:
    """The number field compares with the value as ``op`` says (``< <= > >= == !=``)."""
    column = table[field].to_numpy(dtype="float64")
    unknown = np.isnan(column)
    with np.errstate(invalid="ignore"):
        return boolean(OPERATORS[op](column, float(value)), unknown)


def _check_bounds(scope: PackScope, args: dict[str, Any], where: str) -> None:
    if args.get("min") is None and args.get("max") is None:
        raise scope.fail(f"{where}: give min, max or both")


@predicate("between", Arg("field", "field", field_kind="number"), Arg("min", "number", False),
           Arg("max", "number", False), check=_check_bounds)
def between(table: pd.DataFrame, ctx: Context, field: str, min: float | None = None,
            max: float | None = None) -> pd.arrays.BooleanArray:
    """The number field lies in the inclusive range; give ``min``, ``max`` or both."""
    column = table[field].to_numpy(dtype="float64")
    result = np.ones(len(column), dtype=bool)
    with np.errstate(invalid="ignore"):
        if min is not None:
            result &= column >= float(min)
        if max is not None:
            result &= column <= float(max)
    return boolean(result, np.isnan(column))


def _check_comparable(scope: PackScope, args: dict[str, Any], where: str) -> None:
    left, right = field_kind(args["left"]), field_kind(args["right"])
    if left != right:
        raise scope.fail(f"{where}: cannot compare {left} field '{args['left']}' "
                         f"with {right} field '{args['right']}'")
    if left == "text" and args["op"] not in ("==", "!="):
        raise scope.fail(f"{where}: text fields compare only with == or !=")


@predicate("compare_fields", Arg("left", "field"), Arg("op", "op"), Arg("right", "field"),
           check=_check_comparable)
def compare_fields(table: pd.DataFrame, ctx: Context, left: str, op: str, right: str) -> pd.arrays.BooleanArray:
    """Two fields of the same kind in the same row compare as ``op`` says (text only
    with ``==`` or ``!=``)."""
    a, b = table[left], table[right]
    unknown = (a.isna() | b.isna()).to_numpy()
    if field_kind(left) == "text":
        a, b = _lower(a), _lower(b)
    with np.errstate(invalid="ignore"):
        result = OPERATORS[op](a, b).fillna(False).to_numpy(dtype=bool)
    return boolean(result, unknown)


@predicate("missing", Arg("field", "field"), shorthand="field")
def missing(table: pd.DataFrame, ctx: Context, field: str) -> pd.arrays.BooleanArray:
    """The cell is empty or unusable (``missing: FIELD`` for short)."""
    return boolean(table[field].isna().to_numpy())


@predicate("present", Arg("field", "field"), shorthand="field")
def present(table: pd.DataFrame, ctx: Context, field: str) -> pd.arrays.BooleanArray:
    """The cell has a usable value (``present: FIELD`` for short)."""
    return boolean(table[field].notna().to_numpy())


@predicate("absent", Arg("field", "field", absent_ok=True), shorthand="field")
def absent(table: pd.DataFrame, ctx: Context, field: str) -> pd.arrays.BooleanArray:
    """The file has no such column at all (``absent: FIELD`` for short).

    A rule that reads a field it needs is skipped on a file without it (``missing:
    license_number`` on a file with no licence column would call every row
    unlicensed). ``any: [absent: direction, not: {equals: {field: direction, value:
    import}}]`` says instead what holds when the column is not there: that ``any``
    reads no column the file must have, so the rule runs, and its branches over the
    absent column are unknown.
    """
    return boolean(np.full(len(table), field not in table))


def _check_read_field(scope: PackScope, args: dict[str, Any], where: str) -> None:
    if args["field"] not in FIELDS_BY_NAME:
        raise scope.fail(f"{where}: '{args['field']}' is derived, not read from the file; "
                         "name the field it comes from (quantity_unit, hs_code, ...)")


@predicate("unreadable", Arg("field", "field", absent_ok=True), Arg("as", "name", False), shorthand="field",
           check=_check_read_field)
def unreadable(table: pd.DataFrame, ctx: Context, field: str, name: str | None = None) -> pd.arrays.BooleanArray:
    """The cell had text that could not be read, the row's problem on that field (an
    unknown mode, unit or country, a malformed code or number); ``as`` names that text
    for the reason; ``unreadable: FIELD`` for short.

    Validation makes such a cell missing, so every other predicate on it is unknown
    and a rule on it cannot hit; this one is true or false on every row, so a rule can
    take the unreadable cell as evidence. Without validation's record (a table built
    by hand) a usable value is readable and a missing one unknown.
    """
    cells = (ctx.unreadable or {}).get(field)
    if cells is None:
        cells = pd.Series(None, index=table.index, dtype="str")
    if name and ctx.named is not None:
        ctx.named[name] = cells
    if ctx.unreadable is None and field in table:
        return boolean(np.zeros(len(table), dtype=bool), table[field].isna().to_numpy())
    return boolean(cells.notna().to_numpy())


def _require_column(scope: PackScope, args: dict[str, Any], where: str, cell: str) -> None:
    """With ``table:``, a ``column:`` the table has, whose cells pass the ``cell`` check
    (each a phrase, or a pattern RE2 accepts)."""
    if args.get("table_name"):
        if not args.get("column"):
            raise scope.fail(f"{where}: 'table:' needs 'column:' naming the {cell} column")
        scope.require(args["table_name"], [args["column"]], where, cells={args["column"]: cell})


def _check_phrases(scope: PackScope, args: dict[str, Any], where: str) -> None:
    """Phrases come from ``any`` or from a table's column, not both, and are short
    enough for RE2 (a longer phrase could make the pattern too large); typos are
    allowed only where phrases are words, not whole texts."""
    if bool(args.get("any")) == bool(args.get("table_name")):
        raise scope.fail(f"{where}: give either 'any: [phrases]' or 'table:' with 'column:'")
    long = [phrase for phrase in args.get("any") or [] if len(phrase) > MAX_PHRASE_LENGTH]
    if long:
        raise scope.fail(f"{where}.any: phrase {long[0][:40]!r}... is {len(long[0])} characters; "
                         f"at most {MAX_PHRASE_LENGTH}")
    if args.get("typos") and args.get("match") == "whole":
        raise scope.fail(f"{where}: 'typos: true' reads misspelt words of a text; with 'match: whole' "
                         "the phrase is the whole text, so leave typos out")
    _require_column(scope, args, where, "phrase")


@predicate("keywords", Arg("fields", "fields", field_kind="text", any_of=True), Arg("any", "texts", False),
           Arg("table", "table", False), Arg("column", "text", False),
           Arg("match", "choice", False, choices=("word", "whole"), default="word"),
           Arg("typos", "flag", False), aliases={"field": "fields"}, check=_check_phrases)
def keywords(table: pd.DataFrame, ctx: Context, fields: list[str], any: list[str] | None = None,
             table_name: str | None = None, column: str | None = None,
             match: str = "word", typos: bool | None = None) -> pd.arrays.BooleanArray:
    """A phrase of ``any`` (or of the reference ``table``'s ``column``) occurs in one of
    the text fields, or is the whole text with ``match: whole``, in the text's normal
    form (case, width and spacing alike): Latin phrases as whole words, Chinese and
    other unspaced scripts anywhere; ``typos: true`` also reads a word of 7 letters or
    more one edit from a phrase word (two from 10 letters) as that word.

    The result is unknown only where every field is empty. Matching runs on the
    distinct values of each field (:class:`detector.text.PhraseMatcher`); with a table,
    every word of the table is a known word that is never read as a typo of another, so
    a rule reading one column does not mistake "terbium" for "erbium".
    """
    phrases = list(any or [])
    known: list[str] = []
    if table_name:
        reference = load_reference(table_name, ctx.reference_dirs)
        phrases += [p for p in reference[column] if p]
        if typos:
            known = list(reference.to_numpy(dtype=object).ravel())
    matcher = PhraseMatcher.build(phrases, whole=(match == "whole"), typos=bool(typos), known=known,
                                  budget=ALTERNATION_BUDGET)
    return _found_in_fields(table, ctx, fields, matcher.find)


def _check_patterns(scope: PackScope, args: dict[str, Any], where: str) -> None:
    """The pattern comes from ``pattern`` or from a table's column, not both; each cell
    of the column is a pattern RE2 accepts (or empty), checked when the pack loads."""
    if bool(args.get("pattern")) == bool(args.get("table_name")):
        raise scope.fail(f"{where}: give either 'pattern: REGEX' or 'table:' with 'column:'")
    _require_column(scope, args, where, "pattern")


@predicate("regex", Arg("fields", "fields", field_kind="text", any_of=True), Arg("pattern", "pattern", False),
           Arg("table", "table", False), Arg("column", "text", False),
           aliases={"field": "fields"}, check=_check_patterns)
def regex(table: pd.DataFrame, ctx: Context, fields: list[str], pattern: str | None = None,
          table_name: str | None = None, column: str | None = None) -> pd.arrays.BooleanArray:
    """The RE2 pattern (at most 200 characters), or one of the reference ``table``'s
    ``column``, is found in one of the text fields, in the normal form of the text
    (as ``keywords`` reads it), case-insensitive."""
    patterns = [pattern] if pattern else []
    if table_name:
        patterns += [p for p in load_reference(table_name, ctx.reference_dirs)[column] if p]
    bodies = _alternations([f"(?:{p})" for p in dict.fromkeys(patterns)]) if patterns else [NEVER]
    return _found_in_fields(table, ctx, fields, lambda normal: contains(normal, bodies))


def _found_in_fields(table: pd.DataFrame, ctx: Context, fields: list[str],
                     find: Callable[[pa.Array], np.ndarray]) -> pd.arrays.BooleanArray:
    """Where ``find`` (run on the normal form of each field's distinct values) holds in
    one of the fields:
    unknown only where every field is empty. An empty remarks cell next to a
    description holds no phrase; were it unknown, adding ``remarks`` to a rule would
    make ``not`` of the rule unknown on every row without remarks."""
    found = np.zeros(len(table), dtype=bool)
    present = np.zeros(len(table), dtype=bool)
    for name in fields:
        if name in table:
            codes, _ = ctx.cache.field(name)
            found |= np.append(np.asarray(find(ctx.cache.normal(name)), dtype=bool), False)[codes]
            present |= codes >= 0
    return boolean(found, ~present)


@predicate("hs_prefix", Arg("prefixes", "digits"),
           Arg("field", "field", False, field_kind="text", default="hs_code"))
def hs_prefix(table: pd.DataFrame, ctx: Context, prefixes: list[str], field: str = "hs_code") -> pd.arrays.BooleanArray:
    """The code starts with one of the prefixes (quoted: ``"0101"``).

    Only the code falling under a prefix, never a shorter code covering one: the
    prefixes packs list are chapters and headings ("84", "2846") that every declared
    code (4 digits or more) is at least as long as, or a line such as "8505119" that
    a covering 850511 does not point to more than to its sibling 8505111000. A rule
    that must see a shorter code covering a national line reads the lines from a
    table (``in_table`` with ``by: covers``), which also names them in the reason.
    """
    return _any_of([_match(ctx, field, f"^(?:{body})") for body in _alternations(sorted(set(prefixes)))])


# How a declared code may meet a table's line: equal to it, falling under it (at least
# as long and starting with it) or covering it (shorter, and the line starts with it).
MATCH_MODES = ("exact", "prefix", "covers")
# Covered or matched lines a reason names (``as:``); the rest are counted.
MAX_NAMED_LINES = 3


def _check_reference_cells(scope: PackScope, args: dict[str, Any], where: str) -> None:
    """The table has the columns the rule reads, its keys are not empty and its
    validity dates are dates where ``valid_on`` compares them; ``as`` and ``label``
    name lines, so they need a field matched by prefix or covers."""
    cells = {spec["column"]: "key" for spec in args["match"].values()}
    if args.get("valid_on"):
        cells.update({"valid_from": "date", "valid_to": "date"})
    if (args.get("name") or args.get("label")) and _hierarchy_field(args["match"]) is None:
        raise scope.fail(f"{where}: 'as' and 'label' name the table's lines a code falls under or "
                         "covers; match a field with by: prefix or by: covers")
    if args.get("label") and not args.get("name"):
        raise scope.fail(f"{where}: 'label' labels the lines 'as' names; give 'as: NAME' too")
    columns = [*cells, *(args.get("where") or {}), *([args["label"]] if args.get("label") else [])]
    scope.require(args["table_name"], list(dict.fromkeys(columns)), where, cells)


@predicate("in_table", Arg("table", "table"), Arg("match", "match"), Arg("where", "where", False),
           Arg("valid_on", "field", False, field_kind="date"), Arg("label", "text", False),
           Arg("as", "name", False), check=_check_reference_cells)
def in_table(table: pd.DataFrame, ctx: Context, table_name: str, match: dict[str, dict],
             where: dict[str, list[str]] | None = None, valid_on: str | None = None,
             label: str | None = None, name: str | None = None) -> pd.arrays.BooleanArray:
    """Some row of the reference ``table`` matches (``match: {field: column or {column,
    by}}``, ``by`` one of ``exact``, ``prefix``: the code is at least as long as the
    row's line and starts with it, or ``covers``: the code is shorter and the line
    starts with it), rows limited by ``where``, within its ``valid_from``/``valid_to``
    when ``valid_on`` names a date field; ``as`` names the lines met, with their
    ``label`` column, for the reason.

    A declared code falls under a line (``prefix``: 2846901500 under 28469015) or
    covers one (``covers``: 284690 covers 28469015 and every other line of the
    subheading); the two never overlap, so a rule can tell "this is a controlled
    line" from "this could be one: ask for the national line". Table rows are grouped
    by key length and validity window (a handful of groups); each group is one
    vectorized ``isin`` of the distinct declared values against the group's keys
    (for ``covers`` the keys are every shorter start of every line), and each window
    one broadcast to the rows, so the cost grows neither with the table's rows nor
    with the file's beyond one pass per window.
    """
    hierarchy = _hierarchy_field(match)
    by = match[hierarchy]["by"] if hierarchy else "exact"
    exact_fields = [f for f, spec in match.items() if spec["by"] == "exact"]
    groups = _reference_keys(load_reference(table_name, ctx.reference_dirs), match, exact_fields, hierarchy,
                             where or {}, bool(valid_on), label)
    codes, distinct = ctx.cache.rows(list(match))
    exact = _joined([_lower(distinct[f]) for f in exact_fields]) if exact_fields else None
    code = _lower(distinct[hierarchy]) if hierarchy else None
    lengths = code.str.len() if hierarchy else None
    found_by_window: dict[tuple[str, str], np.ndarray] = {}
    lines_by_window: dict[tuple[str, str], dict[int, list[tuple[str, str]]]] = {}
    for (length, window), keys in groups.items():
        if by == "prefix":
            start = code.str.slice(0, length).where(lengths >= length)
            candidates = start if exact is None else _joined([exact, start])
        elif by == "covers":  # the whole code, against every shorter start of the lines
            candidates = code if exact is None else _joined([exact, code])
        else:
            candidates = exact
        found = candidates.isin(list(keys)).to_numpy(dtype=bool)
        found_by_window[window] = found_by_window.get(window, False) | found
        if name:
            met = lines_by_window.setdefault(window, {})
            for value in np.flatnonzero(found):  # distinct values, not rows
                met.setdefault(int(value), []).extend(keys[candidates.iat[value]])
    result = np.zeros(len(table), dtype=bool)
    hit_by_window = []
    for window, found in found_by_window.items():
        hit = np.append(found, False)[codes]
        if valid_on:
            hit &= _within(table[valid_on], *window)
        hit_by_window.append((window, hit))
        result |= hit
    if name and ctx.named is not None:
        ctx.named[name] = _named_lines(codes, hit_by_window, lines_by_window, table.index)
    return boolean(result, (codes < 0) & ~result)


def _hierarchy_field(match: dict[str, dict]) -> str | None:
    """The field matched along the code hierarchy (by prefix or covers), if any."""
    return next((f for f, spec in match.items() if spec["by"] != "exact"), None)


def _reference_keys(reference: pd.DataFrame, match: dict[str, dict], exact_fields: list[str],
                    hierarchy: str | None, where: dict[str, list[str]], windows: bool,
                    label: str | None = None) -> dict[tuple[int, tuple[str, str]], dict[str, list[tuple[str, str]]]]:
    """The reference rows as lower-cased keys, grouped by (key length, (valid_from,
    valid_to)), each key with the (line, label) pairs it stands for; rows outside
    ``where`` left out.

    By ``prefix`` a row's key ends with its line; by ``covers`` a row gives one key
    per shorter start of its line (28469015 gives 2, 28, ..., 2846901), so a declared
    code covers the line exactly when it equals one of them. Reference tables hold
    tens of rows, so plain Python is quicker here than DataFrame operations.
    """
    allowed = {column: {value.lower() for value in values} for column, values in where.items()}
    columns = [match[f]["column"] for f in exact_fields] + ([match[hierarchy]["column"]] if hierarchy else [])
    by = match[hierarchy]["by"] if hierarchy else "exact"
    extra = [*allowed, *(["valid_from", "valid_to"] if windows else []), *([label] if label else [])]
    records = reference[list(dict.fromkeys([*columns, *extra]))].to_dict("records")
    groups: dict[tuple[int, tuple[str, str]], dict[str, list[tuple[str, str]]]] = {}
    for record in records:
        if any(record[column].lower() not in values for column, values in allowed.items()):
            continue
        window = (record["valid_from"], record["valid_to"]) if windows else ("", "")
        exact = [record[c].lower() for c in columns[:len(exact_fields)]]
        line = record[columns[-1]] if hierarchy else ""
        if by == "covers":
            keys = [(0, "\x1f".join([*exact, line[:n].lower()])) for n in range(1, len(line))]
        else:
            keys = [(len(line) if hierarchy else 0, "\x1f".join(record[c].lower() for c in columns))]
        for length, key in keys:
            groups.setdefault((length, window), {}).setdefault(key, []).append((line, record[label] if label else ""))
    return groups


def _named_lines(codes: np.ndarray, hit_by_window: list[tuple[tuple[str, str], np.ndarray]],
                 lines_by_window: dict[tuple[str, str], dict[int, list[tuple[str, str]]]],
                 index: pd.Index) -> pd.Series:
    """Per row, the lines it met in the windows it hit, as reason text; missing where
    it met none.

    Rows with the same declared value that hit the same windows read the same text,
    so the text is built once per such group (a few per distinct value), not per row.
    """
    group = codes.astype(np.int64)
    for _window, hit in hit_by_window:
        group = _renumber(np.where(group >= 0, group * 2 + hit, -1))
    hit_any = np.zeros(len(codes), dtype=bool)
    for _window, hit in hit_by_window:
        hit_any |= hit
    rows = np.flatnonzero(hit_any)
    groups, first = np.unique(group[rows], return_index=True)
    text_of = np.full(int(group.max()) + 1 if len(group) else 0, None, dtype=object)
    for number, row in zip(groups, rows[first]):
        met = {line for window, hit in hit_by_window if hit[row]
               for line in lines_by_window.get(window, {}).get(int(codes[row]), [])}
        text_of[number] = _lines_text(met)
    texts = np.full(len(codes), None, dtype=object)
    texts[rows] = text_of[group[rows]]
    return pd.Series(pd.array(texts, dtype="str"), index=index)


def _lines_text(lines: set[tuple[str, str]]) -> str:
    """"8505111000 (rare-earth permanent magnets); 8505119000 (other metal magnets)":
    the most specific (longest) line first, then by code, at most ``MAX_NAMED_LINES``
    and a count of the rest, so the same lines always read the same."""
    ordered = sorted(lines, key=lambda pair: (-len(pair[0]), pair[0], pair[1]))
    named = [f"{line} ({label})" if label else line for line, label in ordered[:MAX_NAMED_LINES]]
    rest = len(ordered) - MAX_NAMED_LINES
    return "; ".join(named) + (f" and {rest} more" if rest > 0 else "")


def _joined(parts: list[pd.Series]) -> pd.Series:
    """Join several text columns into one key per row; missing if any part is missing."""
    joined = parts[0].reset_index(drop=True).astype("str")
    for part in parts[1:]:
        joined = joined.str.cat(part.reset_index(drop=True).astype("str"), sep="\x1f")
    return joined


def _within(dates: pd.Series, valid_from: str, valid_to: str) -> np.ndarray:
    """Rows whose date lies in [valid_from, valid_to]; an undated row is in any window."""
    inside = np.ones(len(dates), dtype=bool)
    values = dates.to_numpy(dtype="datetime64[s]")
    known = ~np.isnat(values)
    if valid_from:
        inside &= ~known | (values >= np.datetime64(valid_from, "s"))
    if valid_to:
        inside &= ~known | (values <= np.datetime64(valid_to, "s"))
    return inside


def _check_window(scope: PackScope, args: dict[str, Any], where: str) -> None:
    """A date window reads the date field (the rule needs it); without one the rule
    runs on files without dates."""
    if args.get("within_days") is not None:
        scope.need(args["date"])
    if args.get("within_days") is not None and args["within_days"] > MAX_WITHIN_DAYS:
        raise scope.fail(f"{where}.within_days: at most {MAX_WITHIN_DAYS:,} days (a century); "
                         f"got {args['within_days']:,}; leave it out to count over the whole file")


@predicate("group_count", Arg("by", "fields"), Arg("min", "number"), Arg("within_days", "int", False),
           Arg("date", "field", False, field_kind="date", default="declaration_date", absent_ok=True),
           Arg("where", "cond", False), Arg("as", "name", False), Arg("siblings", "name", False),
           check=_check_window)
def group_count(table: pd.DataFrame, ctx: Context, by: list[str], min: float,
                within_days: int | None = None, date: str = "declaration_date",
                where: Any = None, name: str | None = None, siblings: str | None = None) -> pd.arrays.BooleanArray:
    """At least ``min`` rows of the same group (``by``), within ±``within_days`` days
    and satisfying ``where``; ``as`` names the count for the reason, ``siblings`` the
    other declaration ids counted (at most five, then how many more)."""
    return _group_aggregate(table, ctx, by, None, min, within_days, date, where, name, siblings)


@predicate("group_sum", Arg("by", "fields"), Arg("field", "field", field_kind="number"), Arg("min", "number"),
           Arg("within_days", "int", False),
           Arg("date", "field", False, field_kind="date", default="declaration_date", absent_ok=True),
           Arg("where", "cond", False), Arg("as", "name", False), Arg("siblings", "name", False),
           check=_check_window)
def group_sum(table: pd.DataFrame, ctx: Context, by: list[str], field: str, min: float,
              within_days: int | None = None, date: str = "declaration_date",
              where: Any = None, name: str | None = None, siblings: str | None = None) -> pd.arrays.BooleanArray:
    """The number field sums to at least ``min`` over the rows of the same group
    (``by``), within ±``within_days`` days and satisfying ``where``; ``as`` names the sum
    for the reason, ``siblings`` the other declaration ids summed (at most five)."""
    return _group_aggregate(table, ctx, by, table[field].fillna(0.0), min, within_days, date, where, name,
                            siblings)


def _group_aggregate(table, ctx, by, values, minimum, within_days, date, where, name, siblings=None):
    """Sum ``values`` (None: count the rows) over the rows of the same group (and date
    window) that satisfy ``where``; compare each row's total with ``minimum``.

    The rows are gathered into :class:`~detector.rules.groups.GroupCells` (one cell per
    group and day) and each row is answered from its window of cells, so the cost is
    O(n log n) whatever the group sizes.
    """
    n = len(table)
    eligible = np.ones(n, dtype=bool)
    if where is not None:
        eligible &= np.asarray(ctx.evaluate(where, table).fillna(False), dtype=bool)
    groups, distinct = ctx.cache.rows(list(by))
    keys = group_keys(distinct, list(by)).to_numpy(dtype=object)
    # Only the rows the condition counts are gathered and answered: a row outside
    # ``where`` has no total, and a narrow ``where`` makes the work small.
    rows = np.flatnonzero(eligible & (groups >= 0))
    days = table[date].to_numpy(dtype="datetime64[D]")[rows] if within_days is not None else None
    ids = table["declaration_id"].iloc[rows].astype("str") if siblings and "declaration_id" in table else None
    cells = GroupCells(within_days)
    cells.add(groups[rows], keys, days, None if values is None else values.to_numpy(dtype="float64")[rows], ids, rows)
    windows = cells.windows(groups[rows], keys, days)
    totals = np.full(n, np.nan)
    totals[rows] = cells.totals(windows)
    if name and ctx.named is not None:
        ctx.named[name] = pd.Series(totals, index=table.index)
    if siblings and ctx.named is not None:
        named = np.full(n, None, dtype=object)
        if ids is not None:
            named[rows] = cells.siblings(windows, rows)
        ctx.named[siblings] = pd.Series(pd.array(named, dtype="str"), index=table.index)
    with np.errstate(invalid="ignore"):
        return boolean(np.nan_to_num(totals, nan=-np.inf) >= float(minimum))
