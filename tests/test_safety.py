"""Rule packs and model files come from other people: nothing on the rule path may
execute what it reads (no eval, exec, DataFrame.query or pickle)."""

import ast
from pathlib import Path

import pytest

import detector

PACKAGE = Path(detector.__file__).parent


def _safe_loader(call: ast.Call) -> bool:
    """yaml.load(..., Loader=SAFE_YAML_LOADER): the one loader constant, checked below."""
    return any(k.arg == "Loader" and getattr(k.value, "id", "") == "SAFE_YAML_LOADER" for k in call.keywords)


def test_the_yaml_loader_builds_plain_data_only():
    import yaml

    from detector.rules.parse import SAFE_YAML_LOADER

    assert SAFE_YAML_LOADER in (getattr(yaml, "CSafeLoader", yaml.SafeLoader), yaml.SafeLoader)
    with pytest.raises(yaml.YAMLError):
        yaml.load("!!python/object/apply:os.system ['true']", Loader=SAFE_YAML_LOADER)


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
                        getattr(node.func.value, "id", "") == "yaml" and not _safe_loader(node):
                    offences.append(f"{path.name}:{node.lineno} uses yaml.load or unsafe_load without a safe loader")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                if any(m.split(".")[0] in {"pickle", "dill", "cloudpickle", "marshal"} for m in modules):
                    offences.append(f"{path.name}:{node.lineno} imports {modules}")
    assert offences == []
