"""Imports point one way: cli -> connector -> mappings -> rules, and the heavy libraries
stay in the one module that owns them."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ["rules", "mappings", "connector", "cli"]  # each may import only those before it


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


def sources(package: str) -> list[Path]:
    if package == "cli":
        return [ROOT / "cli.py"]
    return sorted((ROOT / package).rglob("*.py"))


def test_imports_point_one_way():
    bad = []
    for i, layer in enumerate(LAYERS):
        forbidden = set(LAYERS[i + 1:])
        for path in sources(layer):
            wrong = imports(path) & forbidden
            if wrong:
                bad.append(f"{path.relative_to(ROOT)} imports {sorted(wrong)}")
    assert not bad, bad


def test_rules_import_no_io_libraries():
    for path in sources("rules"):
        assert not imports(path) & {"click", "requests", "simple_salesforce", "sqlite3", "rich"}, path


def test_only_one_module_imports_durable_and_one_simple_salesforce():
    durable = [p for layer in LAYERS for p in sources(layer) if "durable" in imports(p)]
    assert [p.name for p in durable] in ([], ["durable_engine.py"])
    sf = [p for layer in LAYERS for p in sources(layer) if "simple_salesforce" in imports(p)]
    assert len(sf) <= 1
