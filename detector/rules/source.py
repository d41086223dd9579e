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
    """The lines of ``rule.source`` that hold ``rule``, comments and blank lines inside
    it kept as written.

    The text starts at the comment block written directly above the rule's ``- id:``
    (no blank line between): analysts put a rule's note there. It ends before the
    blank lines and comments that follow the rule at the indentation of its ``-``:
    those open the next rule or section. A comment indented as the rule's keys stays
    with the rule.
    """
    text = rule.source.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise RulePackError(f"{rule.source}: cannot read the pack again: {exc}") from None
    for item in _rule_nodes(root):
        if _id_of(item) == rule.id:
            lines = text.splitlines()
            first, dash = _dash_of(lines, item.start_mark)
            # The node ends where the next token starts: its line belongs to this rule
            # only when some of the rule's own text comes before that point.
            end = item.end_mark.line
            if end < len(lines) and lines[end][:item.end_mark.column].strip():
                end += 1
            start = first
            while start > 0 and _comment_at_or_left_of(lines[start - 1], dash):
                start -= 1
            while end > first + 1 and (not lines[end - 1].strip() or _comment_at_or_left_of(lines[end - 1], dash)):
                end -= 1
            return "\n".join(lines[start:end]).rstrip()
    raise RulePackError(f"{rule.source}: rule {rule.id} is no longer in this file; it changed after loading")


def _dash_of(lines: list[str], mark) -> tuple[int, int]:
    """The line and column of the ``-`` opening the sequence item that starts at
    ``mark``: on the same line (``- id: X``) or alone on the line above."""
    before = lines[mark.line][:mark.column].rstrip()
    if before.endswith("-"):
        return mark.line, len(before) - 1
    above = lines[mark.line - 1] if mark.line else ""
    return (mark.line - 1, above.index("-")) if above.strip() == "-" else (mark.line, mark.column)


def _comment_at_or_left_of(line: str, column: int) -> bool:
    """Whether ``line`` is a comment starting at ``column`` or to the left of it."""
    text = line.lstrip()
    return text.startswith("#") and len(line) - len(text) <= column


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
