"""Builds the two optional C helpers: the relay worker's (rtpengined/media/_relay.c: the event
loop for settled streams, SRTP ones included: it calls the libsrtp that pylibsrtp brings,
through the session addresses secure/srtp.py hands it, so no system libsrtp is needed) and
the control plane's (rtpengined/protocol/_bencode.c: bencode's decode and encode for every
ng request and reply).

Everything else is in pyproject.toml. Both extensions are optional: without a compiler the
install still succeeds, the worker relays with its pure-Python loop and bencode.py runs its
own Python code.

Opt-in (issue 18): ``RTPENGINED_MYPYC=1`` also compiles the ng core's hot modules, the ones
``[tool.mypy]`` in pyproject.toml lists, with mypyc (from our own sources; it needs mypy
installed and no build isolation: ``pip install mypy setuptools wheel &&
RTPENGINED_MYPYC=1 pip install --no-build-isolation .``). The same code runs either way; compiled, every offer, answer and
delete costs the control process less CPU (bench/README.md). Without the variable nothing
changes: the install is pure Python but for the two helpers above.
"""

import os
import tomllib

from setuptools import Extension, setup


def compiled_core() -> list:
    """mypyc's extension modules for the files ``[tool.mypy]`` lists (one list: what is
    type-checked clean is what gets compiled)."""
    from mypyc.build import mypycify  # (only here: a plain install needs no mypy)

    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "pyproject.toml"),
              "rb") as config:
        files = tomllib.load(config)["tool"]["mypy"]["files"]
    return mypycify(files, opt_level=os.environ.get("MYPYC_OPT_LEVEL", "3"))


ext_modules = [
    Extension("rtpengined.media._relay", ["rtpengined/media/_relay.c"], optional=True),
    Extension("rtpengined.protocol._bencode", ["rtpengined/protocol/_bencode.c"], optional=True),
]
if os.environ.get("RTPENGINED_MYPYC", "") not in ("", "0"):
    ext_modules += compiled_core()

setup(ext_modules=ext_modules)
