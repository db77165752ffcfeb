"""The import structure of ``src/ketamine_ptsd`` against the layer order of
docs/architecture.md: no module imports from a layer above its own, no two units of one
layer import each other, the clinicians' web app reaches the model only through the use
cases, and no modules import each other in a cycle.

Every import counts, wherever it is written: at module level, inside a function (a lazy
import is still a dependency, and it is how cycles usually hide), or under
``if TYPE_CHECKING:``. Imports of third-party packages are not checked here.

Exceptions, when there are any, are listed once, in ``KNOWN_EXCEPTIONS`` below, each with
its reason and what removes it (none today). A new violation fails the test; an exception
that no longer occurs fails it too, so the list only shrinks.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = ROOT / "src" / "ketamine_ptsd"
PACKAGE = "ketamine_ptsd"
DOC = ROOT / "docs" / "architecture.md"

# The one list of edges that break the rules (empty today). Key: (importing module,
# imported module), both dotted; value: why it is there and what removes it.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def resolve(name: str) -> str:
    """The longest known module that ``name`` (a module or a module's attribute) names."""
    known = modules()
    while name not in known and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def imports_of(module: str) -> set[str]:
    """The project modules ``module`` imports, anywhere in its source."""
    path = modules()[module]
    is_package = path.name == "__init__.py"
    here = module.split(".") if is_package else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            # ``from pkg import name`` imports the module pkg.name when there is one.
            names = [f"{origin}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                target = resolve(name)
                if target != module:
                    found.add(target)
    return found


def unit_of(module: str) -> str:
    """The unit a module belongs to: its top-level package or module under the package
    root (``ketamine_ptsd.store.records`` -> ``store``); the root itself is ``ketamine_ptsd``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else PACKAGE


@cache
def layers() -> dict[str, int]:
    """Unit -> layer number (0 lowest), read from the ``layers`` block of docs/architecture.md."""
    text = DOC.read_text(encoding="utf-8")
    block = re.search(r"```text layers\n(.*?)```", text, re.S)
    assert block, "docs/architecture.md has no ```text layers block"
    order: dict[str, int] = {}
    for line in block.group(1).splitlines():
        match = re.match(r"\s*(\d+)\s+(.+?)\s*(?:#.*)?$", line)
        if not match:
            continue
        for unit in match.group(2).split(","):
            order[unit.strip()] = int(match.group(1))
    return order


# The web app is the clinicians' front end: it calls the use cases (care/), the records
# (store/) and the clinic rules, never the simulation layers below them.
WEB_MAY_NOT_REACH = {"model", "engine", "population", "simulation", "calibration", "trials"}


def violations() -> dict[tuple[str, str], str]:
    """(importer, imported) -> the rule it breaks."""
    order = layers()
    out: dict[tuple[str, str], str] = {}
    for module in modules():
        unit = unit_of(module)
        for target in imports_of(module):
            other = unit_of(target)
            if other == unit:
                continue
            if order[other] > order[unit]:
                out[(module, target)] = f"{unit} (layer {order[unit]}) imports {other} (layer {order[other]}, above)"
            elif order[other] == order[unit]:
                out[(module, target)] = f"{unit} and {other} share layer {order[unit]} and must not import each other"
            elif unit == "web" and other in WEB_MAY_NOT_REACH:
                out[(module, target)] = f"the web app reaches {other} directly instead of through care/"
    return out


def cycles() -> list[list[str]]:
    """The strongly connected components (more than one module) of the import graph."""
    graph = {m: sorted(imports_of(m)) for m in modules()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_every_unit_has_a_layer():
    missing = sorted({unit_of(m) for m in modules()} - set(layers()))
    assert not missing, f"units without a layer in docs/architecture.md: {missing}"


def test_the_import_walk_sees_lazy_and_relative_imports():
    # simulate is imported inside a function of cli.py; report.trial_report imports the
    # version with the relative ``from .._version import __version__``.
    assert "ketamine_ptsd.simulation" in imports_of("ketamine_ptsd.cli")
    assert "ketamine_ptsd._version" in imports_of("ketamine_ptsd.report.trial_report")
    assert "ketamine_ptsd.store.records" in imports_of("ketamine_ptsd.store")


def test_no_import_breaks_the_layer_order():
    found = violations()
    new = {edge: why for edge, why in found.items() if edge not in KNOWN_EXCEPTIONS}
    assert not new, "imports that break the layer order of docs/architecture.md:\n" + "\n".join(
        f"  {a} -> {b}: {why}" for (a, b), why in sorted(new.items())
    )


def test_no_import_cycles():
    allowed = set(KNOWN_EXCEPTIONS)
    unexplained = []
    for component in cycles():
        members = set(component)
        inner = {(a, b) for a in component for b in imports_of(a) if b in members}
        if not inner & allowed:
            unexplained.append(component)
    assert not unexplained, f"import cycles: {unexplained}"


def test_known_exceptions_still_occur():
    """An exception that was removed must leave the list, so the list only shrinks."""
    found = set(violations())
    for component in cycles():
        members = set(component)
        found |= {(a, b) for a in component for b in imports_of(a) if b in members}
    stale = sorted(set(KNOWN_EXCEPTIONS) - found)
    assert not stale, f"known exceptions that no longer occur (remove them): {stale}"


#: The longest a module may be (issue 16): past it, a module holds more than one concern.
MAX_LINES = 700


def test_no_module_is_over_the_line_limit():
    long = {name: n for name, path in modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"
