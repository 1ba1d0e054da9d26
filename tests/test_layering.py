"""No module of ganzoo/ is on an import cycle, function-level imports included: each module
can be read (and changed) knowing only the modules below it."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ganzoo"


def module_names():
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def import_graph():
    """module -> the ganzoo modules it imports anywhere in its file (``from a.b import c``
    names a.b.c when c is a module, else a.b)."""
    mods = module_names()

    def resolve(dotted):
        parts = dotted.split(".")
        for i in range(len(parts), 0, -1):
            if ".".join(parts[:i]) in mods:
                return ".".join(parts[:i])
        return None

    graph = {m: set() for m in mods}
    for m, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [f"{node.module}.{a.name}" for a in node.names]
            for t in targets:
                if t.startswith("ganzoo"):
                    dep = resolve(t)
                    if dep and dep != m:
                        graph[m].add(dep)
    return graph


def cycles(graph):
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_checker_finds_a_cycle_and_the_real_edges():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    graph = import_graph()
    assert "ganzoo.bench.frame" in graph["ganzoo.bench.figures"]  # a module-level edge
    assert "ganzoo.bench.figures" in graph["ganzoo.bench.report"]  # a function-level one


def test_no_module_of_ganzoo_is_on_an_import_cycle():
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(
        " <-> ".join(c) + " (" + ", ".join(f"{m} -> {sorted(graph[m] & set(c))}" for m in c) + ")" for c in found)


# The layers that may reach up into the benchmark: the command line and the bench itself.
UPPER = ("ganzoo.bench", "ganzoo.commands", "ganzoo.cli", "ganzoo.__main__")


def upward_imports(graph):
    """(module, the ganzoo.bench modules it imports) for every module below the bench."""
    return [(m, sorted(d for d in deps if d == "ganzoo.bench" or d.startswith("ganzoo.bench.")))
            for m, deps in sorted(graph.items())
            if not any(m == u or m.startswith(u + ".") for u in UPPER)
            and any(d == "ganzoo.bench" or d.startswith("ganzoo.bench.") for d in deps)]


def test_the_upward_check_finds_an_upward_edge():
    graph = {"ganzoo.trainer": {"ganzoo.bench.record"}, "ganzoo.bench.runner": {"ganzoo.trainer"},
             "ganzoo.commands.train": {"ganzoo.bench.runner"}}
    assert upward_imports(graph) == [("ganzoo.trainer", ["ganzoo.bench.record"])]


def test_nothing_below_the_bench_imports_it():
    """The trainer, perf, throughput, metrics, data and variants only look down: a run can be
    trained, timed and scored without the benchmark layer (function-level imports included)."""
    found = upward_imports(import_graph())
    assert not found, "modules below the bench that import it: " + "; ".join(
        f"{m} -> {', '.join(d)}" for m, d in found)
