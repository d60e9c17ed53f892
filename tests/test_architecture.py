"""The package's shape: no import cycles, so dependencies point one way.

The control plane once held itself together with commands that registered themselves on
import, which made core, calls, the command modules and the CLI import each other. This
test builds the import graph of our packages from their source (``ast``, nothing is
imported) and fails on any cycle, naming its modules. Imports under ``if TYPE_CHECKING:``
are left out: they exist for annotations only and never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rtpengined", "transports", "rtpctl")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    """Our modules that ``module`` imports at run time (lazy imports in functions too)."""
    out: set[str] = set()
    base = module.split(".") if is_package else module.split(".")[:-1]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    out.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - (node.level - 1)]
                target = ".".join(anchor + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                if f"{target}.{alias.name}" in known:
                    out.add(f"{target}.{alias.name}")
                elif target in known:
                    out.add(target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    out.discard(module)
    return out


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {
        name: _imports(ast.parse(path.read_text()), name, path.name == "__init__.py", known)
        for name, path in modules.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strongconnect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                strongconnect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            strongconnect(node)
    return found


def test_the_checker_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_relative_lazy_imports():
    graph = import_graph()
    assert "rtpengined.protocol.ngcodec" in graph["rtpengined.core"]
    assert "rtpengined.protocol.bencode" in graph["rtpengined.protocol.ngcodec"]


def test_no_import_cycles_in_our_packages():
    assert cycles(import_graph()) == []


def test_the_protocol_package_is_the_bottom_layer():
    """Codecs and the tables daemon and rtpctl share import nothing else of ours, so every
    layer above (and rtpctl) can use them without pulling in the daemon."""
    graph = import_graph()
    for module, imported in graph.items():
        if module.startswith("rtpengined.protocol"):
            outside = {m for m in imported if not m.startswith("rtpengined.protocol")}
            assert not outside, (module, outside)


def test_unit_tests_cannot_reach_the_network_or_start_processes():
    """The ``unit`` group is sans-I/O by construction (conftest's ``_sans_io``)."""
    import socket
    import subprocess

    import pytest

    with pytest.raises(AssertionError, match="network socket"):
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with pytest.raises(AssertionError, match="started a process"):
        subprocess.Popen(["true"])
    left, right = socket.socketpair()  # AF_UNIX stays allowed (trio needs it)
    left.close()
    right.close()


def test_the_shared_scheme_table_matches_the_transports_that_serve_them():
    """rtpctl and the daemon read schemes from one table; the transports must agree with it."""
    import transports
    from rtpengined.config import Config
    from rtpengined.protocol.schemes import SCHEMES

    served = {}
    for transport in transports.load_all().values():
        for scheme in transport.schemes:
            served[scheme] = transport
    assert set(served) == set(SCHEMES)
    for name, scheme in SCHEMES.items():
        transport = served[name]
        assert transport.kinds == scheme.kinds, name
        assert transport.serve.__module__ == scheme.module, name
    config = Config()
    assert config.listen_ng[0].port == SCHEMES["udp"].default_port
    assert config.listen_cli[0].port == SCHEMES["cli"].default_port
    assert config.listen_http[0].port == SCHEMES["http"].default_port


def test_the_daemon_cli_tables_have_the_shared_words_in_order():
    """rtpctl completes from ``protocol.cliwords``; the daemon's tables must list the same."""
    from rtpengined import ctl
    from rtpengined.config import LOG_SUBSYSTEMS
    from rtpengined.ctl import calls, params, setters, views
    from rtpengined.model import Call, Monologue
    from rtpengined.protocol import cliwords

    def words(table):
        return tuple(keyword for keyword, _ in table)

    call = Call("c", 0.0, 0.0)
    party = Monologue("t", 0.0)
    assert words(ctl.TOP) == cliwords.TOP
    assert words(views.LIST) == cliwords.LIST
    assert words(setters.SET) == cliwords.SET
    assert words(params.PARAMS) == cliwords.PARAMS
    assert words(calls._call_table(call)) == cliwords.CALL
    assert words(calls._tag_table(call, party)) == cliwords.TAG
    assert tuple(LOG_SUBSYSTEMS) == cliwords.SUBSYSTEMS
