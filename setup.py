"""Builds the compiled parts; everything else is in pyproject.toml.

Two small C helpers, both optional (without a compiler the install still succeeds and the
same work is done in Python): the relay worker's event loop for settled streams
(rtpengined/media/_relay.c; it calls the libsrtp that pylibsrtp brings, through the session
addresses secure/srtp.py hands it, so no system libsrtp is needed) and bencode's decode and
encode for every ng request and reply (rtpengined/protocol/_bencode.c).

The compiled ng core (issue 18): the modules every offer, answer and delete runs through,
the ones ``[tool.mypy]`` in pyproject.toml lists (one list: what type-checks clean is what
gets compiled), compiled from these same sources with mypyc. The same code runs either way;
compiled, each lifecycle costs the control process less CPU (bench/README.md). Whether it is
built (``wants_compiled_core``):

- ``pip install .`` (a wheel): yes. mypy comes from ``[build-system] requires``.
- ``pip install -e .`` or ``setup.py build_ext --inplace`` (a working tree): no. mypyc's
  modules would sit beside the sources and be imported instead of them, so an edited
  ``.py`` would not run until rebuilt.
- ``RTPENGINED_MYPYC=1`` builds it in either case, ``RTPENGINED_MYPYC=0`` in neither.

If it cannot be built (no mypy, a type error mypyc refuses, no C compiler) the install goes
on without it, pure Python, and says so once: never half of it, since the per-module
``.so`` files mypyc makes import one shared library and would fail without it.
"""

from __future__ import annotations

import os
import sys
import tomllib

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
HELPERS = [
    Extension("rtpengined.media._relay", ["rtpengined/media/_relay.c"], optional=True),
    Extension("rtpengined.protocol._bencode", ["rtpengined/protocol/_bencode.c"], optional=True),
]
WARNING = "rtpengined: building without the compiled ng core (pure Python, same behaviour): "


BUILDS = ("build", "build_ext", "bdist_wheel", "install", "develop", "editable_wheel")


def wants_compiled_core(argv: list[str], environ: dict[str, str]) -> bool:
    """Whether this run of setup.py compiles the ng core (see the module's docstring).
    Only a command that builds: pip also runs setup.py for metadata (``egg_info``,
    ``dist_info``), where mypyc's type check would be time thrown away."""
    if not any(command in argv for command in BUILDS):
        return False
    choice = environ.get("RTPENGINED_MYPYC", "")
    if choice:
        return choice != "0"
    in_tree = ("editable_wheel" in argv or "develop" in argv or "--inplace" in argv
               or "-i" in argv)
    return not in_tree


def core_modules() -> list[str]:
    with open(os.path.join(HERE, "pyproject.toml"), "rb") as config:
        return tomllib.load(config)["tool"]["mypy"]["files"]


def compiled_core() -> list[Extension]:
    """mypyc's extension modules for the files ``[tool.mypy]`` lists, or none (with a
    warning) when mypyc is missing or refuses them."""
    try:
        from mypyc.build import mypycify  # (only here: an editable install needs no mypy)
    except ImportError as exc:
        print(WARNING + f"mypyc is not installed ({exc})", file=sys.stderr)
        return []
    try:
        # (``group_name``: its shared library is ``rtpengined__mypyc``, not a hash)
        return mypycify(core_modules(), opt_level=os.environ.get("MYPYC_OPT_LEVEL", "3"),
                        group_name="rtpengined")
    except (Exception, SystemExit) as exc:  # (mypyc exits on a type error)
        print(WARNING + f"mypyc failed: {exc!r}", file=sys.stderr)
        return []


class BuildExt(build_ext):
    """build_ext that keeps the compiled core all or nothing: if one of its extensions
    fails to build, the ones already built are removed and the rest goes on."""

    def build_extensions(self) -> None:
        helpers = [ext for ext in self.extensions if ext.name in {h.name for h in HELPERS}]
        core = [ext for ext in self.extensions if ext not in helpers]
        self.extensions = helpers
        super().build_extensions()  # (optional: setuptools warns and goes on by itself)
        built = []
        try:
            for ext in core:
                built.append(self.get_ext_fullpath(ext.name))
                self.build_extension(ext)
        except Exception as exc:  # (a compiler or linker error)
            print(WARNING + f"compiling it failed: {exc}", file=sys.stderr)
            for path in built:
                if os.path.exists(path):
                    os.remove(path)
            core = []
        self.extensions = helpers + core


if __name__ == "__main__":
    extensions = list(HELPERS)
    if wants_compiled_core(sys.argv, dict(os.environ)):
        extensions += compiled_core()
    setup(ext_modules=extensions, cmdclass={"build_ext": BuildExt})
