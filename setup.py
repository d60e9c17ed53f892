"""Builds the relay worker's optional C helper (rtpengined/media/_relay.c: the event loop for
settled streams).

Everything else is in pyproject.toml. The extension is optional: without a compiler the
install still succeeds and the worker relays with its pure-Python loop. With the system
libsrtp2's headers (Debian: libsrtp2-dev) the helper relays SDES-SRTP streams as well;
without them it relays plain streams only and SRTP stays in Python (pylibsrtp).
"""

import os

from setuptools import Extension, setup


def _libsrtp2() -> dict:
    """Compile and link against libsrtp2 when its header is where the compiler looks."""
    for include in ("/usr/include", "/usr/local/include"):
        if os.path.exists(os.path.join(include, "srtp2", "srtp.h")):
            return {"define_macros": [("HAVE_SRTP", "1")], "libraries": ["srtp2"]}
    return {}


setup(ext_modules=[Extension("rtpengined.media._relay", ["rtpengined/media/_relay.c"],
                             optional=True, **_libsrtp2())])
