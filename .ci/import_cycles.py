"""Fail on import cycles between the project's own modules, and between its top-level
packages (contract, job, local, experiment, console, training, benchmarks, tests).

    python .ci/import_cycles.py        (make lint; .ci/run)

Every import counts, also one inside a function: a lazy import that only breaks a cycle
at load time still ties the two modules together. Also checked: what a TaskManager runs
(job/) imports nothing of the project but the data contract (``LAYERS``).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAYERS = {"contract": set(), "job": {"contract"}}  # package -> the only packages it may import
PACKAGES = ("contract", "job", "local", "experiment", "console", "training", "benchmarks", "tests")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if "node_modules" in path.parts:
                continue
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports (``from a import b``: a.b if it is a module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            candidates = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in known:  # import a.b.c where a.b is the module
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                targets.add(candidate)
    return targets


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = counter[0]
                counter[0] += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return out


def main() -> int:
    known = modules()
    graph = {name: imports(name, path, known) for name, path in known.items()}
    packages: dict[str, set[str]] = {}
    for name, targets in graph.items():
        top = name.split(".")[0]
        packages.setdefault(top, set()).update(t.split(".")[0] for t in targets if t.split(".")[0] != top)
    found = [("modules", c) for c in cycles(graph)] + [("packages", c) for c in cycles(packages)]
    for level, members in found:
        print(f"import cycle between {level}: {' <-> '.join(members)}", file=sys.stderr)
    layering = [
        (package, sorted(packages[package] - allowed))
        for package, allowed in LAYERS.items()
        if packages.get(package, set()) - allowed
    ]
    for package, extra in layering:
        print(f"{package}/ imports {', '.join(extra)}: it may import only {sorted(LAYERS[package])}", file=sys.stderr)
    print(
        f"import cycles: {len(found)} ({len(known)} modules, {len(packages)} packages); "
        f"layering violations: {len(layering)}"
    )
    return 1 if found or layering else 0


if __name__ == "__main__":
    sys.exit(main())
