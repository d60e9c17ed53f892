"""Dataclasses of the compiled core whose ``__init__`` is written out (issue 18).

mypyc compiles a dataclass's own methods to C but not the ``__init__`` that ``dataclasses``
generates at import time (it is ``exec``'d Python, run by the interpreter, setting each
field through the compiled class's descriptors). A request constructs some sixty of these
objects (SDP lines, options, media plans, the call model), so the classes built per request
declare ``@dataclass(init=False)`` and write ``__init__`` out: the same parameters, in the
same order, with the same defaults, a ``default_factory`` field taking ``None`` for "make a
new one" (a frozen class sets its fields with ``object.__setattr__``, as the generated code
does; compiled, that is a direct slot store: ~30 ns per object against ~300 ns). These tests hold each written-out ``__init__`` to what ``dataclasses`` would have
generated, so a field added to the class but not to ``__init__`` fails here, not in a call.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPILED = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["files"]


def _written_out() -> list[tuple[str, str]]:
    """(module path, class name) of every dataclass with ``init=False`` in the compiled
    modules."""
    found = []
    for path in COMPILED:
        tree = ast.parse((ROOT / path).read_text())
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            for decorator in node.decorator_list:
                if (isinstance(decorator, ast.Call) and getattr(decorator.func, "id", "") == "dataclass"
                        and any(k.arg == "init" for k in decorator.keywords)):
                    found.append((path, node.name))
    return found


WRITTEN_OUT = _written_out()


def _class(path: str, name: str) -> type:
    module = importlib.import_module(path.removesuffix(".py").removesuffix("/__init__").replace("/", "."))
    return getattr(module, name)


def _init_node(path: str, name: str) -> ast.FunctionDef:
    tree = ast.parse((ROOT / path).read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name)
    return next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")


def test_the_classes_built_per_request_are_written_out():
    names = {name for _path, name in WRITTEN_OUT}
    assert {"Line", "Connection", "MediaSection", "SessionDescription", "MediaPlan", "SessionPlan",
            "Stream", "StreamStats", "CallMedia", "Monologue", "Call", "Request", "Options",
            "_MediaWork", "AnswerCodec", "Endpoint", "Offered", "Envelope"} <= names


@pytest.mark.parametrize(("path", "name"), WRITTEN_OUT, ids=[n for _p, n in WRITTEN_OUT])
def test_the_signature_is_the_generated_one(path, name):
    """Parameters: the init fields in order, each defaulted as the field is (``None`` for a
    factory), nothing positional-only or keyword-only, no extra ones."""
    cls = _class(path, name)
    assert cls.__dataclass_params__.init is False
    node = _init_node(path, name)
    args = node.args
    assert not (args.posonlyargs or args.kwonlyargs or args.vararg or args.kwarg)
    params = [a.arg for a in args.args[1:]]
    fields = [f for f in dataclasses.fields(cls) if f.init]
    assert params == [f.name for f in fields]
    defaults = dict(zip(params[len(params) - len(args.defaults):], args.defaults, strict=True))
    for f in fields:
        if f.default is not dataclasses.MISSING:
            assert f.name in defaults, f"{name}.{f.name} lost its default"
            assert ast.literal_eval(defaults[f.name]) == f.default if _literal(defaults[f.name]) \
                else ast.unparse(defaults[f.name]) == _source_default(path, name, f.name)
        elif f.default_factory is not dataclasses.MISSING:
            assert f.name in defaults and ast.unparse(defaults[f.name]) == "None", \
                f"{name}.{f.name}: a factory field takes None for a new value"
        else:
            assert f.name not in defaults, f"{name}.{f.name} has no default in the class"


@pytest.mark.parametrize(("path", "name"), WRITTEN_OUT, ids=[n for _p, n in WRITTEN_OUT])
def test_every_field_is_set(path, name):
    """Each field (``init=False`` ones too) assigned once, from its parameter or default: by
    ``self.name = ...``, or in a frozen class by ``object.__setattr__(self, "name", ...)``."""
    cls = _class(path, name)
    frozen = cls.__dataclass_params__.frozen
    assigned = []
    for stmt in _init_node(path, name).body:
        if isinstance(stmt, ast.Assign) and not frozen:
            assigned += [t.attr for t in stmt.targets if isinstance(t, ast.Attribute)
                         and isinstance(t.value, ast.Name) and t.value.id == "self"]
        elif (frozen and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
              and ast.unparse(stmt.value.func) == "object.__setattr__"):
            target, attribute, _value = stmt.value.args
            assert ast.unparse(target) == "self"
            assigned.append(ast.literal_eval(attribute))
    assert sorted(assigned) == sorted(f.name for f in dataclasses.fields(cls))


@pytest.mark.parametrize(("path", "name"), WRITTEN_OUT, ids=[n for _p, n in WRITTEN_OUT])
def test_defaults_and_factories_behave_as_generated(path, name):
    """Built with only its required arguments: every other field holds its default, and
    each factory field a fresh object equal to what its factory makes (not one shared
    between objects)."""
    cls = _class(path, name)
    required = {f.name: object() for f in dataclasses.fields(cls)
                if f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    first, second = cls(**required), cls(**required)
    for f in dataclasses.fields(cls):
        value = getattr(first, f.name)
        if f.name in required:
            assert value is required[f.name]
        elif f.default_factory is not dataclasses.MISSING:
            made = f.default_factory()
            if isinstance(made, int):  # a counter (stream ids): a new number per object
                assert isinstance(value, int) and value != getattr(second, f.name)
            else:
                assert value == made and type(value) is type(made)
                if isinstance(made, list | dict | set):
                    assert value is not getattr(second, f.name)
        else:
            assert value == f.default and type(value) is type(f.default)


def _literal(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
    except ValueError:
        return False
    return True


def _source_default(path: str, name: str, field_name: str) -> str:
    """The default expression the class body gives a field, as source."""
    tree = ast.parse((ROOT / path).read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name)
    statement = next(n for n in cls.body if isinstance(n, ast.AnnAssign)
                     and isinstance(n.target, ast.Name) and n.target.id == field_name)
    value = statement.value
    assert value is not None
    if isinstance(value, ast.Call) and getattr(value.func, "id", "") == "field":
        value = next(k.value for k in value.keywords if k.arg == "default")
    return ast.unparse(value)
