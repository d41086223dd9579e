"""Reading and checking rule packs.

Packs are read with YAML's safe loader and turned into :mod:`detector.rules.model`
objects; nothing in a pack is ever executed. Every mistake a pack can hold (unknown
field or predicate, wrong argument type, bad regex, unknown reference table or column,
duplicate id, malformed example) is raised here as a :class:`RulePackError` naming the
file and the rule, before any declaration is scored.
"""

from __future__ import annotations

import re
import string
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from detector.errors import ReferenceTableError, RulePackError
from detector.features import DERIVED_FIELDS
from detector.reference import load_reference, require_columns
from detector.resources import default_packs_dir
from detector.rules.model import SEVERITIES, AllOf, AnyOf, Condition, Example, Leaf, Not, Rule, RuleSet
from detector.rules.predicates import OPERATORS, PREDICATES, Arg, compile_regex, field_kind
from detector.schema import FIELDS_BY_NAME

# libyaml's safe loader when PyYAML was built with it (it is ten times faster on the
# packs), else the pure-Python one: both build only plain data, never objects.
SAFE_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

RULE_ID = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")
RULE_KEYS = {"id", "title", "description", "pattern", "severity", "when", "reason", "references",
             "examples", "valid_from", "valid_to"}
REQUIRED_RULE_KEYS = ("id", "title", "description", "pattern", "severity", "when", "reason", "examples")
# Argument names that are Python keywords or clash with the table argument.
_PYTHON_NAMES = {"table": "table_name", "as": "name"}
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
    try:
        document = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=SAFE_YAML_LOADER)
    except (OSError, UnicodeDecodeError) as exc:
        raise RulePackError(f"{path}: cannot read rule pack: {exc}") from exc
    except yaml.YAMLError as exc:
        raise RulePackError(f"{path}: not valid YAML: {exc}".replace("\n", " ")) from exc
    if not isinstance(document, dict) or not isinstance(document.get("rules"), list):
        raise RulePackError(f"{path}: a rule pack is a mapping with a 'rules:' list")
    reference_dirs = tuple(d for d in (path.parent / "reference", path.parent.parent / "reference")
                           if d.is_dir())
    return parse_rules(document["rules"], path, reference_dirs)


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
        self.fields: set[str] = set()
        self.needs: set[frozenset[str]] = set()
        self.named: set[str] = set()

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
        when = self.condition(item["when"], "when")
        self._check_template(item["reason"])
        examples = self._examples(item["examples"])
        return Rule(
            id=rule_id, title=item["title"].strip(), description=item["description"].strip(),
            pattern=item["pattern"].strip(), severity=item["severity"], when=when,
            reason=item["reason"].strip(), references=tuple(references), examples=examples,
            fields=frozenset(self.fields), needs=tuple(sorted(self.needs, key=sorted)),
            source=self.path, reference_dirs=self.reference_dirs,
            valid_from=valid_from, valid_to=valid_to, named=frozenset(self.named),
            definition=dict(item),
        )

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
        if not isinstance(node, dict) or len(node) != 1:
            raise self.fail(f"{where}: a condition is a mapping with exactly one key "
                            f"(all, any, not or a predicate), got {node!r}")
        (key, value), = node.items()
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                raise self.fail(f"{where}.{key}: expected a non-empty list of conditions")
            children = tuple(self.condition(c, f"{where}.{key}[{i}]") for i, c in enumerate(value))
            return AllOf(children) if key == "all" else AnyOf(children)
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
        return Leaf(key, self._arguments(key, predicate.args, value, f"{where}.{key}"))

    def _arguments(self, name: str, specs: tuple[Arg, ...], given: dict, where: str) -> dict:
        if name in ("keywords", "regex") and "field" in given and "fields" not in given:
            given = {("fields" if k == "field" else k): v for k, v in given.items()}
        known = {a.name for a in specs}
        unknown = set(given) - known
        if unknown:
            raise self.fail(f"{where}: unknown argument(s) {', '.join(sorted(map(str, unknown)))}; "
                            f"expected {', '.join(sorted(known))}")
        args: dict[str, Any] = {}
        for spec in specs:
            if spec.name not in given:
                if spec.required:
                    raise self.fail(f"{where}: missing argument '{spec.name}'")
                if spec.default is not None:
                    args[_PYTHON_NAMES.get(spec.name, spec.name)] = self._argument(
                        spec, spec.default, where)
                continue
            args[_PYTHON_NAMES.get(spec.name, spec.name)] = self._argument(spec, given[spec.name], where)
        self._check_combination(name, args, where)
        return args

    def _argument(self, spec: Arg, value: Any, where: str) -> Any:
        at = f"{where}.{spec.name}"
        kind = spec.kind
        if kind == "field":
            name = self._field(value, at, spec.field_kind)
            self.needs.add(frozenset([name]))
            return name
        if kind == "fields":
            values = [value] if isinstance(value, str) else value
            if not isinstance(values, list) or not values:
                raise self.fail(f"{at}: expected a field name or a list of field names")
            names = [self._field(v, at, spec.field_kind) for v in values]
            if spec.any_of:  # text searched in any of the fields: one present is enough
                self.needs.add(frozenset(names))
            else:
                self.needs.update(frozenset([n]) for n in names)
            return names
        if kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.fail(f"{at}: expected a number, got {value!r}")
            return float(value)
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise self.fail(f"{at}: expected a whole number >= 0, got {value!r}")
            return value
        if kind == "value":
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise self.fail(f"{at}: expected a single text or number, got {value!r}")
            return value
        if kind == "values":
            if not isinstance(value, list) or not value or not all(
                    isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
                raise self.fail(f"{at}: expected a non-empty list of texts or numbers")
            return value
        if kind in ("text", "choice"):
            if not isinstance(value, str) or not value:
                raise self.fail(f"{at}: expected text, got {value!r}")
            if spec.choices and value not in spec.choices:
                raise self.fail(f"{at}: expected one of {', '.join(spec.choices)}, got {value!r}")
            return value
        if kind == "texts":
            if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
                raise self.fail(f"{at}: expected a non-empty list of phrases")
            return value
        if kind == "digits":
            values = value if isinstance(value, list) else [value]
            prefixes = [str(v) for v in values]
            if not prefixes or not all(re.fullmatch(r"\d{1,10}", p) for p in prefixes):
                raise self.fail(f"{at}: expected a list of HS prefixes of digits (quote them: \"0101\")")
            return prefixes
        if kind == "op":
            if value not in OPERATORS:
                raise self.fail(f"{at}: expected one of {' '.join(OPERATORS)}, got {value!r}")
            return value
        if kind == "pattern":
            if not isinstance(value, str) or not value:
                raise self.fail(f"{at}: expected a regular expression")
            try:
                compile_regex(value)
            except ValueError as exc:
                raise self.fail(f"{at}: {exc}") from None
            return value
        if kind == "table":
            if not isinstance(value, str):
                raise self.fail(f"{at}: expected a reference table name")
            try:
                load_reference(value, self.reference_dirs)
            except ReferenceTableError as exc:
                raise self.fail(f"{at}: {exc}") from None
            return value
        if kind == "match":
            if not isinstance(value, dict) or not value:
                raise self.fail(f"{at}: expected a mapping field -> table column")
            match = {}
            for field, column in value.items():
                self.needs.add(frozenset([self._field(field, at, None)]))
                spec_ = {"column": column, "by": "exact"} if isinstance(column, str) else column
                if not isinstance(spec_, dict) or set(spec_) - {"column", "by"} or \
                        spec_.get("by", "exact") not in ("exact", "prefix") or "column" not in spec_:
                    raise self.fail(f"{at}.{field}: expected a column name or "
                                    "{column: NAME, by: exact|prefix}")
                match[field] = {"column": str(spec_["column"]), "by": spec_.get("by", "exact")}
            if sum(s["by"] == "prefix" for s in match.values()) > 1:
                raise self.fail(f"{at}: at most one field may match by prefix")
            return match
        if kind == "where":
            if not isinstance(value, dict):
                raise self.fail(f"{at}: expected a mapping table column -> value(s)")
            return {str(k): [str(x) for x in (v if isinstance(v, list) else [v])] for k, v in value.items()}
        if kind == "cond":
            return self.condition(value, at)
        if kind == "name":
            if not isinstance(value, str) or not re.fullmatch(r"[a-z_][a-z0-9_]*", value):
                raise self.fail(f"{at}: expected a lower-case name such as parcels")
            if value in FIELDS_BY_NAME or value in DERIVED_FIELDS:
                raise self.fail(f"{at}: '{value}' is already a field name")
            self.named.add(value)
            return value
        raise AssertionError(f"unhandled argument kind {kind}")

    def _field(self, name: Any, at: str, kind: str | None) -> str:
        actual = field_kind(name) if isinstance(name, str) else None
        if actual is None:
            raise self.fail(f"{at}: unknown field {name!r}; fields are the canonical columns "
                            f"({', '.join(FIELDS_BY_NAME)}) and derived fields ({', '.join(DERIVED_FIELDS)})")
        if kind and actual != kind:
            raise self.fail(f"{at}: field '{name}' is {actual}, this argument needs a {kind} field")
        self.fields.add(name)
        return name

    def _check_combination(self, name: str, args: dict, where: str) -> None:
        if name == "keywords":
            if bool(args.get("any")) == bool(args.get("table_name")):
                raise self.fail(f"{where}: give either 'any: [phrases]' or 'table:' with 'column:'")
            if args.get("table_name"):
                if not args.get("column"):
                    raise self.fail(f"{where}: 'table:' needs 'column:' naming the phrase column")
                self._require(args["table_name"], [args["column"]], where)
        if name == "between" and args.get("min") is None and args.get("max") is None:
            raise self.fail(f"{where}: give min, max or both")
        if name == "compare_fields":
            left, right = field_kind(args["left"]), field_kind(args["right"])
            if left != right:
                raise self.fail(f"{where}: cannot compare {left} field '{args['left']}' "
                                f"with {right} field '{args['right']}'")
            if left == "text" and args["op"] not in ("==", "!="):
                raise self.fail(f"{where}: text fields compare only with == or !=")
        if name in ("equals", "in", "not_in"):
            values = [args["value"]] if name == "equals" else args["values"]
            if field_kind(args["field"]) == "number" and not all(
                    isinstance(v, (int, float)) for v in values):
                raise self.fail(f"{where}: field '{args['field']}' is a number; give numbers")
        if name == "in_table":
            columns = [spec["column"] for spec in args["match"].values()] + list(args.get("where") or {})
            if args.get("valid_on"):
                columns += ["valid_from", "valid_to"]
            self._require(args["table_name"], columns, where)
        if name in ("group_count", "group_sum") and args.get("within_days") is not None:
            self.needs.add(frozenset([args["date"]]))

    def _require(self, table_name: str, columns: list[str], where: str) -> None:
        try:
            require_columns(load_reference(table_name, self.reference_dirs), table_name, columns)
        except ReferenceTableError as exc:
            raise self.fail(f"{where}: {exc}") from None

    def _check_template(self, template: str) -> None:
        try:
            parsed = list(string.Formatter().parse(template))
        except ValueError as exc:
            raise self.fail(f"reason: bad template: {exc}") from None
        for _literal, name, spec, conversion in parsed:
            if name is None:
                continue
            if name not in self.named:
                self._field(name, f"reason {{{name}}}", None)
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
