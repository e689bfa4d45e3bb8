"""Dependencies point one way (market <- brokers <- strategies <- daemon) and every module
imports on its own in a fresh interpreter (catches import cycles early)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["market", "brokers", "strategies", "daemon"]


def _modules() -> list[str]:
    mods = []
    for pkg in LAYERS:
        for path in sorted((ROOT / pkg).glob("*.py")):
            mods.append(f"{pkg}.{path.stem}" if path.stem != "__init__" else pkg)
    return mods


@pytest.mark.parametrize("pkg", LAYERS)
def test_packages_import_only_inner_layers(pkg: str) -> None:
    forbidden = set(LAYERS[LAYERS.index(pkg) + 1 :])
    for path in (ROOT / pkg).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path.name} imports {name}"


def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    code = "import importlib, sys; importlib.import_module(sys.argv[1])"
    procs = {
        module: subprocess.Popen(
            [sys.executable, "-c", code, module],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for module in _modules()
    }
    failures = {}
    for module, proc in procs.items():
        _, err = proc.communicate(timeout=120)
        if proc.returncode != 0:
            failures[module] = err[-500:]
    assert not failures
