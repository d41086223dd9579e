"""Each rule says which angle its hit speaks from (``evidence:``): red needs two."""

from pathlib import Path

import pytest

from detector import load_rules
from detector.errors import RulePackError
from detector.rules.model import ANGLES
from detector.rules.parse import parse_rules


def rule(**extra):
    return {"id": "T-E-001", "title": "t", "description": "d", "pattern": "p", "severity": "high",
            "when": {"present": "hs_code"}, "reason": "r",
            "examples": {"hit": [{"hs_code": "1234"}], "miss": [{"hs_code": "1234"}]}, **extra}


def test_evidence_angles_are_parsed_in_order_without_repeats():
    parsed = parse_rules([rule(evidence=["channel", "parties", "channel"])], Path("t.yaml"))
    assert parsed[0].evidence == ("channel", "parties")
    assert parse_rules([rule(evidence="price")], Path("t.yaml"))[0].evidence == ("price",)


def test_an_unknown_angle_names_the_rule_and_the_angles():
    with pytest.raises(RulePackError, match=r"T-E-001: evidence angle 'chanel' is not one of goods, price"):
        parse_rules([rule(evidence=["chanel"])], Path("t.yaml"))


def test_every_shipped_rule_declares_its_angles():
    """A shipped rule without ``evidence:`` would count as an angle of its own and
    corroborate any other hit on its row."""
    undeclared = [r.id for r in load_rules() if not r.evidence and not r.mitigates]
    assert undeclared == []
    assert {angle for r in load_rules() for angle in r.evidence} <= set(ANGLES)
