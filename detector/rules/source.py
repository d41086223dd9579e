"""A rule's text as its pack file holds it, comments included.

``detector rules show`` prints what the analyst wrote, not a re-serialisation of the
parsed rule (which would drop comments, reorder nothing but re-quote everything and
hide which file is really in use).
"""

from __future__ import annotations

import yaml

from detector.errors import RulePackError
from detector.rules.model import Rule


def rule_text(rule: Rule) -> str:
    """The lines of ``rule.source`` that hold ``rule``, from its ``id`` to the line
    before the next rule (comments and blank lines inside it kept as written)."""
    text = rule.source.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise RulePackError(f"{rule.source}: cannot read the pack again: {exc}") from None
    for item in _rule_nodes(root):
        if _id_of(item) == rule.id:
            lines = text.splitlines()
            # The node ends where the next token starts: its line belongs to this rule
            # only when some of the rule's own text comes before that point.
            end = item.end_mark.line
            if end < len(lines) and lines[end][:item.end_mark.column].strip():
                end += 1
            return "\n".join(lines[item.start_mark.line:end]).rstrip()
    raise RulePackError(f"{rule.source}: rule {rule.id} is no longer in this file; it changed after loading")


def _rule_nodes(root) -> list:
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if key.value == "rules" and isinstance(value, yaml.SequenceNode):
            return [node for node in value.value if isinstance(node, yaml.MappingNode)]
    return []


def _id_of(node: yaml.MappingNode) -> str | None:
    return next((value.value for key, value in node.value
                 if key.value == "id" and isinstance(value, yaml.ScalarNode)), None)
