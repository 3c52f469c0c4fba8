"""The layering rule of shared/DESIGN.md, checked on the import statements of every module."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# package -> packages it must never import
FORBIDDEN = {
    "search_space": {"latency_models", "nas", "experiments"},
    "latency_models": {"nas", "experiments"},
    "experiments": {"nas"},
}


def imported_packages(path: Path) -> set[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {(alias.name.split(".")[0], node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add((node.module.split(".")[0], node.lineno))
    return out


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_packages_do_not_import_upper_ones(package):
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name, line in imported_packages(path):
            if name in FORBIDDEN[package]:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not bad, "\n".join(bad)


def test_only_the_cli_reaches_experiments():
    bad = []
    for path in sorted((ROOT / "nas").rglob("*.py")):
        if "cli" in path.relative_to(ROOT / "nas").parts:
            continue
        bad += [f"{path.relative_to(ROOT)}:{line}" for name, line in imported_packages(path) if name == "experiments"]
    assert not bad, "\n".join(bad)


def test_importing_packages_reads_no_files(tmp_path, monkeypatch):
    """No state at import time: importing every top-level package must not open files outside Python's own."""
    import subprocess
    import sys
    code = (
        "import builtins, io\n"
        "opened = []\n"
        "orig = builtins.open\n"
        "def spy(f, *a, **k):\n"
        "    opened.append(str(f)); return orig(f, *a, **k)\n"
        "builtins.open = spy\n"
        "import search_space.references, search_space.space, search_space.cost, latency_models.platform\n"
        "import nas.cli.main\n"
        "print([f for f in opened if not f.endswith(('.py', '.pyc', '.json', '.pth'))])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
