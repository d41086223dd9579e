"""The predicate registry: each predicate's function, arguments, checks and doc agree,
and the README's predicate table is the registry's."""

import inspect
from pathlib import Path

import pytest

from detector.rules.parse import ARGUMENT_KINDS
from detector.rules.predicates import PREDICATES, Arg, Predicate

README = Path(__file__).resolve().parents[2] / "README.md"
TABLE_HEADER = "| predicate | arguments | true when |"


def _argument(arg: Arg) -> str:
    if arg.default is not None:
        return f"`{arg.name}` (default `{arg.default}`)"
    return f"`{arg.name}`" if arg.required else f"`{arg.name}` (optional)"


def registry_row(predicate: Predicate) -> str:
    """The README table row of a predicate: its name, its arguments in order and the
    first paragraph of its docstring."""
    arguments = ", ".join(map(_argument, predicate.args))
    return f"| `{predicate.name}` | {arguments} | {predicate.doc.replace('``', '`')} |"


def readme_rows() -> list[str]:
    """The body rows of the README's predicate table."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index(TABLE_HEADER) + 2  # past the header and the |---| line
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def test_the_readme_predicate_table_is_the_registry():
    """Before: the README grouped predicates by hand (`missing`, `present` took "field
    name"), so a predicate or an argument added to the registry was missing from it."""
    expected = [registry_row(predicate) for predicate in PREDICATES.values()]
    assert readme_rows() == expected, "README.md predicate table should be:\n" + "\n".join(
        [TABLE_HEADER, "|---|---|---|", *expected])


@pytest.mark.parametrize("name", list(PREDICATES))
def test_each_argument_kind_has_a_checker(name):
    """An argument of a kind without a checker would fail only when a pack uses it."""
    assert {arg.kind for arg in PREDICATES[name].args} <= set(ARGUMENT_KINDS)


@pytest.mark.parametrize("name", list(PREDICATES))
def test_each_argument_is_a_parameter_of_the_function(name):
    """A registered argument the function does not take would fail while scoring."""
    predicate = PREDICATES[name]
    parameters = list(inspect.signature(predicate.function).parameters)
    assert parameters[:2] == ["table", "ctx"]
    assert {arg.keyword for arg in predicate.args} == set(parameters[2:])
    assert predicate.doc, f"{name} has no docstring to document it"
