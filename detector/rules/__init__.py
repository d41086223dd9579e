"""The rule engine: rule packs as data, checked on load, evaluated column-wise.

- :mod:`~detector.rules.model`: what a parsed rule is.
- :mod:`~detector.rules.parse`: reading and checking YAML packs.
- :mod:`~detector.rules.predicates`: the predicate vocabulary.
- :mod:`~detector.rules.engine`: runs the rules over a table: hits and reasons, column-wise.
- :mod:`~detector.rules.examples`: running each rule's hit and miss examples.
"""

from detector.rules.engine import RuleResults, evaluate_rules
from detector.rules.examples import run_examples
from detector.rules.model import SEVERITIES, Rule, RuleSet
from detector.rules.parse import load_rules, parse_rules
from detector.rules.prices import below_price_band  # noqa: F401  (registers the predicate)

__all__ = ["SEVERITIES", "Rule", "RuleResults", "RuleSet", "evaluate_rules", "load_rules",
           "parse_rules", "run_examples"]
