"""The house rules of imports: every module imports on its own in a fresh interpreter,
arrows point down only (storage <- scoring <- messages <- bot), and no module imports
itself back through others (type-only imports count too)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("storage", "scoring", "messages", "bot")

# The parent loads every third-party module the project imports once (they are not what
# is under test), then forks one child per project module, which imports it fresh.
_EACH_ALONE = r"""
import importlib, json, os, sys, traceback
names, libraries = json.loads(sys.argv[1])
for lib in libraries:
    try:
        importlib.import_module(lib)
    except BaseException:
        pass  # the child that needs it reports the failure
failed, running = [], {}
def reap():
    pid, status = os.wait()
    if os.waitstatus_to_exitcode(status) != 0:
        failed.append(running[pid])
    del running[pid]
for name in names:
    if len(running) >= (os.cpu_count() or 1):
        reap()
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(name)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    running[pid] = name
while running:
    reap()
print("FAILED:" + ",".join(failed))
"""


def project_modules() -> dict[str, Path]:
    out = {}
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _third_party(known: dict[str, Path]) -> list[str]:
    out: set[str] = set()
    for path in known.values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                out |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                out.add(node.module)
    project = set(LAYERS)
    return sorted(m for m in out if m.split(".")[0] not in project
                  and m.split(".")[0] not in sys.stdlib_module_names)


def test_every_module_imports_on_its_own() -> None:
    known = project_modules()
    args = json.dumps([sorted(known), _third_party(known)])
    done = subprocess.run([sys.executable, "-c", _EACH_ALONE, args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    failed = done.stdout.strip().rpartition("FAILED:")[2]
    assert not failed, f"these modules do not import on their own: {failed}\n{done.stderr}"


def _imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            found |= {mod} | {f"{mod}.{a.name}" for a in node.names}
    deps = set()
    for target in found:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            deps.add(target)
    return deps


def test_layers_import_downward_only_and_without_cycles() -> None:
    known = project_modules()
    edges = {name: _imports(name, path, known) for name, path in known.items()}
    upward = sorted(f"{a} -> {b}" for a, deps in edges.items() for b in deps
                    if LAYERS.index(b.split(".")[0]) > LAYERS.index(a.split(".")[0]))
    assert not upward, f"imports that run upward: {upward}"
    # A package's __init__ may import its own submodules (to register them); any other
    # way back to a module is a cycle.
    for name, path in known.items():
        if path.name == "__init__.py":
            edges[name] = {d for d in edges[name] if not d.startswith(name + ".")}

    def reaches(start: str, goal: str) -> bool:
        seen, todo = {start}, [start]
        while todo:
            for nxt in edges[todo.pop()]:
                if nxt == goal:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    cycles = sorted(a for a, deps in edges.items() if any(reaches(b, a) for b in deps))
    assert not cycles, f"modules that import themselves back: {cycles}"


def test_listeners_only_parse_call_a_service_and_reply() -> None:
    """No Slack listener reads the store or the models itself: that is the services' work."""
    known = project_modules()
    listeners = {name: path for name, path in known.items()
                 if name.split(".")[:3][-1] in ("commands", "actions", "events", "views")
                 and name.startswith("bot.listeners.")}
    assert listeners
    reaching = sorted(f"{name} -> {dep}" for name, path in listeners.items()
                      for dep in _imports(name, path, known)
                      if dep.split(".")[0] in ("storage", "scoring"))
    assert not reaching, f"listeners that import storage or scoring: {reaching}"
