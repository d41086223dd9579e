"""Reading and checking rule packs.

Packs are read with YAML's safe loader and turned into :mod:`detector.rules.model`
objects; nothing in a pack is ever executed. Every mistake a pack can hold (unknown
field or predicate, wrong argument type, bad regex, unknown reference table or column,
bad cell in a table a rule relies on, duplicate id, malformed example) is raised here as
a :class:`RulePackError` naming the file, the rule and the place, before any declaration
is scored. Packs come from other people, so what they cost is bounded here too: how far
their anchors and aliases expand, how deep they nest, how long a date window is.
"""

from __future__ import annotations

import re
import string
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, Callable

import numpy as np
import yaml

from detector.derived import DERIVED_FIELDS
from detector.errors import ReferenceTableError, RulePackError
from detector.reference import iso_dates, load_reference, reference_path, require_cells, require_columns
from detector.resources import default_packs_dir
from detector.rules.model import ANGLES, SEVERITIES, AllOf, AnyOf, Condition, Example, Leaf, Not, Rule, RuleSet
from detector.rules.predicates import (
    MATCH_MODES,
    MAX_PHRASE_LENGTH,
    OPERATORS,
    PREDICATES,
    Arg,
    Predicate,
    compile_regex,
    field_kind,
    invalid_patterns,
)
from detector.schema import FIELDS_BY_NAME

# libyaml's safe loader when PyYAML was built with it (it is ten times faster on the
# packs), else the pure-Python one: both build only plain data, never objects.
SAFE_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

PACK_KEYS = {"pack", "description", "applies_to", "rules"}
# What a pack may cost before it is built. The shipped packs expand to 3,200 YAML values
# at most (rare_earth.yaml) and nest 11 levels deep, their conditions 4; a pack of
# anchors repeating anchors (``&a [*b, *b, ...]``, 739 bytes) expanded to a billion
# values and took 80 s and 3 GB before these bounds.
MAX_PACK_VALUES = 200_000
MAX_PACK_DEPTH = 64
MAX_CONDITION_DEPTH = 16
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_TEXT_TAG = "tag:yaml.org,2002:str"

# What the cells of a reference table must be where a rule relies on them: which cells
# of a column (an array of texts) are bad, and what a good cell is.
_CELL_CHECKS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], str]] = {
    # in_table keys: an empty one would be a prefix of every code (and equal no value).
    "key": (lambda cells: cells == "", "empty key; every row needs one (or delete the row)"),
    # in_table validity windows are compared while scoring, so a bad date fails here.
    "date": (lambda cells: (cells != "") & ~iso_dates(cells), "expected an ISO date YYYY-MM-DD or an empty cell"),
    # keywords: a longer phrase could make the pattern too large for RE2.
    "phrase": (lambda cells: np.fromiter(map(len, cells), int, len(cells)) > MAX_PHRASE_LENGTH,
               f"a phrase is at most {MAX_PHRASE_LENGTH} characters"),
    # regex tables: every pattern compiles, so a bad one fails here, not while scoring.
    "pattern": (invalid_patterns, "expected an RE2 pattern of at most 200 characters (no backreferences "
                                  "or lookaround) or an empty cell"),
}

RULE_ID = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")
RULE_KEYS = {"id", "title", "description", "pattern", "severity", "when", "reason", "references",
             "examples", "valid_from", "valid_to", "evidence", "mitigates"}
REQUIRED_RULE_KEYS = ("id", "title", "description", "pattern", "severity", "when", "reason", "examples")
_TEMPLATE_SPEC = re.compile(r"^\.\d{1,2}f$")


def pack_files(paths: list[str | Path] | None = None, include_default: bool = True) -> list[Path]:
    """The YAML pack files to load: the shipped packs, then each path given (a file, or
    a folder whose ``packs/`` subfolder or own ``*.yaml`` files are the packs)."""
    folders: list[Path] = [default_packs_dir()] if include_default else []
    files: list[Path] = []
    for item in paths or []:
        path = Path(item)
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            folders.append(path / "packs" if (path / "packs").is_dir() else path)
        else:
            raise RulePackError(f"{path}: rule pack file or folder not found")
    for folder in folders:
        files.extend(sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]))
    unique: dict[Path, Path] = {}
    for file in files:
        # A folder, a pipe (reading it would wait forever), a broken link or a link
        # loop named *.yaml is no pack; resolving a loop raises RuntimeError.
        if not file.is_file():
            raise RulePackError(f"{file}: cannot read rule pack: not a regular file "
                                "(a folder, a pipe, a broken link or a link loop)")
        unique.setdefault(file.resolve(), file)
    return list(unique.values())


def load_rules(paths: list[str | Path] | None = None, include_default: bool = True) -> RuleSet:
    """Load and check rule packs.

    Parameters
    ----------
    paths : list of str or Path, optional
        Extra pack files or folders, loaded after the shipped packs.
    include_default : bool
        Whether to load the packs shipped under ``rules/packs``.

    Returns
    -------
    RuleSet
        Every rule, checked; rule ids are unique across all packs.
    """
    rule_set = RuleSet()
    seen: dict[str, Path] = {}
    for file in pack_files(paths, include_default):
        for rule in parse_pack(file):
            if rule.id in seen:
                raise RulePackError(f"{file}: rule {rule.id}: duplicate id (also in {seen[rule.id]})")
            seen[rule.id] = file
            rule_set.rules.append(rule)
        rule_set.sources.append(file)
    return rule_set


def parse_pack(path: Path) -> list[Rule]:
    """Parse one pack file into checked rules."""
    document = read_pack(Path(path))
    if not isinstance(document, dict) or not isinstance(document.get("rules"), list):
        raise RulePackError(f"{path}: a rule pack is a mapping with a 'rules:' list")
    unknown = set(document) - PACK_KEYS
    if unknown:
        raise RulePackError(f"{path}: unknown pack key(s) {', '.join(sorted(map(str, unknown)))}; "
                            f"expected {', '.join(sorted(PACK_KEYS))}")
    for key in ("pack", "description"):
        if key in document and not isinstance(document[key], str):
            raise RulePackError(f"{path}: '{key}' must be text")
    if not document["rules"]:
        raise RulePackError(f"{path}: the pack has no rules; 'rules:' lists at least one")
    reference_dirs = tuple(d for d in (path.parent / "reference", path.parent.parent / "reference")
                           if d.is_dir())
    return parse_rules(_within_scope(document["rules"], document.get("applies_to")), path, reference_dirs)


def _within_scope(rules: list, applies_to: Any) -> list:
    """The pack's rules with its ``applies_to`` condition joined to each rule's own
    ``when`` (both must hold): what a pack is about, said once. The rare-earth pack is
    about goods leaving China, so it does not judge goods declared into China.
    Checked with each rule like any condition; a rule that is not a mapping is left as
    it is for the rule checks to name."""
    if applies_to is None:
        return rules
    return [{**rule, "when": {"all": [applies_to, rule["when"]]}} if isinstance(rule, dict) and "when" in rule
            else rule for rule in rules]


def read_pack(path: Path) -> Any:
    """The pack's YAML as plain data (safe loader), refused before it is built when it
    expands beyond ``MAX_PACK_VALUES`` or nests deeper than ``MAX_PACK_DEPTH``.

    The safe loader builds an alias as a reference to the anchored value, so loading
    is cheap whatever the anchors; what costs is every later walk over the expanded
    rules. The composed node graph is therefore measured first, each node once.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulePackError(f"{path}: cannot read rule pack: {exc}") from exc
    loader = SAFE_YAML_LOADER(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _PackExtent(path, loader).measure(root)
        return loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise RulePackError(f"{path}: not valid YAML: {exc}".replace("\n", " ")) from exc
    finally:
        loader.dispose()


class _PackExtent:
    """Counts the values a composed pack expands to and how deep they nest, each node
    once (a shared node is counted by its memoised size), and names the rule and line
    where a bound is crossed. Also reads an impossible date (``2025-02-30``, which YAML
    resolves as a timestamp) as text, so that the rule check reports it with its key."""

    def __init__(self, path: Path, loader: Any):
        self.path = path
        self.loader = loader
        self.total = 0
        self.label = ""
        self.measured: dict[int, tuple[int, int]] = {}  # id(node) -> (values, levels)

    def measure(self, root: yaml.Node) -> None:
        items = [("", root, 1)]  # (rule label, node, depth)
        if isinstance(root, yaml.MappingNode):
            items = [("", key, 2) for key, _ in root.value]
            for key, value in root.value:
                if key.value == "rules" and isinstance(value, yaml.SequenceNode):
                    items += [(_rule_label(item, number), item, 3) for number, item in enumerate(value.value, 1)]
                else:
                    items.append(("", value, 2))
        for self.label, node, depth in items:
            self.total += self._extent(node, depth)[0]
            if self.total > MAX_PACK_VALUES:
                raise self._fail(node, "anchors and aliases expand the pack to more than "
                                       f"{MAX_PACK_VALUES:,} values; repeat shared parts fewer times")

    def _extent(self, node: yaml.Node, depth: int) -> tuple[int, int]:
        """(values, levels) of ``node`` expanded, ``node`` lying ``depth`` levels down.

        A mapping or list is measured once and then known by its id (an alias is the
        anchored node again); scalars, most of a pack, are counted where they lie.
        """
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _TIMESTAMP_TAG:
                self._date_or_text(node)
            known = (1, 1)
        else:
            known = self.measured.get(id(node))
        if known is None:
            if depth > MAX_PACK_DEPTH:
                raise self._fail(node, f"values nest more than {MAX_PACK_DEPTH} levels deep")
            children = node.value if isinstance(node, yaml.SequenceNode) else [
                part for pair in node.value for part in pair]
            values, levels = 1, 1
            for child in children:
                child_values, child_levels = (1, 1) if isinstance(child, yaml.ScalarNode) and \
                    child.tag != _TIMESTAMP_TAG else self._extent(child, depth + 1)
                values += child_values
                levels = max(levels, child_levels + 1)
            if values > MAX_PACK_VALUES:
                raise self._fail(node, "anchors and aliases expand this value to more than "
                                       f"{MAX_PACK_VALUES:,} values; repeat shared parts fewer times")
            known = self.measured[id(node)] = (values, levels)
        if depth + known[1] - 1 > MAX_PACK_DEPTH:
            raise self._fail(node, f"values nest more than {MAX_PACK_DEPTH} levels deep")
        return known

    def _date_or_text(self, node: yaml.ScalarNode) -> None:
        try:
            self.loader.construct_yaml_timestamp(node)
        except (ValueError, OverflowError):
            node.tag = _TEXT_TAG

    def _fail(self, node: yaml.Node, message: str) -> RulePackError:
        where = f"{self.label}: " if self.label else ""
        return RulePackError(f"{self.path}: {where}line {node.start_mark.line + 1}: {message}")


def _rule_label(node: yaml.Node, number: int) -> str:
    """'rule ID' when the rule's node has a plain id, else 'rule #N'."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == "id" and isinstance(value, yaml.ScalarNode) and RULE_ID.match(value.value):
                return f"rule {value.value}"
    return f"rule #{number}"


def parse_rules(items: list, path: Path, reference_dirs: tuple[Path, ...] = ()) -> list[Rule]:
    """Check and build rules from already-loaded YAML items (also used by notebooks)."""
    rules = []
    ids: set[str] = set()
    for number, item in enumerate(items, start=1):
        rule = _RuleParser(item, path, number, reference_dirs).parse()
        if rule.id in ids:
            raise RulePackError(f"{path}: rule {rule.id}: duplicate id")
        ids.add(rule.id)
        rules.append(rule)
    return rules


class _RuleParser:
    def __init__(self, item: Any, path: Path, number: int, reference_dirs: tuple[Path, ...]):
        self.item = item
        self.path = path
        self.label = f"rule #{number}"
        self.reference_dirs = reference_dirs
        self.scope = _RuleScope(self.fail, reference_dirs, self.condition)
        self.depth = 0  # conditions open around the one being parsed

    def fail(self, message: str) -> RulePackError:
        return RulePackError(f"{self.path}: {self.label}: {message}")

    def parse(self) -> Rule:
        item = self.item
        if not isinstance(item, dict):
            raise self.fail("a rule is a mapping of id, title, when, ...")
        if isinstance(item.get("id"), str):
            self.label = f"rule {item['id']}"
        unknown = set(item) - RULE_KEYS
        if unknown:
            raise self.fail(f"unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                            f"expected {', '.join(sorted(RULE_KEYS))}")
        for key in REQUIRED_RULE_KEYS:
            if key not in item:
                raise self.fail(f"missing '{key}'")
        rule_id = item["id"]
        if not isinstance(rule_id, str) or not RULE_ID.match(rule_id):
            raise self.fail(f"id {rule_id!r} must look like RE-ORIGIN-001 (capitals, digits, dashes)")
        for key in ("title", "description", "pattern", "reason"):
            if not isinstance(item[key], str) or not item[key].strip():
                raise self.fail(f"'{key}' must be non-empty text")
        if item["severity"] not in SEVERITIES:
            raise self.fail(f"severity {item['severity']!r} must be one of {', '.join(SEVERITIES)}")
        references = item.get("references") or []
        if not isinstance(references, list) or not all(isinstance(r, str) for r in references):
            raise self.fail("'references' must be a list of texts")
        valid_from, valid_to = self._date("valid_from"), self._date("valid_to")
        if valid_from and valid_to and valid_from > valid_to:
            raise self.fail("valid_from is after valid_to")
        evidence = self._angles("evidence")
        mitigates = self._mitigates()
        when = self.condition(item["when"], "when")
        self._check_template(item["reason"])
        examples = self._examples(item["examples"])
        return Rule(
            id=rule_id, title=item["title"].strip(), description=item["description"].strip(),
            pattern=item["pattern"].strip(), severity=item["severity"], when=when,
            reason=item["reason"].strip(), references=tuple(references), examples=examples,
            fields=frozenset(self.scope.fields), needs=tuple(sorted(self.scope.needs, key=sorted)),
            source=self.path, reference_dirs=self.reference_dirs,
            valid_from=valid_from, valid_to=valid_to, evidence=evidence, mitigates=mitigates,
            definition=dict(item),
        )

    def _mitigates(self) -> tuple[str, ...]:
        """The angles a mitigating rule lowers; a legal breach (critical) lowers none."""
        angles = self._angles("mitigates")
        if angles and self.item["severity"] == "critical":
            raise self.fail("a mitigating rule weighs low, medium or high; critical is for legal breaches")
        return angles

    def _angles(self, key: str) -> tuple[str, ...]:
        """Angles of ANGLES under ``key``: the ones a hit speaks from (``evidence:
        [channel, parties]``) or lowers (``mitigates: [route]``)."""
        angles = self.item.get(key, [])
        if isinstance(angles, str):
            angles = [angles]
        if not isinstance(angles, list) or not all(isinstance(a, str) for a in angles):
            raise self.fail(f"'{key}' must be a list of angles: {', '.join(ANGLES)}")
        unknown = [a for a in angles if a not in ANGLES]
        if unknown:
            raise self.fail(f"{key} angle {unknown[0]!r} is not one of {', '.join(ANGLES)}")
        return tuple(dict.fromkeys(angles))

    def _date(self, key: str) -> date | None:
        value = self.item.get(key)
        if value is None:
            return None
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise self.fail(f"{key} {value!r} is not an ISO date YYYY-MM-DD") from None

    # ------------------------------------------------------------------ conditions

    def condition(self, node: Any, where: str) -> Condition:
        # Parsing and evaluating recurse once per level; bounded here, no pack can
        # exhaust the stack (a 'not' 990 deep raised RecursionError).
        if self.depth >= MAX_CONDITION_DEPTH:
            raise self.fail(f"{where}: conditions nest more than {MAX_CONDITION_DEPTH} deep")
        self.depth += 1
        try:
            return self._condition(node, where)
        finally:
            self.depth -= 1

    def _condition(self, node: Any, where: str) -> Condition:
        if not isinstance(node, dict) or len(node) != 1:
            raise self.fail(f"{where}: a condition is a mapping with exactly one key "
                            f"(all, any, not or a predicate), got {node!r}")
        (key, value), = node.items()
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                raise self.fail(f"{where}.{key}: expected a non-empty list of conditions")
            children, needs = [], []
            for i, child in enumerate(value):
                with self._own_needs() as got:
                    children.append(self.condition(child, f"{where}.{key}[{i}]"))
                needs.append(got)
            # An `any` with a branch that reads no required column always runs: the
            # branches over absent columns are then unknown, not a reason to skip the rule.
            if key == "all" or all(needs):
                for got in needs:
                    self.scope.needs |= got
            return AllOf(tuple(children)) if key == "all" else AnyOf(tuple(children))
        if key == "not":
            return Not(self.condition(value, f"{where}.not"))
        predicate = PREDICATES.get(key)
        if predicate is None:
            raise self.fail(f"{where}: unknown predicate '{key}'; known: all, any, not, "
                            + ", ".join(PREDICATES))
        if predicate.shorthand and isinstance(value, str):
            value = {predicate.shorthand: value}
        if not isinstance(value, dict):
            raise self.fail(f"{where}.{key}: expected a mapping of arguments")
        with self._own_needs() as got:
            args = self._arguments(predicate, value, f"{where}.{key}")
        self.scope.needs |= got
        return Leaf(key, args, tuple(sorted(got, key=sorted)))

    @contextmanager
    def _own_needs(self):
        """Collect the needs recorded inside the block apart (the caller merges them)."""
        outer, self.scope.needs = self.scope.needs, set()
        got = self.scope.needs
        try:
            yield got
        finally:
            self.scope.needs = outer

    def _arguments(self, predicate: Predicate, given: dict, where: str) -> dict:
        """The predicate's arguments, each checked by the checker of its kind, then
        together by the predicate's own check; keyed by the function's parameters."""
        for alias, name in predicate.aliases.items():
            if alias in given and name not in given:
                given = {(name if k == alias else k): v for k, v in given.items()}
        known = {a.name for a in predicate.args}
        unknown = set(given) - known
        if unknown:
            raise self.fail(f"{where}: unknown argument(s) {', '.join(sorted(map(str, unknown)))}; "
                            f"expected {', '.join(sorted(known))}")
        args: dict[str, Any] = {}
        for spec in predicate.args:
            if spec.name not in given:
                if spec.required:
                    raise self.fail(f"{where}: missing argument '{spec.name}'")
                if spec.default is None:
                    continue
            value = given.get(spec.name, spec.default)
            args[spec.keyword] = ARGUMENT_KINDS[spec.kind](self.scope, spec, value, f"{where}.{spec.name}")
        if predicate.check is not None:
            predicate.check(self.scope, args, where)
        return args

    def _check_template(self, template: str) -> None:
        try:
            parsed = list(string.Formatter().parse(template))
        except ValueError as exc:
            raise self.fail(f"reason: bad template: {exc}") from None
        for _literal, name, spec, conversion in parsed:
            if name is None:
                continue
            if name not in self.scope.named:
                self.scope.field(name, f"reason {{{name}}}", None)
            if conversion or (spec and not _TEMPLATE_SPEC.match(spec)):
                raise self.fail(f"reason {{{name}}}: only {{field}} or {{field:.2f}} are supported")

    # -------------------------------------------------------------------- examples

    def _examples(self, value: Any) -> tuple[Example, ...]:
        if not isinstance(value, dict) or set(value) - {"hit", "miss"}:
            raise self.fail("examples: expected a mapping with 'hit' and 'miss' lists")
        examples = []
        for kind in ("hit", "miss"):
            items = value.get(kind) or []
            if not isinstance(items, list) or not items:
                raise self.fail(f"examples.{kind}: expected a non-empty list of example rows")
            for number, item in enumerate(items, start=1):
                examples.append(self._example(item, kind, number))
        return tuple(examples)

    def _example(self, item: Any, kind: str, number: int) -> Example:
        at = f"examples.{kind}[{number}]"
        if not isinstance(item, dict) or not item:
            raise self.fail(f"{at}: expected a mapping of field -> value, or rows: [...]")
        note = str(item.get("note", ""))
        if "rows" in item:
            if set(item) - {"rows", "note"} or not isinstance(item["rows"], list) or not item["rows"]:
                raise self.fail(f"{at}: a batch example has only 'rows: [...]' and an optional note")
            rows = item["rows"]
        else:
            rows = [{k: v for k, v in item.items() if k != "note"}]
        checked = []
        for row in rows:
            if not isinstance(row, dict):
                raise self.fail(f"{at}: each row is a mapping of field -> value")
            for field, cell in row.items():
                if field not in FIELDS_BY_NAME:
                    raise self.fail(f"{at}: unknown field {field!r} (examples give canonical fields)")
                if isinstance(cell, (list, dict)):
                    raise self.fail(f"{at}.{field}: expected a single value")
            checked.append(dict(row))
        return Example(kind == "hit", tuple(checked), note, number)


# ---------------------------------------------------------------- argument kinds


class _RuleScope:
    """What checking a rule's arguments may use and records: where mistakes are
    reported, the pack's reference tables, nested conditions (group ``where:``), and
    the fields the rule reads, needs and names (``as:``)."""

    def __init__(self, fail: Callable[[str], RulePackError], reference_dirs: tuple[Path, ...],
                 condition: Callable[[Any, str], Condition]):
        self.fail = fail
        self.reference_dirs = reference_dirs
        self.condition = condition
        self.fields: set[str] = set()
        self.needs: set[frozenset[str]] = set()
        self.named: set[str] = set()

    def field(self, name: Any, at: str, kind: str | None) -> str:
        """``name`` if it is a canonical or derived field (of ``kind`` when given); the
        rule reads it."""
        actual = field_kind(name) if isinstance(name, str) else None
        if actual is None:
            raise self.fail(f"{at}: unknown field {name!r}; fields are the canonical columns "
                            f"({', '.join(FIELDS_BY_NAME)}) and derived fields ({', '.join(DERIVED_FIELDS)})")
        if kind and actual != kind:
            raise self.fail(f"{at}: field '{name}' is {actual}, this argument needs a {kind} field")
        self.fields.add(name)
        return name

    def need(self, field: str) -> None:
        """The rule cannot run on a file without ``field``."""
        self.needs.add(frozenset([field]))

    def require(self, table_name: str, columns: list[str], where: str,
                cells: dict[str, str] | None = None) -> None:
        """The table has ``columns``, and the cells of each column in ``cells`` pass the
        check it names in ``_CELL_CHECKS``."""
        try:
            path = reference_path(table_name, self.reference_dirs)
            table = load_reference(table_name, self.reference_dirs)
            require_columns(table, table_name, columns)
            for column, check in (cells or {}).items():
                is_bad, expected = _CELL_CHECKS[check]
                require_cells(table, path, column, is_bad(table[column].to_numpy(dtype=object)), expected)
        except ReferenceTableError as exc:
            raise self.fail(f"{where}: {exc}") from None


def _field(scope: _RuleScope, spec: Arg, value: Any, at: str) -> str:
    name = scope.field(value, at, spec.field_kind)
    if not spec.absent_ok:
        scope.needs.add(frozenset([name]))
    return name


def _fields(scope: _RuleScope, spec: Arg, value: Any, at: str) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values:
        raise scope.fail(f"{at}: expected a field name or a list of field names")
    names = [scope.field(v, at, spec.field_kind) for v in values]
    if spec.any_of:  # text searched in any of the fields: one present is enough
        scope.needs.add(frozenset(names))
    else:
        scope.needs.update(frozenset([n]) for n in names)
    return names


def _number(scope: _RuleScope, spec: Arg, value: Any, at: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise scope.fail(f"{at}: expected a number, got {value!r}")
    return float(value)


def _whole_number(scope: _RuleScope, spec: Arg, value: Any, at: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise scope.fail(f"{at}: expected a whole number >= 0, got {value!r}")
    return value


def _is_scalar(value: Any) -> bool:
    """A text, number or date as YAML gives it (a YAML ``true`` is no value to compare)."""
    return isinstance(value, (str, int, float, date)) and not isinstance(value, bool)


def _value(scope: _RuleScope, spec: Arg, value: Any, at: str) -> Any:
    if not _is_scalar(value):
        raise scope.fail(f"{at}: expected a single text, number or date, got {value!r}")
    return value


def _values(scope: _RuleScope, spec: Arg, value: Any, at: str) -> list:
    if not isinstance(value, list) or not value or not all(map(_is_scalar, value)):
        raise scope.fail(f"{at}: expected a non-empty list of texts, numbers or dates")
    return value


def _text(scope: _RuleScope, spec: Arg, value: Any, at: str) -> str:
    if not isinstance(value, str) or not value:
        raise scope.fail(f"{at}: expected text, got {value!r}")
    if spec.choices and value not in spec.choices:
        raise scope.fail(f"{at}: expected one of {', '.join(spec.choices)}, got {value!r}")
    return value


def _flag(scope: _RuleScope, spec: Arg, value: Any, at: str) -> bool:
    if not isinstance(value, bool):
        raise scope.fail(f"{at}: expected true or false, got {value!r}")
    return value


def _phrases(scope: _RuleScope, spec: Arg, value: Any, at: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise scope.fail(f"{at}: expected a non-empty list of phrases")
    return value


def _hs_prefixes(scope: _RuleScope, spec: Arg, value: Any, at: str) -> list[str]:
    prefixes = value if isinstance(value, list) else [value]
    if not all(isinstance(p, str) for p in prefixes):
        raise scope.fail(f"{at}: quote each HS prefix (\"0101\", not 0101): YAML reads an unquoted "
                         f"0101 as the number 65 and drops leading zeros; got {value!r}")
    if not prefixes or not all(re.fullmatch(r"\d{1,10}", p) for p in prefixes):
        raise scope.fail(f"{at}: expected a list of HS prefixes of digits (quote them: \"0101\")")
    return prefixes


def _operator(scope: _RuleScope, spec: Arg, value: Any, at: str) -> str:
    if not isinstance(value, str) or value not in OPERATORS:  # a list or mapping is unhashable
        raise scope.fail(f"{at}: expected one of {' '.join(OPERATORS)}, got {value!r}")
    return value


def _pattern(scope: _RuleScope, spec: Arg, value: Any, at: str) -> str:
    if not isinstance(value, str) or not value:
        raise scope.fail(f"{at}: expected a regular expression")
    try:
        compile_regex(value)
    except ValueError as exc:
        raise scope.fail(f"{at}: {exc}") from None
    return value


def _table(scope: _RuleScope, spec: Arg, value: Any, at: str) -> str:
    if not isinstance(value, str):
        raise scope.fail(f"{at}: expected a reference table name")
    try:
        load_reference(value, scope.reference_dirs)
    except ReferenceTableError as exc:
        raise scope.fail(f"{at}: {exc}") from None
    return value


def _match(scope: _RuleScope, spec: Arg, value: Any, at: str) -> dict[str, dict]:
    """``{field: column}`` or ``{field: {column: C, by: exact|prefix|covers}}``; at most
    one field is matched along the code hierarchy (by prefix or covers)."""
    if not isinstance(value, dict) or not value:
        raise scope.fail(f"{at}: expected a mapping field -> table column")
    modes = "|".join(MATCH_MODES)
    match = {}
    for field, column in value.items():
        scope.needs.add(frozenset([scope.field(field, at, None)]))
        given = {"column": column, "by": "exact"} if isinstance(column, str) else column
        if not isinstance(given, dict) or set(given) - {"column", "by"} or "column" not in given:
            raise scope.fail(f"{at}.{field}: expected a column name or {{column: NAME, by: {modes}}}")
        by = given.get("by", "exact")
        if not isinstance(by, str) or by not in MATCH_MODES:
            raise scope.fail(f"{at}.{field}.by: expected one of {', '.join(MATCH_MODES)} (exact: equal; "
                             "prefix: the code falls under the line; covers: a shorter code covers the "
                             f"line), got {by!r}")
        match[field] = {"column": str(given["column"]), "by": by}
    if sum(s["by"] != "exact" for s in match.values()) > 1:
        raise scope.fail(f"{at}: at most one field may match by prefix or covers")
    return match


def _where(scope: _RuleScope, spec: Arg, value: Any, at: str) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        raise scope.fail(f"{at}: expected a mapping table column -> value(s)")
    wanted = {}
    for column, values in value.items():
        wanted[str(column)] = values if isinstance(values, list) else [values]
        if not all(isinstance(v, str) for v in wanted[str(column)]):
            raise scope.fail(f"{at}.{column}: quote the value(s): table cells are text, and YAML "
                             f"reads an unquoted 0101 as the number 65; got {values!r}")
    return wanted


def _condition(scope: _RuleScope, spec: Arg, value: Any, at: str) -> Condition:
    return scope.condition(value, at)


def _name(scope: _RuleScope, spec: Arg, value: Any, at: str) -> str:
    """A name for a group's totals in the reason template; it may not hide a field."""
    if not isinstance(value, str) or not re.fullmatch(r"[a-z_][a-z0-9_]*", value):
        raise scope.fail(f"{at}: expected a lower-case name such as parcels")
    if value in FIELDS_BY_NAME or value in DERIVED_FIELDS:
        raise scope.fail(f"{at}: '{value}' is already a field name")
    scope.named.add(value)
    return value


# How each kind of argument (``Arg.kind``) is checked: a checker takes the rule's scope,
# the argument, the pack's value and where it stands, and returns the checked value.
ARGUMENT_KINDS: dict[str, Callable[[_RuleScope, Arg, Any, str], Any]] = {
    "field": _field, "fields": _fields, "number": _number, "int": _whole_number,
    "value": _value, "values": _values, "text": _text, "choice": _text, "flag": _flag, "texts": _phrases,
    "digits": _hs_prefixes, "op": _operator, "pattern": _pattern, "table": _table,
    "match": _match, "where": _where, "cond": _condition, "name": _name,
}
