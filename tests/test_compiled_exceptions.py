"""No module that mypyc compiles defines an exception class (``rtpengined/protocol/errors.py``).

A compiled build makes every class of those modules native, and a native exception's
deallocator leaves weak references to it dangling: their callbacks never run and one that
outlives the exception crashes the interpreter at exit (mypyc/mypyc#1102; reproduced here
with the core's ``SdpError`` before it moved). The pure build shows nothing of that, so
this test holds the rule on the sources: the modules ``[tool.mypy]`` lists (the ones the
compiled build is made of) define no subclass of ``BaseException``; their errors live in
``rtpengined.protocol.errors``, which is not compiled.
"""

from __future__ import annotations

import gc
import importlib
import inspect
import tomllib
import weakref
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _compiled_modules() -> list[str]:
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["files"]
    return [name.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
            for name in listed]


def test_no_compiled_module_defines_an_exception():
    modules = _compiled_modules()
    assert "rtpengined.protocol.errors" not in modules
    defined = [
        f"{module}.{name}"
        for module in modules
        for name, value in vars(importlib.import_module(module)).items()
        if inspect.isclass(value) and value.__module__ == module
        and issubclass(value, BaseException)
    ]
    assert not defined, defined


def test_the_cores_errors_are_where_they_were_imported_from():
    """The old import paths still give the same classes (ngcodec, sdp, ports re-export)."""
    from rtpengined import ports, sdp
    from rtpengined.protocol import errors, ngcodec

    assert ngcodec.NgError is errors.NgError and ngcodec.JsonTextError is errors.JsonTextError
    assert sdp.SdpError is errors.SdpError and issubclass(sdp.SdpError, errors.NgError)
    assert ports.OutOfPorts is errors.OutOfPorts and issubclass(ports.OutOfPorts, errors.NgError)


def test_a_weak_reference_to_a_core_error_is_told_when_it_goes():
    from rtpengined.protocol.errors import NgError, OutOfPorts, SdpError

    gone: list[str] = []
    refs = []
    for kind in (NgError, SdpError, OutOfPorts):
        error = kind("reason")
        refs.append(weakref.ref(error, lambda _, name=kind.__name__: gone.append(name)))
        del error
    gc.collect()
    assert gone == ["NgError", "SdpError", "OutOfPorts"]
    assert all(ref() is None for ref in refs)
