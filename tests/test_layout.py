"""The package's import graph stays layered: no import cycles between modules (lazy imports inside functions
included) and no module importing another's private names."""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "empf_hw"


def _module(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[tuple[str, str]]]:
    """module → {(imported module, imported name or "")}."""
    out = {}
    for f in PKG.rglob("*.py"):
        mod = _module(f)
        pkg = mod if f.name == "__init__.py" else mod.rsplit(".", 1)[0]
        deps = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = pkg.split(".")
                base = base[:len(base) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module
                if target and target.startswith("empf_hw"):
                    for a in node.names:
                        sub = f"{target}.{a.name}"
                        deps.add((sub, "") if (PKG.parent / sub.replace(".", "/")).with_suffix(".py").exists()
                                 or (PKG.parent / sub.replace(".", "/")).is_dir() else (target, a.name))
            elif isinstance(node, ast.Import):
                deps |= {(a.name, "") for a in node.names if a.name.startswith("empf_hw")}
        out[mod] = deps
    return out


def test_no_import_cycles():
    graph = {m: {d for d, _ in deps if d != m} for m, deps in _imports().items()}
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if d not in graph:
                continue
            assert state.get(d) != "open", f"import cycle: {' → '.join(stack[stack.index(d):] + [d])}"
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_no_module_takes_another_modules_private_names():
    bad = [(m, d, n) for m, deps in _imports().items() for d, n in deps
           if n.startswith("_") and not n.startswith("__") and d != m]
    assert not bad, bad
