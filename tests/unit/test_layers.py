"""Imports point one way: cli -> connector -> mappings -> rules; inside connector, each stage
of a run imports only the stages before it; and the heavy libraries stay in the one module that
owns them."""
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


# Inside connector/: files and dbfile are leaves; orgs talk to an org; workspace reads the admin's
# files; context reads an org into rule records; sync and preview run on them (a preview from an
# org plans as a dry sync does), and so does report (reading the org and the journal); offline
# explains; render lays decisions and runs out for a terminal; demo puts everything together;
# commands, the command line's commands, sit on top of them all (cli.py registers them).
CONNECTOR = [("files", "dbfile"), ("orgs",), ("workspace",), ("context",), ("sync",), ("preview", "report"),
             ("offline",), ("render",), ("demo",), ("commands",)]


def stage(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "connector" or len(parts) < 2 or parts[1] == "__init__":
        return None
    return next(i for i, names in enumerate(CONNECTOR) if parts[1] in names)


def connector_imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: relative import; write connector.<stage>... in full"
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
    return out


def test_connector_stages_point_one_way():
    bad = []
    for path in sources("connector"):
        rel = path.relative_to(ROOT).with_suffix("")
        own = stage(".".join(rel.parts))
        if own is None:  # connector/__init__.py
            continue
        for module in connector_imports(path):
            other = stage(module)
            if other is not None and other > own:
                bad.append(f"{rel} imports {module}")
    assert not bad, bad


def test_every_connector_module_has_a_stage():
    for path in (ROOT / "connector").iterdir():
        if path.name in ("__init__.py", "__pycache__"):
            continue
        assert any(path.stem in names for names in CONNECTOR), f"connector/{path.name} belongs to no stage"
