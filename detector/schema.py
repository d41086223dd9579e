"""The canonical declaration schema: field names, types, aliases, mappings, validation.

This is the one module that knows the declaration field names. It turns a table of
text cells with the user's column names into a typed table with canonical names, and
lists every cell it could not use as a problem (row, column, value, problem) the way
pandera reports failure cases. A bad cell never drops its row: the cell becomes
missing, the row is marked invalid, and later stages score what is usable.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from detector.errors import InputFileError, MappingError, ReferenceTableError
from detector.reference import load_reference, load_reference_file, reference_layers, require_cells, require_columns
from detector.resources import default_mappings_dir
from detector.text import ALTERNATION_BUDGET, contains, normal_form, phrase_patterns
from detector.text_columns import edge_bytes, join_per_row, string_buffers
from detector.threads import thread_pool


@dataclass(frozen=True)
class Field:
    """One canonical declaration field."""

    name: str
    kind: str
    doc: str
    required: bool = False
    aliases: tuple[str, ...] = ()


FIELDS: tuple[Field, ...] = (
    Field("declaration_id", "id", "declaration number, unique in the file", True,
          ("id", "declaration_no", "declaration_number", "decl_id", "entry_number", "sgd_id")),
    Field("declaration_date", "date", "date of the declaration (ISO YYYY-MM-DD)", False,
          ("date", "decl_date", "entry_date", "sgd_date")),
    Field("direction", "direction", "export or import", False, ("flow", "trade_flow")),
    Field("exporter", "text", "exporter or shipper name or id", False,
          ("shipper", "seller", "exporter_name", "exporter_id", "seller_id")),
    Field("consignee", "text", "consignee or importer name or id", False,
          ("importer", "buyer", "receiver", "importer_name", "importer_id", "consignee_name")),
    Field("declarant", "text", "declarant or customs broker", False,
          ("broker", "declarant_id", "customs_broker")),
    Field("office_id", "text", "customs office", False, ("office", "customs_office")),
    Field("origin_country", "country", "declared country of origin (ISO alpha-2)", False,
          ("origin", "country_of_origin", "coo", "origin_country_code")),
    Field("export_country", "country", "country the goods leave from (ISO alpha-2)", False,
          ("country_of_export", "departure_country", "country_of_departure",
           "dispatch_country", "shipped_from")),
    Field("destination_country", "country", "country of destination (ISO alpha-2)", False,
          ("destination", "country_of_destination")),
    Field("hs_code", "hs_code", "HS / national tariff code, 4 to 10 digits", True,
          ("hs", "hscode", "tariff_code", "commodity_code", "hs6_code", "tariff_line")),
    Field("description", "text", "goods description", False,
          ("goods_description", "description_of_goods", "item_description",
           "commodity_description")),
    Field("remarks", "text", "free-text remarks", False, ("remark", "notes", "comments")),
    Field("quantity", "amount", "quantity in quantity_unit", False, ("qty",)),
    Field("quantity_unit", "quantity_unit", "unit of quantity (UN/ECE Rec 20 code)", False,
          ("unit", "qty_unit", "uom")),
    Field("gross_weight_kg", "amount", "gross weight in kg", False,
          ("gross_weight", "gross_kg", "gross_mass", "gw")),
    Field("net_weight_kg", "amount", "net weight in kg", False,
          ("net_weight", "net_kg", "net_mass", "nw")),
    Field("declared_value", "amount", "declared value in currency", False,
          ("value", "invoice_value", "customs_value", "item_price", "fob_value")),
    Field("currency", "currency", "ISO 4217 currency of declared_value (default USD)", False,
          ("currency_code", "ccy")),
    Field("transport_mode", "transport_mode", "sea, air, road, rail, post, express or other",
          False, ("mode_of_transport", "transport", "mode")),
    Field("package_type", "package_type", "UN/ECE Rec 21 package code", False,
          ("packaging", "kind_of_packages", "package_kind")),
    Field("package_count", "count", "number of packages", False,
          ("packages", "number_of_packages", "no_of_packages", "pkgs")),
    Field("license_number", "licence",
          "export licence number; empty, unnumbered or pending (N/A, —, 申请中) means none", False,
          ("licence_number", "license", "licence", "export_license", "export_licence",
           "license_no", "licence_no", "permit_number")),
)

FIELDS_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
REQUIRED: tuple[str, ...] = tuple(f.name for f in FIELDS if f.required)
TRANSPORT_MODES: tuple[str, ...] = ("sea", "air", "road", "rail", "post", "express", "other")
# Declarations write the flow in English, as a code (EX/IM as in the EU's declaration
# types, X/M as in trade statistics) or in Chinese (出口 export, 进口 import; 出境/入境
# leaving/entering the territory, on inspection forms).
DIRECTIONS: dict[str, str] = {
    "export": "export", "exports": "export", "exp": "export", "outbound": "export",
    "x": "export", "e": "export", "ex": "export", "exportation": "export", "exported": "export",
    "出口": "export", "出境": "export",
    "import": "import", "imports": "import", "imp": "import", "inbound": "import",
    "m": "import", "i": "import", "im": "import", "importation": "import", "imported": "import",
    "进口": "import", "入境": "import",
}
DEFAULT_CURRENCY = "USD"
# A mapping's format for a country field whose codes are anonymised ("QLRUMZ", "412"):
# they are kept as written and rules compare them with each other only.
OPAQUE = "opaque"
PROBLEM_COLUMNS = ["row", "column", "field", "value", "problem"]

# ASCII digits only: other scripts' digits are folded to ASCII first (_fold_digits).
_ISO_DATE_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$", re.ASCII)
_HS_CODE_RE = re.compile(r"\d{4,10}", re.ASCII)
_NUMBER = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$|^[+-]?inf(?:inity)?$"
_HS_SEPARATORS = re.compile(r"[.\s\-]")


def normalise_header(name: str) -> str:
    """Lower-case a column name and collapse punctuation, so 'Gross Weight' ~ gross_weight."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


# --------------------------------------------------------------------------- mapping


@dataclass
class ColumnMapping:
    """How a file's columns become canonical fields.

    ``columns`` maps canonical name -> source column; ``constants`` gives a fixed value
    for a field the file lacks (``direction: import`` for an import-only extract);
    ``formats`` gives a ``strftime`` date format for a date field that is not ISO, or
    ``opaque`` for a country field holding anonymised codes that name no real country;
    ``values`` translates a system's own codes for a field into words the detector
    knows (``transport_mode: {"10": sea, "40": air}``) before validation.
    """

    columns: dict[str, str] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)
    source: str = "<mapping>"
    values: dict[str, dict[str, str]] = field(default_factory=dict)


# A mapping file's sections are checked one after another, each with its own message.
def load_mapping(spec: str | Path | None) -> ColumnMapping:  # noqa: C901
    """Read a mapping YAML file, or a shipped mapping by name (e.g. ``wco_bacuda``)."""
    if spec is None:
        return ColumnMapping()
    path = Path(spec)
    if not path.is_file():
        shipped = default_mappings_dir() / f"{spec}.yaml"
        if not shipped.is_file():
            names = sorted(p.stem for p in default_mappings_dir().glob("*.yaml"))
            raise MappingError(
                f"{spec}: mapping file not found (shipped mappings: {', '.join(names) or 'none'})"
            )
        path = shipped
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise MappingError(f"{path}: cannot read mapping: {exc}") from exc
    if not isinstance(document, dict):
        raise MappingError(f"{path}: a mapping is a YAML mapping with a 'columns:' section")
    unknown_keys = set(document) - {"columns", "constants", "formats", "values", "description"}
    if unknown_keys:
        raise MappingError(
            f"{path}: unknown section(s) {', '.join(sorted(unknown_keys))}; "
            "expected columns, constants, formats, values, description"
        )
    sections: dict[str, dict[str, str]] = {}
    for section in ("columns", "constants", "formats"):
        entries = document.get(section) or {}
        if not isinstance(entries, dict):
            raise MappingError(f"{path}: '{section}' must map canonical field -> value")
        for canonical, value in entries.items():
            if canonical not in FIELDS_BY_NAME:
                close = difflib.get_close_matches(str(canonical), FIELDS_BY_NAME, n=3)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise MappingError(
                    f"{path}: '{canonical}' in {section} is not a canonical field{hint}"
                )
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise MappingError(f"{path}: {section}.{canonical} must be a single value")
        sections[section] = {str(k): str(v) for k, v in entries.items()}
    for canonical, written in sections["formats"].items():
        _check_format(path, canonical, written)
    return ColumnMapping(sections["columns"], sections["constants"], sections["formats"], str(path),
                         _value_section(document.get("values"), path))


def _check_format(path: Path, canonical: str, written: str) -> None:
    """Stop at mapping load on a format that could only fail later, on every row."""
    kind = FIELDS_BY_NAME[canonical].kind
    if kind == "country":
        if written != OPAQUE:
            raise MappingError(
                f"{path}: formats.{canonical}: '{written}' is no country format; write '{OPAQUE}' "
                "for anonymised codes that are kept as written, or leave it out for ISO codes and names")
    elif kind == "date":
        _check_date_format(path, canonical, written)
    else:
        raise MappingError(f"{path}: formats.{canonical}: formats apply to date fields (a strftime "
                           f"format) and country fields ('{OPAQUE}') only")


# A day whose year, month and day differ from each other and from a default (1900-01-01).
_PROBE_DAY = datetime(2031, 11, 23, tzinfo=timezone.utc)


def _check_date_format(path: Path, canonical: str, fmt: str) -> None:
    """A date format must be one the date reader accepts and must name a whole day.

    The probe day written in the format and read back must be the same day: this
    rejects an unknown directive (``%Q``), text without directives (``yyyy-mm-dd``)
    and a format that leaves out the year, month or day (``%d/%m``), each of which
    would otherwise make every date of the file invalid or wrong.
    """
    example = "e.g. %d/%m/%Y or %y-%m-%d"
    try:
        read = pd.to_datetime(pd.Series([_PROBE_DAY.strftime(fmt)]), format=fmt).iloc[0]
    except (ValueError, TypeError) as exc:
        raise MappingError(f"{path}: formats.{canonical}: '{fmt}' is not a date format the reader "
                           f"accepts ({exc}); {example}") from exc
    if (read.year, read.month, read.day) != (_PROBE_DAY.year, _PROBE_DAY.month, _PROBE_DAY.day):
        raise MappingError(f"{path}: formats.{canonical}: '{fmt}' does not name a whole date "
                           f"(year, month and day); {example}")


def _value_section(entries, path: Path) -> dict[str, dict[str, str]]:
    """``values:`` as canonical field -> {the file's code: the value to read instead}."""
    entries = entries or {}
    if not isinstance(entries, dict):
        raise MappingError(f"{path}: 'values' must map canonical field -> {{code: value}}")
    values = {}
    for canonical, table in entries.items():
        if canonical not in FIELDS_BY_NAME:
            raise MappingError(f"{path}: '{canonical}' in values is not a canonical field")
        if not isinstance(table, dict) or not all(
                isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in [*table, *table.values()]):
            raise MappingError(f"{path}: values.{canonical} must map each code to one value")
        values[str(canonical)] = {str(k): str(v) for k, v in table.items()}
    return values


def _alias_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for spec in FIELDS:
        for alias in spec.aliases:
            index[normalise_header(alias)] = spec.name
    for spec in FIELDS:  # a canonical name always beats an alias of another field
        index[normalise_header(spec.name)] = spec.name
    return index


_ALIASES = _alias_index()


def resolve_columns(columns: list[str], mapping: ColumnMapping, file_label: str) -> dict[str, str]:
    """Return canonical name -> source column for a file with ``columns``.

    The mapping decides first; then a column named like a canonical field or one of its
    aliases. Raises when a mapped source column is absent or a required field is missing.
    """
    resolved: dict[str, str] = {}
    for canonical, source in mapping.columns.items():
        if source not in columns:
            raise MappingError(
                f"{file_label}: mapping {mapping.source} maps {canonical} to column '{source}', "
                f"which the file lacks; columns found: {', '.join(columns)}"
                + _closest_hint(source, columns)
            )
        resolved[canonical] = source
    taken = set(resolved.values())
    # Exact canonical names first, then aliases, so 'declared_value' beats 'value'.
    for exact_pass in (True, False):
        for column in columns:
            canonical = _ALIASES.get(normalise_header(column))
            if canonical is None or column in taken or canonical in resolved \
                    or canonical in mapping.constants \
                    or exact_pass != (normalise_header(column) == canonical):
                continue
            resolved[canonical] = column
            taken.add(column)
    missing = [name for name in REQUIRED if name not in resolved and name not in mapping.constants]
    if missing:
        name = missing[0]
        raise InputFileError(
            f"{file_label}: missing required column '{name}'; columns found: "
            f"{', '.join(columns) if columns else '(none)'}"
            + _closest_hint(name, columns)
            + " (map it with --mapping FILE)"
        )
    return resolved


def _closest_hint(name: str, columns: list[str]) -> str:
    by_normal = {normalise_header(c): c for c in columns}
    candidates = [normalise_header(name)] + [
        normalise_header(a) for a in FIELDS_BY_NAME.get(name, Field(name, "", "")).aliases
    ]
    close: list[str] = []
    for candidate in candidates:
        for match in difflib.get_close_matches(candidate, list(by_normal), n=3, cutoff=0.6):
            if by_normal[match] not in close:
                close.append(by_normal[match])
    return f"; closest: {', '.join(close[:3])}" if close else ""


# ------------------------------------------------------------------------ validation


@dataclass
class Validated:
    """A typed canonical table and the problems found while building it."""

    table: pd.DataFrame
    problems: pd.DataFrame
    # field -> per row, the text of a cell that could not be read, missing elsewhere
    # (only fields with such a cell): what a rule needs to tell an unreadable cell from
    # an empty one, and to name it in its reason.
    unreadable: dict[str, pd.Series] = field(default_factory=dict)


def canonical_frame(raw: pd.DataFrame, resolved: dict[str, str], mapping: ColumnMapping) -> pd.DataFrame:
    """Select and rename the mapped columns; add mapping constants as full columns."""
    frame = pd.DataFrame(
        {canonical: raw[source] for canonical, source in resolved.items()}, index=raw.index
    )
    for canonical, value in mapping.constants.items():
        frame[canonical] = pd.Series(value, index=raw.index, dtype="str")
    for canonical, codes in mapping.values.items():
        if canonical in frame:  # codes are matched as written, after trimming spaces and folding digits
            text = _fold_digits(frame[canonical].astype("str").str.strip())
            frame[canonical] = text.replace(codes).where(text.isin(list(codes)), frame[canonical])
    return frame


def validate(
    frame: pd.DataFrame,
    resolved: dict[str, str] | None = None,
    formats: dict[str, str] | None = None,
    reference_dirs: tuple[Path, ...] = (),
) -> Validated:
    """Type every canonical column of ``frame`` and list the cells that could not be used.

    Parameters
    ----------
    frame : DataFrame
        Canonical column names, cells as text (or already typed, from Parquet).
    resolved : dict, optional
        canonical -> source column, used to name the user's column in problems.
    formats : dict, optional
        canonical date field -> ``strftime`` format, for files that are not ISO;
        canonical country field -> ``opaque``, for anonymised codes kept as written.
    reference_dirs : tuple of Path, optional
        Folders whose ``transport_modes``, ``package_types`` and ``quantity_units``
        tables add words to the shipped ones (a rule pack's ``reference/`` folder).

    Returns
    -------
    Validated
        ``table`` with canonical columns in schema order (bad cells missing),
        ``problems`` with columns row (1-based data row), column, field, value, problem,
        and ``unreadable``: per field, the text of each cell that could not be read.
    """
    resolved = resolved or {}
    formats = formats or {}
    typed: dict[str, pd.Series] = {}
    unreadable: dict[str, pd.Series] = {}
    problem_parts: list[pd.DataFrame] = []
    specs = [spec for spec in FIELDS if spec.name in frame.columns]
    cells = [_one_value_per_cell(frame[spec.name]) for spec in specs]
    columns = [usable for usable, _shown, _issues in cells]
    # Columns are independent and the Arrow kernels release the GIL, so they are typed
    # side by side; results are gathered in schema order, so the output is the same.
    with thread_pool(len(specs), rows=len(frame)) as pool:
        normalised = list(pool.map(
            lambda spec, raw: _normalise(raw, spec, formats.get(spec.name), reference_dirs), specs, columns))
    for spec, (_usable, shown, unusable), (values, issues) in zip(specs, cells, normalised):
        typed[spec.name] = values
        parts, flagged = _field_problems(spec.name, resolved.get(spec.name, spec.name), shown, unusable, issues)
        problem_parts.extend(parts)
        unread = _unread(flagged, values, shown)
        if unread is not None:
            unreadable[spec.name] = unread
    table = pd.DataFrame(typed, index=frame.index)
    order = {name: position for position, name in enumerate(frame.columns)}
    problems = pd.concat([empty_problems(), *problem_parts], ignore_index=True)
    problems = problems.assign(_order=problems["field"].map(order)).sort_values(
        ["row", "_order"], kind="stable").drop(columns="_order").reset_index(drop=True)
    return Validated(table, problems, unreadable)


def _field_problems(field: str, column: str, shown: pd.Series, unusable: list,
                    issues: list) -> tuple[list[pd.DataFrame], np.ndarray]:
    """One field's problem rows (row, column, field, value, problem) and the rows
    flagged. A cell that is no single value is reported once, not again as missing or
    malformed."""
    set_aside = np.zeros(len(shown), dtype=bool)
    for mask, _message in unusable:
        set_aside |= mask
    flagged = set_aside.copy()
    parts = []
    for mask, message in [*unusable, *((mask & ~set_aside, message) for mask, message in issues)]:
        if not mask.any():
            continue
        flagged |= mask
        rows = np.flatnonzero(mask)
        problem = message if isinstance(message, str) else message[rows]
        parts.append(pd.DataFrame({"row": rows + 1, "column": column, "field": field,
                                   "value": _shown_values(shown.iloc[rows]).to_numpy(), "problem": problem}))
    return parts, flagged


def _unread(flagged: np.ndarray, values: pd.Series, shown: pd.Series) -> pd.Series | None:
    """The text of the cells that had some but whose value is missing after a problem
    was found (what could not be read), missing elsewhere. An empty required cell is a
    problem too, but nothing was there to read. Only the flagged rows are looked at;
    None when there are none."""
    candidates = np.flatnonzero(flagged & values.isna().to_numpy())
    if not len(candidates):
        return None
    cells = shown.iloc[candidates]
    has_text = (cells.notna() & cells.astype("str").str.strip().ne("")).to_numpy(dtype=bool)
    if not has_text.any():
        return None
    text = np.full(len(values), None, dtype=object)
    text[candidates[has_text]] = cells[has_text].astype("str").str.strip().to_numpy(dtype=object)
    return pd.Series(pd.array(text, dtype="str"), index=values.index)


def empty_problems() -> pd.DataFrame:
    """A problems table with no rows and the right column types."""
    return pd.DataFrame({
        "row": pd.Series(dtype="int64"), **{c: pd.Series(dtype="str") for c in PROBLEM_COLUMNS[1:]}})


def row_errors(problems: pd.DataFrame, n_rows: int) -> tuple[np.ndarray, pd.Series]:
    """Per row: whether it is invalid, and its problems joined into one readable cell."""
    rows = problems["row"].to_numpy(dtype="int64") - 1
    invalid = np.zeros(n_rows, dtype=bool)
    invalid[rows] = True
    text = pa.array(problems["column"].astype("str") + ": " + problems["problem"].astype("str"),
                    from_pandas=True)
    return invalid, join_per_row(rows, text, n_rows, "; ")


def _shown_values(values: pd.Series) -> pd.Series:
    return values.astype("str")


def _is_text(values: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(values.dtype) or values.dtype == object


def _one_value_per_cell(raw: pd.Series) -> tuple[pd.Series, pd.Series, list]:
    """A column as cells validation can read, the text to show for each cell in
    problems, and the cells that hold no single value, as problems.

    Parquet columns of bytes (binary; strings written without their UTF-8 mark by some
    older systems) are read as UTF-8 text, and a cell that is not UTF-8 is a problem.
    List, struct and map columns hold several values per cell, so no cell of theirs is
    used. Only columns of Python objects need this look: text and numbers arrive typed.
    """
    if raw.dtype != object:
        return raw, raw, []
    try:
        cells = pa.array(raw, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):
        # Objects Arrow cannot type as one column: a Parquet map column (pandas holds
        # its cells as lists of pairs) or mixed objects from a DataFrame. A Parquet
        # column is one type throughout, so its first cell tells.
        first = raw.first_valid_index()
        if first is None or not isinstance(raw.loc[first], (list, tuple, dict, set, np.ndarray)):
            return raw, raw, []
        return _several_values(raw, raw.notna().to_numpy(), "several values (as in a map or list column)")
    if pa.types.is_nested(cells.type):
        found = ("a record" if pa.types.is_struct(cells.type)
                 else "a map" if pa.types.is_map(cells.type) else "a list")
        return _several_values(raw, cells.is_valid().to_numpy(zero_copy_only=False),
                               f"{found} (type {cells.type})")
    if not (pa.types.is_binary(cells.type) or pa.types.is_large_binary(cells.type)
            or pa.types.is_fixed_size_binary(cells.type)):
        return raw, raw, []
    try:
        text = pd.Series(pc.cast(cells, pa.large_string()).to_pandas(), index=raw.index, dtype="str")
        return text, text, []
    except pa.ArrowInvalid:  # some cell is not UTF-8: decode each distinct cell on its own
        codes, distinct = pd.factorize(raw, use_na_sentinel=True)
        decoded = [_utf8_or_none(bytes(value)) for value in distinct] + [None]
        shown = [bytes(value).decode("utf-8", "backslashreplace") for value in distinct] + [None]
        text = pd.Series(pd.array(decoded, dtype="str").take(codes), index=raw.index)
        present = codes >= 0
        return (text, pd.Series(pd.array(shown, dtype="str").take(codes), index=raw.index),
                [(present & text.isna().to_numpy(), "expected UTF-8 text, found other bytes")])


def _several_values(raw: pd.Series, present: np.ndarray, found: str) -> tuple[pd.Series, pd.Series, list]:
    """:func:`_one_value_per_cell` for a column of lists, records or maps: no cell is used."""
    return (pd.Series(None, index=raw.index, dtype="str"), raw.astype("str"),
            [(present, f"expected one value per cell, found {found}")])


def _utf8_or_none(value: bytes) -> str | None:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _fold_digits(values: pd.Series) -> pd.Series:
    """Text cells with every Unicode decimal digit as its ASCII digit and full-width
    letters and signs folded (Unicode NFKC).

    A code or number typed in full-width (０１０１) or Arabic-Indic (٠١٠١) digits would
    otherwise match no rule. Only cells with a non-ASCII character are looked at, once
    per distinct cell; a column of ASCII text is returned as it is after one check.
    """
    text = pa.array(values, from_pandas=True)
    if not len(text) or not pa.types.is_string(text.type) and not pa.types.is_large_string(text.type):
        return values
    # The highest byte of the column's text shows whether any cell has a non-ASCII
    # character: a tenth of a millisecond for a million cells.
    if all(_ascii_only(chunk) for chunk in (text.chunks if isinstance(text, pa.ChunkedArray) else [text])):
        return values
    foreign = pc.invert(pc.string_is_ascii(text)).fill_null(False).to_numpy(zero_copy_only=False)
    codes, distinct = pd.factorize(values[foreign])
    folded = values.copy()
    folded[foreign] = pd.array([_fold_cell(cell) for cell in distinct], dtype="str").take(codes)
    return folded


def _ascii_only(chunk: pa.Array) -> bool:
    """Whether no byte of a string array's cells is above 0x7F (a missing cell's bytes count too)."""
    bounds, data = string_buffers(chunk)
    return not len(data) or not len(chunk) or bounds[-1] <= bounds[0] or data[bounds[0]:bounds[-1]].max() < 0x80


# Characters NFKC leaves alone that are written for a decimal point: the Arabic one.
_DECIMAL_POINTS = str.maketrans({"\u066b": "."})


def _fold_cell(cell: str) -> str:
    """One cell with every Unicode decimal digit as its ASCII digit, after NFKC.

    Superscripts, fractions and circled numbers (Unicode "other numbers") are kept as
    they are, so that "10²" stays an unreadable number instead of becoming 102.
    """
    kept = "".join(char if unicodedata.category(char) == "No" else unicodedata.normalize("NFKC", char)
                   for char in cell)
    return "".join(str(unicodedata.decimal(char)) if char.isdecimal() and not char.isascii() else char
                   for char in kept).translate(_DECIMAL_POINTS)


def _clean_text(values: pd.Series) -> pd.Series:
    """Strip text cells; empty cells become missing (pyarrow kernels, no copy to objects)."""
    text = pa.array(values.astype("str"), from_pandas=True)
    chunks = text.chunks if isinstance(text, pa.ChunkedArray) else [text]
    # One chunk: rules take rows from the column many times, and taking from a chunked
    # string array joins its chunks first, every time.
    cleaned = pa.chunked_array([_clean_chunk(chunk) for chunk in chunks], type=text.type).combine_chunks()
    result = cleaned.to_pandas().astype("str")
    result.index = values.index
    return result


# A cell may have whitespace to trim only if it starts with a control byte, a space or
# the lead byte of a multi-byte Unicode space (U+0085, U+00A0, U+1680, U+2000-U+205F,
# U+3000), or ends with a control byte, a space or any continuation byte.
_MAY_START_SPACE = np.zeros(256, dtype=bool)
_MAY_START_SPACE[:0x21] = True
_MAY_START_SPACE[[0xC2, 0xE1, 0xE2, 0xE3]] = True
_MAY_END_SPACE = np.zeros(256, dtype=bool)
_MAY_END_SPACE[:0x21] = True
_MAY_END_SPACE[0x80:0xC0] = True


def _clean_chunk(chunk: pa.Array) -> pa.Array:
    """One chunk of :func:`_clean_text`.

    Most columns have nothing to trim: the first and last byte of every cell, read
    from the Arrow buffers, show it, and the chunk is then kept as it is, its empty
    cells marked missing in a new validity bitmap over the same bytes. Only a chunk
    with a cell that may need trimming is trimmed, by pyarrow.
    """
    if len(chunk) == 0 or not pa.types.is_large_string(chunk.type):
        return _trim_chunk(chunk)
    first, last, filled = edge_bytes(chunk)
    if ((_MAY_START_SPACE[first] | _MAY_END_SPACE[last]) & filled).any():
        return _trim_chunk(chunk)
    return _missing_unless(chunk, filled)


def _missing_unless(chunk: pa.Array, keep: np.ndarray) -> pa.Array:
    """``chunk`` with the cells where ``keep`` is False missing: a new validity bitmap
    over the same bytes, no copy of the text."""
    valid = keep & chunk.is_valid().to_numpy(zero_copy_only=False)
    if valid.all():
        return chunk
    bits = np.zeros(chunk.offset + len(chunk), dtype=bool)
    bits[chunk.offset:] = valid
    bitmap = pa.py_buffer(np.packbits(bits, bitorder="little"))
    _validity, offsets, data = chunk.buffers()
    return pa.Array.from_buffers(chunk.type, len(chunk), [bitmap, offsets, data], offset=chunk.offset)


def _trim_chunk(chunk: pa.Array) -> pa.Array:
    trimmed = pc.utf8_trim_whitespace(chunk)
    empty = pc.equal(pc.binary_length(trimmed), 0)
    return pc.if_else(empty, pa.scalar(None, trimmed.type), trimmed)


def _distinct_cells(raw: pd.Series) -> tuple[np.ndarray, pd.Series, np.ndarray]:
    """The column's distinct cells, cleaned as :func:`_clean_text` cleans them and their
    digits folded to ASCII (:func:`_fold_digits`), per row
    the position of its cell among them (-1 for a missing cell), and per row whether
    its cleaned cell has text.

    A million-row column holds a few distinct countries, modes or HS codes: cleaning
    those instead of every row leaves one pass over the rows, the factorize.
    """
    codes, uniques = pd.factorize(raw.astype("str"), use_na_sentinel=True)
    cells = _fold_digits(_clean_text(pd.Series(uniques, dtype="str")))
    return codes, cells, np.append(cells.notna().to_numpy(), False)[codes]


def _per_distinct(raw: pd.Series, function) -> tuple[pd.Series, np.ndarray]:
    """Apply ``function`` (text -> text or None) once per distinct cleaned cell.

    Returns the values per row (missing where the cell is empty or ``function`` gave
    None) and whether each row's cell had text at all.
    """
    codes, cells, present = _distinct_cells(raw)
    mapped = pd.array([None if pd.isna(cell) else function(cell) for cell in cells] + [None], dtype="str")
    return pd.Series(mapped.take(codes), index=raw.index), present


def _squash(text: str) -> str:
    """Collapse runs of whitespace, for matching names typed with odd spacing."""
    return " ".join(text.split())


def _text(raw: pd.Series, spec: Field, _fmt: str | None):
    return _clean_text(raw), []


def _licence(raw: pd.Series, spec: Field, _fmt: str | None):
    """A licence number as text, or missing where the cell holds none, so the licence
    rules read such a cell as no licence rather than as a licence held.

    Licence numbers are numbered: a cell without a digit other than 0 is none ("N/A",
    无, "—", "to be provided", "XK-0000000"), and so is a cell that says the licence is
    not held yet, anywhere in it ("applying / 申请中", "2025-XK-0113 pending";
    rules/reference/licence_placeholders.csv). Judged once per distinct cell.
    """
    text = _clean_text(raw)
    codes, cells = pd.factorize(text)
    normal = normal_form(pd.Series(cells, dtype="str"))
    none = ~contains(normal, ["[1-9]"]) | contains(normal, _licence_placeholders())
    placeholder = np.append(none, False)[codes]  # code -1: an empty cell, missing already
    return text.mask(placeholder), []


@lru_cache(maxsize=1)
def _licence_placeholders() -> list[str]:
    phrases = load_reference("licence_placeholders")["text"].tolist()
    return phrase_patterns(phrases, whole=False, budget=ALTERNATION_BUDGET)


def _identifier(raw: pd.Series, spec: Field, _fmt: str | None):
    values = _fold_digits(_clean_text(raw))
    missing = values.isna().to_numpy()
    issues = [(missing, f"missing {spec.name} (required)")]
    first_row = _first_rows(values)
    duplicate = first_row < np.arange(len(values))
    if duplicate.any():
        message = np.empty(len(values), dtype=object)
        message[duplicate] = ("duplicate declaration_id; first seen in row "
                              + pd.Series(first_row[duplicate] + 1).astype(str)).to_numpy()
        issues.append((duplicate, message))
    return values, issues


def _first_rows(values: pd.Series) -> np.ndarray:
    """Per row, the first row holding the same value (its own row when missing).

    ``factorize`` numbers distinct values in order of first appearance, so a row
    repeats an earlier value exactly when its code is not above every code before it:
    one hash pass and a running maximum, however many ids there are.
    """
    codes = _digit_id_codes(values)
    if codes is None:
        codes, _ = pd.factorize(values, use_na_sentinel=True)
    rows = np.arange(len(codes))
    seen_before = np.maximum.accumulate(np.concatenate([[-1], codes[:-1]])) if len(codes) else codes
    first_time = codes > seen_before
    first = np.zeros(max(int(codes.max()) + 1 if len(codes) else 0, 1), dtype=np.int64)
    first[codes[first_time]] = rows[first_time]
    return np.where(codes >= 0, first[np.maximum(codes, 0)], rows)


# Ids made of up to 17 digits (most customs systems number their declarations) are
# told apart by value and length, which fit in one int64: "012" and "12" stay apart.
_MAX_ID_DIGITS = 17


def _digit_id_codes(values: pd.Series) -> np.ndarray | None:
    """Codes in order of first appearance, as ``pd.factorize`` numbers the texts, for
    ids that are all digits: hashing one integer per row is several times cheaper than
    hashing a million strings. None when some id is not plain digits."""
    text = pa.array(values, from_pandas=True)
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    if not len(text) or not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
        return None
    try:
        numbers = pc.cast(text, pa.int64())
    except pa.ArrowInvalid:
        return None
    lengths = pc.binary_length(text)
    # The cast also reads a sign, and "-0" would then be "00".
    if (pc.max(lengths).as_py() or 0) > _MAX_ID_DIGITS or pc.any(pc.starts_with(text, "-")).as_py():
        return None
    keys = pc.add(pc.multiply(numbers, _MAX_ID_DIGITS + 1), lengths)
    missing = keys.is_null().to_numpy(zero_copy_only=False)
    filled = keys.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    numbered = pd.arrays.IntegerArray(filled, missing) if missing.any() else filled
    return pd.factorize(numbered, use_na_sentinel=True)[0]


def _date(raw: pd.Series, spec: Field, fmt: str | None):
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        return raw.dt.tz_localize(None).dt.normalize() if raw.dt.tz else raw.dt.normalize(), []
    # A year of declarations holds a few hundred distinct dates: parse each once.
    codes, cells, present = _distinct_cells(raw)
    if fmt:
        parsed = pd.to_datetime(cells, format=fmt, errors="coerce")
        expected = f"expected a date in format {fmt}"
    else:
        iso_day = pd.Series([u[:10] if not pd.isna(u) and _ISO_DATE_RE.match(u) else None for u in cells],
                            dtype="str")
        parsed = pd.to_datetime(iso_day, format="%Y-%m-%d", errors="coerce")
        expected = "expected an ISO date YYYY-MM-DD"
    days = np.append(parsed.to_numpy(dtype="datetime64[s]"), np.datetime64("NaT", "s"))[codes]
    bad = present & np.isnat(days)
    return pd.Series(days, index=raw.index), [(bad, expected)]


def _amount(raw: pd.Series, spec: Field, _fmt: str | None, whole: bool = False):
    if _is_text(raw):
        text = _fold_digits(_clean_text(raw))
        present = text.notna().to_numpy()
        numbers = _parse_numbers(text)
        numbers = _with_thousands_read(numbers, text, present)
    else:
        numbers = pd.to_numeric(raw, errors="coerce").astype("float64")
        present = raw.notna().to_numpy()
    values = numbers.to_numpy(copy=True)
    unparsable = present & np.isnan(values)
    infinite = np.isinf(values)
    with np.errstate(invalid="ignore"):
        negative = values < 0
    issues = [
        (unparsable, "expected a number like 1234.5"),
        (infinite, "expected a finite number"),
        (negative, "negative number; expected 0 or more"),
    ]
    bad = unparsable | infinite | negative
    if whole:
        with np.errstate(invalid="ignore"):
            fractional = ~bad & ~np.isnan(values) & (values != np.floor(values))
        issues.append((fractional, "expected a whole number"))
        bad |= fractional
    values[bad] = np.nan
    return pd.Series(values, index=raw.index, dtype="float64"), issues


# Digits in groups of three after the first one to three, with one separator throughout:
# 1,240,000 or 1 240 000 or 1'240'000, then an optional decimal point.
_GROUPED = r"^[+-]?\d{1,3}(?:(?:,\d{3})+|(?: \d{3})+|(?:'\d{3})+)(?:\.\d+)?$"


def _with_thousands_read(numbers: pd.Series, text: pd.Series, present: np.ndarray) -> pd.Series:
    """``numbers`` with the cells written with thousands separators read too.

    Invoices and spreadsheets write 1,240,000 and 1 240 000; a comma followed by
    exactly three digits in every group is a thousands separator (a decimal comma, as
    in 1,5, is not read here). Only the cells the plain parse left unread are looked
    at, so a clean column costs nothing.
    """
    unread = np.flatnonzero(present & np.isnan(numbers.to_numpy()))
    if not len(unread):
        return numbers
    cells = pa.array(text.iloc[unread], from_pandas=True)
    grouped = pc.match_substring_regex(cells, _GROUPED).to_numpy(zero_copy_only=False)
    if not grouped.any():
        return numbers
    plain = pc.replace_substring_regex(cells.filter(pa.array(grouped)), r"[, ']", "")
    values = numbers.to_numpy(copy=True)
    values[unread[grouped]] = pc.cast(plain, pa.float64()).to_numpy(zero_copy_only=False)
    return pd.Series(values, index=numbers.index, dtype="float64")


def _parse_numbers(text: pd.Series) -> pd.Series:
    """Text -> float64, NaN where a cell is not a plain decimal number.

    Each chunk of the column is first cast as a whole, which succeeds for the clean
    chunks that make up nearly all of a file; only a chunk with some bad cell pays for
    the RE2 pass that marks the cells that are numbers before casting those.
    """
    array = pa.array(text, from_pandas=True)
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    parsed = [_cast_numbers(chunk) for chunk in chunks]
    values = (np.concatenate(parsed) if parsed else np.array([], dtype="float64"))
    return pd.Series(values, index=text.index, dtype="float64")


def _cast_numbers(chunk: pa.Array) -> np.ndarray:
    try:
        parsed = pc.cast(chunk, pa.float64())
    except pa.ArrowInvalid:
        # Some cell is no number. Cells with a byte that no number has (letters, commas,
        # slashes: nearly every typing error) are set aside in one pass over the bytes,
        # and the rest usually cast as a whole.
        try:
            parsed = pc.cast(_missing_unless(chunk, _number_bytes_only(chunk)), pa.float64())
        except pa.ArrowInvalid:
            parsed = None
    # Left to RE2: a bad cell made of number bytes ("1.2.3"), or words the cast reads,
    # such as "nan", which are no amounts.
    if parsed is None or pc.any(pc.is_nan(parsed)).as_py():
        numeric = pc.match_substring_regex(chunk, _NUMBER, ignore_case=True)
        parsed = pc.cast(pc.if_else(numeric, chunk, pa.scalar(None, chunk.type)), pa.float64())
    return parsed.to_numpy(zero_copy_only=False)


# The bytes of every text _NUMBER accepts: digits, sign, point, exponent and the letters
# of "inf" and "infinity" in either case.
_NUMBER_BYTE = np.zeros(256, dtype=bool)
_NUMBER_BYTE[np.frombuffer(b"0123456789+-.eEinftyINFTY", dtype=np.uint8)] = True


def _number_bytes_only(chunk: pa.Array) -> np.ndarray:
    """Per cell: whether every byte of it may belong to a number."""
    bounds, data = string_buffers(chunk)
    plausible = np.ones(len(chunk), dtype=bool)
    if len(data) and len(chunk):
        strange = np.flatnonzero(~np.take(_NUMBER_BYTE, data[bounds[0]:bounds[-1]])) + bounds[0]
        plausible[np.searchsorted(bounds, strange, side="right") - 1] = False
    return plausible


def _count(raw: pd.Series, spec: Field, fmt: str | None):
    return _amount(raw, spec, fmt, whole=True)


def _hs_code(raw: pd.Series, spec: Field, _fmt: str | None):
    if not _is_text(raw):
        return _hs_code_numbers(raw)

    def to_digits(code: str) -> str | None:
        digits = _HS_SEPARATORS.sub("", code)
        return digits if _HS_CODE_RE.fullmatch(digits) else None

    digits, present = _per_distinct(raw, to_digits)
    ok = digits.notna().to_numpy()
    issues = [
        (~present, "missing hs_code (required)"),
        (present & ~ok, _HS_CODE_EXPECTED),
    ]
    # HS codes and their national extensions have 4, 6, 8 or 10 digits: an odd count
    # is most often a code whose leading zero a spreadsheet dropped (0101210000 read
    # as 101210000, chapter 10 instead of 01). The code is used as written, but the row
    # says so, since it may meet the wrong chapter's rules.
    lengths = pc.binary_length(pa.array(digits, from_pandas=True)).fill_null(0).to_numpy(zero_copy_only=False)
    odd = lengths % 2 == 1
    for length in np.unique(lengths[odd]) if odd.any() else []:
        issues.append((lengths == length, f"{length} digits, where HS codes have 4, 6, 8 or 10: a "
                                          "leading zero may be missing (used as written)"))
    return digits, issues


_HS_CODE_EXPECTED = "expected an HS code of 4 to 10 digits (dots and spaces allowed)"


def _hs_code_numbers(raw: pd.Series):
    """HS codes from a numeric column (Parquet, or a DataFrame), where any leading zero
    is already lost: 0101210000 stored as an integer reads 101210000.

    Codes have 4, 6, 8 or 10 digits and no chapter is 00, so a whole number of 3, 5,
    7 or 9 digits lost exactly one zero: it is put back and the row says so, so the
    code meets its own chapter's rules (01, live animals, not 10, cereals) and the
    analyst sees the repair. Fractions, negatives, infinities and numbers of other
    lengths are no code.
    """
    codes, numbers = pd.factorize(raw, use_na_sentinel=True)
    read = [_number_as_hs_code(number) for number in numbers] + [(None, None)]
    digits = pd.Series(pd.array([code for code, _note in read], dtype="str").take(codes), index=raw.index)
    notes = np.array([note for _code, note in read], dtype=object)[codes]
    present = codes >= 0
    return digits, [
        (~present, "missing hs_code (required)"),
        (present & digits.isna().to_numpy(), _HS_CODE_EXPECTED),
        (pd.notna(notes), notes),
    ]


def _number_as_hs_code(number) -> tuple[str | None, str | None]:
    """One distinct number as (HS code, note on a restored leading zero)."""
    if isinstance(number, (int, np.integer)) and not isinstance(number, (bool, np.bool_)):
        whole = int(number)
    elif isinstance(number, (float, np.floating)) and float(number).is_integer():
        whole = int(number)
    else:
        return None, None
    written = str(whole)
    if whole < 0 or not 3 <= len(written) <= 10:
        return None, None
    if len(written) % 2:
        return "0" + written, f"read as the number {written}; leading zero restored as 0{written}"
    return written, None


@lru_cache(maxsize=1)
def _country_lookup() -> dict[str, str]:
    table = load_reference("countries")
    lookup: dict[str, str] = {}
    for alpha2, alpha3, name, aliases in table[["alpha2", "alpha3", "name", "aliases"]].itertuples(
            index=False):
        for key in [alpha2, alpha3, name, *aliases.split("|")]:
            if key:
                lookup[_country_key(key)] = alpha2.upper()
    return lookup


def _country_key(text: str) -> str:
    return _squash(text).upper()


def _country(raw: pd.Series, spec: Field, fmt: str | None):
    if fmt == OPAQUE:  # anonymised codes: kept as written, compared with each other only
        return _per_distinct(raw, lambda code: code)[0], []
    lookup = _country_lookup()
    codes, present = _per_distinct(raw, lambda name: lookup.get(_country_key(name)))
    unknown = present & codes.isna().to_numpy()
    return codes, [(unknown, "unknown country; expected an ISO 3166-1 alpha-2 code such as CN, "
                              "an alpha-3 code or a country name")]


@dataclass(frozen=True)
class Synonyms:
    """How one synonym table reads a cell: whole cells first, then phrases inside it.

    ``exact`` maps every key and word, lower-cased, to its key. ``phrases`` are the
    patterns that find a word inside longer text (``"DHL Express, door to door"``,
    ``"bottles (plastic)"``, ``"经顺丰快递"``), tried in order: a table's ``carriers``
    before its ``synonyms``, since a named carrier says more than a mode word ("DHL
    air express" is express, not air).
    """

    exact: dict[str, str]
    phrases: tuple[re.Pattern, ...]

    def read(self, cell: str) -> str | None:
        """The key a cell names; None when it names none.

        Latin words match as whole words (``ship`` is not in ``shipment``); Chinese has
        no spaces, so a Chinese word counts wherever it occurs. The earliest word in the
        text names the key, the longest at one place ("by sea then truck" is sea,
        "邮政快递" is post, not the 快递 of express).
        """
        text = _squash(cell).lower()
        if text in self.exact:
            return self.exact[text]
        for pattern in self.phrases:
            found = pattern.search(text)
            if found:
                return self.exact[found.group(1)]
        return None


# A synonym table's words of this kind are read only as the whole cell: codes (Rec 19
# digits, Rec 21 and Rec 20 codes are the key column) and one letter or two, which
# inside text are too often something else.
_WHOLE_CELL_ONLY = re.compile(r"[0-9]+|[a-z]{1,2}", re.ASCII)


def synonym_table(table_name: str, key_column: str, reference_dirs: tuple[Path, ...] = (),
                  exact_only: tuple[str, ...] = ()) -> Synonyms:
    """The synonym table ``table_name``: the shipped one, extended by the copies in
    ``reference_dirs`` (a pack's ``reference/`` folder), as :class:`Synonyms`.

    Every copy must have the key column and ``synonyms``; ``carriers`` is optional.
    Keys in ``exact_only`` (transport mode ``other``) are read only as whole cells.
    """
    layers = reference_layers(table_name, tuple(reference_dirs))
    for path, table in layers:
        absent = [column for column in (key_column, "synonyms") if column not in table.columns]
        if absent:
            raise ReferenceTableError(f"{path}: lacks column(s) {', '.join(absent)}; a {table_name} table "
                                      f"has {key_column}, synonyms (words separated by |) and optionally carriers")
        require_cells(table, path, key_column, table[key_column].to_numpy(dtype=object) == "",
                      "empty key; every row needs one (or delete the row)")
    stamps = tuple((path, path.stat().st_mtime_ns) for path, _table in layers)
    return _synonyms(stamps, table_name, key_column, tuple(exact_only))


@lru_cache(maxsize=16)
def _synonyms(stamps: tuple, table_name: str, key_column: str, exact_only: tuple[str, ...]) -> Synonyms:
    """:func:`synonym_table` once per set of files (and their modification times)."""
    exact: dict[str, str] = {}
    carriers: dict[str, str] = {}
    words: dict[str, str] = {}
    for path, _mtime in stamps:
        table = load_reference_file(path)
        for record in table.to_dict("records"):
            key = record[key_column].strip()
            exact[key.lower()] = key
            for column, phrases in (("synonyms", words), ("carriers", carriers)):
                for word in str(record.get(column) or "").split("|"):
                    word = _squash(word).lower()
                    if not word:
                        continue
                    exact[word] = key
                    if key.lower() not in exact_only and not _WHOLE_CELL_ONLY.fullmatch(word):
                        phrases[word] = key
    patterns = []
    for phrases in (carriers, words):
        # a word a later layer gave to another key is that key's alone
        kept = sorted((word for word, key in phrases.items() if exact[word] == key), key=lambda w: (-len(w), w))
        if kept:
            patterns.append(re.compile("(?<![0-9a-z])(" + "|".join(map(re.escape, kept)) + ")(?![0-9a-z])"))
    return Synonyms(exact, tuple(patterns))


def _transport_mode(raw: pd.Series, spec: Field, _fmt: str | None, reference_dirs: tuple[Path, ...] = ()):
    lookup = synonym_table("transport_modes", "mode", reference_dirs, exact_only=("other",))
    modes, present = _per_distinct(raw, lookup.read)
    unknown = present & modes.isna().to_numpy()
    return modes, [(unknown, "unknown transport mode; expected one of " + ", ".join(TRANSPORT_MODES)
                             + ", a carrier (DHL, China Post, ...) or a common synonym")]


def _direction(raw: pd.Series, spec: Field, _fmt: str | None):
    values, present = _per_distinct(raw, lambda direction: DIRECTIONS.get(direction.lower()))
    unknown = present & values.isna().to_numpy()
    return values, [(unknown, "expected export or import")]


def _package_type(raw: pd.Series, spec: Field, _fmt: str | None, reference_dirs: tuple[Path, ...] = ()):
    """Known Rec 21 codes and words, also inside longer text ("PET bottles", "bottles
    (plastic)", "塑料瓶"), become the code; anything else is kept upper-cased.

    Package wording is too varied to reject, so an unknown word is not a row problem.
    """
    lookup = synonym_table("package_types", "code", reference_dirs)
    return _per_distinct(raw, lambda word: lookup.read(word) or word.upper())[0], []


# What a quantity unit measures: the derived fields convert quantities of one dimension
# to its base unit (kg, litre, piece, square metre, metre); "other" (a lot) is a known
# unit that converts to nothing.
UNIT_DIMENSIONS: tuple[str, ...] = ("mass", "volume", "count", "area", "length", "other")


def quantity_units(reference_dirs: tuple[Path, ...] = ()) -> pd.DataFrame:
    """The quantity units (UN/ECE Rec 20 codes) the shipped ``quantity_units`` table and
    those of ``reference_dirs`` define: columns code, dimension, factor (to the base
    unit of the dimension; NaN for ``other``), one row per code, the last layer's kept."""
    parts = []
    for path, table in reference_layers("quantity_units", tuple(reference_dirs)):
        require_columns(table, str(path), ["code", "synonyms", "dimension", "factor"])
        dimensions = table["dimension"].to_numpy(dtype=object)
        require_cells(table, path, "dimension", ~np.isin(dimensions, UNIT_DIMENSIONS),
                      "expected one of " + ", ".join(UNIT_DIMENSIONS))
        factors = pd.to_numeric(table["factor"], errors="coerce").to_numpy()
        with np.errstate(invalid="ignore"):
            bad = (dimensions != "other") & ~(np.isfinite(factors) & (factors > 0))
        require_cells(table, path, "factor", bad,
                      "expected a positive number: how many of the base unit (kg, litre, piece, m2, m) one unit is")
        parts.append(pd.DataFrame({"code": table["code"], "dimension": dimensions,
                                   "factor": np.where(dimensions == "other", np.nan, factors)}))
    units = pd.concat(parts, ignore_index=True).drop_duplicates("code", keep="last")
    return units.reset_index(drop=True)


def _quantity_unit(raw: pd.Series, spec: Field, _fmt: str | None, reference_dirs: tuple[Path, ...] = ()):
    """A Rec 20 code or a unit word (kg, 千克, litres, pcs) becomes the code; anything
    else is a row problem, like an unknown transport mode, so a rule can tell it from
    an empty cell. Units are short: only the whole cell is read (a trailing full stop
    dropped: "pcs.")."""
    quantity_units(reference_dirs)  # checks the tables' dimensions and factors
    lookup = synonym_table("quantity_units", "code", reference_dirs)
    units, present = _per_distinct(raw, lambda unit: lookup.exact.get(_squash(unit).lower().rstrip(".")))
    unknown = present & units.isna().to_numpy()
    return units, [(unknown, "unknown quantity unit; expected a UN/ECE Rec 20 code (KGM, LTR, H87, MTK, ...) "
                             "or a unit such as kg, litres, pcs, m2")]


@lru_cache(maxsize=1)
def known_currencies() -> frozenset[str]:
    """ISO 4217 codes that have a rate in ``rules/reference/currency_rates.csv``."""
    return frozenset(load_reference("currency_rates")["currency"].str.upper())


def _currency(raw: pd.Series, spec: Field, _fmt: str | None):
    known = known_currencies()
    values, present = _per_distinct(raw, lambda code: code.upper() if code.upper() in known else None)
    unknown = present & values.isna().to_numpy()
    values = values.where(unknown | present, DEFAULT_CURRENCY)
    return values, [(unknown, "unknown currency; expected an ISO 4217 code with a rate in "
                              "currency_rates.csv")]


_NORMALISERS = {
    "id": _identifier,
    "date": _date,
    "text": _text,
    "licence": _licence,
    "country": _country,
    "hs_code": _hs_code,
    "amount": _amount,
    "count": _count,
    "currency": _currency,
    "transport_mode": _transport_mode,
    "direction": _direction,
    "package_type": _package_type,
    "quantity_unit": _quantity_unit,
}
# Kinds read with synonym tables, which a rule pack's reference folder may extend.
_WITH_TABLES = frozenset({"transport_mode", "package_type", "quantity_unit"})


def _normalise(raw: pd.Series, spec: Field, fmt: str | None, reference_dirs: tuple[Path, ...]):
    """Type one column (see :data:`_NORMALISERS`), with the pack's tables where it reads any."""
    if spec.kind in _WITH_TABLES:
        return _NORMALISERS[spec.kind](raw, spec, fmt, reference_dirs)
    return _NORMALISERS[spec.kind](raw, spec, fmt)
