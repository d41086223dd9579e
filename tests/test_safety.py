"""Rule packs and model files come from other people: nothing on the rule path may
execute what it reads (no eval, exec, DataFrame.query or pickle)."""

import ast
from pathlib import Path

import detector

PACKAGE = Path(detector.__file__).parent


def test_no_code_execution_primitives_in_the_package():
    offences = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                if isinstance(node.func, ast.Name) and node.func.id in {"eval", "exec", "compile", "__import__"}:
                    offences.append(f"{path.name}:{node.lineno} calls {node.func.id}")
                if isinstance(node.func, ast.Attribute) and node.func.attr in {"query", "eval"}:
                    offences.append(f"{path.name}:{node.lineno} calls .{node.func.attr} (pandas eval)")
                if isinstance(node.func, ast.Attribute) and node.func.attr in {"load", "unsafe_load"} and \
                        getattr(node.func.value, "id", "") == "yaml":
                    offences.append(f"{path.name}:{node.lineno} uses yaml.load or unsafe_load instead of safe_load")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                if any(m.split(".")[0] in {"pickle", "dill", "cloudpickle", "marshal"} for m in modules):
                    offences.append(f"{path.name}:{node.lineno} imports {modules}")
    assert offences == []
