"""What a parsed rule is: its metadata, its condition tree and its examples.

A rule is data: the YAML is parsed once into these frozen objects, checked, and then
evaluated column-wise by :mod:`detector.rules.engine`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
# The independent angles a hit can speak from (a rule's ``evidence:``). Red needs two of
# them, or a critical rule (detector.risk): what the goods are, their price, how they
# travel, how they are packed, who sends and receives them, where they come from and
# go, their licence, and a series of declarations seen together.
ANGLES: tuple[str, ...] = ("goods", "price", "channel", "packing", "parties", "route", "licence", "series")


@dataclass(frozen=True)
class Leaf:
    """A predicate call: ``name`` from the predicate registry with checked ``args``."""

    name: str
    args: dict[str, Any]
    # The columns the call reads, each entry a set of alternatives: where the file lacks
    # one, the call is unknown (an ``any`` branch that cannot run does not stop the rest).
    needs: tuple[frozenset[str], ...] = ()


@dataclass(frozen=True)
class AllOf:
    children: tuple["Condition", ...]


@dataclass(frozen=True)
class AnyOf:
    children: tuple["Condition", ...]


@dataclass(frozen=True)
class Not:
    child: "Condition"


Condition = Leaf | AllOf | AnyOf | Not


@dataclass(frozen=True)
class Example:
    """Rows that the rule must hit (``expect_hit``) or must not hit, evaluated together."""

    expect_hit: bool
    rows: tuple[dict[str, Any], ...]
    note: str = ""
    number: int = 1


@dataclass(frozen=True)
class Rule:
    """One rule of a pack.

    ``fields`` lists every field the rule reads; ``needs`` says which the table must
    have for the rule to run: each entry is a set of alternatives, one of which must be
    present (a keyword search over description or remarks runs on either).
    """

    id: str
    title: str
    description: str
    pattern: str
    severity: str
    when: Condition
    reason: str
    references: tuple[str, ...]
    examples: tuple[Example, ...]
    fields: frozenset[str]
    needs: tuple[frozenset[str], ...]
    source: Path
    reference_dirs: tuple[Path, ...] = ()
    valid_from: date | None = None
    valid_to: date | None = None
    evidence: tuple[str, ...] = ()  # angles of ANGLES; none declared: the rule is its own angle
    # angles whose evidence a hit lowers, by its severity's weight (a licence on file
    # lowers what the channel, parties and route say); empty: not a mitigating rule
    mitigates: tuple[str, ...] = ()
    definition: dict = field(default_factory=dict, compare=False, hash=False, repr=False)


@dataclass
class RuleSet:
    """The rules loaded from one or more packs, in load order."""

    rules: list[Rule] = field(default_factory=list)
    sources: list[Path] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self):
        return iter(self.rules)

    @property
    def reference_dirs(self) -> tuple[Path, ...]:
        """The packs' own ``reference/`` folders, in load order: their synonym tables
        extend the shipped ones when declarations are read for these rules."""
        return tuple(dict.fromkeys(folder for rule in self.rules for folder in rule.reference_dirs))

    def get(self, rule_id: str) -> Rule | None:
        """The rule with ``rule_id``, or None."""
        return next((rule for rule in self.rules if rule.id == rule_id), None)
