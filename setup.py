"""Builds the relay worker's optional C helper (rtpengined/media/_relay.c: the event loop for
settled streams, SRTP ones included: it calls the libsrtp that pylibsrtp brings, through the
session addresses secure/srtp.py hands it, so no system libsrtp is needed).

Everything else is in pyproject.toml. The extension is optional: without a compiler the
install still succeeds and the worker relays with its pure-Python loop.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("rtpengined.media._relay", ["rtpengined/media/_relay.c"],
                             optional=True)])
