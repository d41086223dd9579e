"""House rules a reviewer would otherwise check by hand."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "detector"
MAX_LINES = 60


def test_a_function_over_60_lines_says_why_above_it():
    """A long function hides its steps; one over the bound is split, or carries a
    comment just above it (or its decorators) saying why it is long ("# Over 60
    lines for its numpydoc parameters; ..."). The synthetic generator is exempt: its
    tables of schemes read best whole."""
    unexplained = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "synthetic.py":
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                    node.end_lineno - node.lineno + 1 > MAX_LINES:
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                above = lines[first - 2].strip() if first > 1 else ""
                if not above.startswith("#"):
                    unexplained.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} "
                                       f"({node.end_lineno - node.lineno + 1} lines)")
    assert not unexplained, "functions over 60 lines without a comment saying why:\n" + "\n".join(unexplained)
