"""No module that mypyc compiles defines a class that something holds by weak reference: an
exception class (``rtpengined/protocol/errors.py``) or a logging handler (``log_stream``).

A compiled build makes every class of those modules native, and a native exception's
deallocator leaves weak references to it dangling: their callbacks never run and one that
outlives the exception crashes the interpreter at exit (mypyc/mypyc#1102; reproduced here
with the core's ``SdpError`` before it moved). The pure build shows nothing of that, so
this test holds the rule on the sources: the modules ``[tool.mypy]`` lists (the ones the
compiled build is made of) define no subclass of ``BaseException``; their errors live in
``rtpengined.protocol.errors``, which is not compiled. The logging module holds every
handler by weak reference (its list of handlers to flush at exit): the daemon's own
handler, ``LineStreamHandler``, lives in ``rtpengined.log_stream`` for that reason, beside
the compiled ``log_lines`` (a dropped one, compiled, crashed ``logging.shutdown``).
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


def test_no_compiled_module_defines_a_logging_handler():
    import logging

    modules = _compiled_modules()
    assert "rtpengined.log_lines" in modules and "rtpengined.log_stream" not in modules
    defined = [
        f"{module}.{name}"
        for module in modules
        for name, value in vars(importlib.import_module(module)).items()
        if inspect.isclass(value) and value.__module__ == module
        and issubclass(value, logging.Handler)
    ]
    assert not defined, defined


def test_a_weak_reference_to_the_daemons_handler_is_told_when_it_goes():
    """What ``logging.shutdown`` relies on: a handler dropped leaves no weak reference."""
    import io

    from rtpengined.log_lines import LineFormatter
    from rtpengined.log_stream import LineStreamHandler

    gone: list[str] = []
    handler = LineStreamHandler(io.StringIO())
    handler.setFormatter(LineFormatter())
    ref = weakref.ref(handler, lambda _: gone.append("handler"))
    handler.close()
    del handler
    gc.collect()
    assert gone == ["handler"] and ref() is None


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
