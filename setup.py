"""Builds the two optional C helpers: the relay worker's (rtpengined/media/_relay.c: the event
loop for settled streams, SRTP ones included: it calls the libsrtp that pylibsrtp brings,
through the session addresses secure/srtp.py hands it, so no system libsrtp is needed) and
the control plane's (rtpengined/protocol/_bencode.c: bencode's decode and encode for every
ng request and reply).

Everything else is in pyproject.toml. Both extensions are optional: without a compiler the
install still succeeds, the worker relays with its pure-Python loop and bencode.py runs its
own Python code.
"""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("rtpengined.media._relay", ["rtpengined/media/_relay.c"], optional=True),
    Extension("rtpengined.protocol._bencode", ["rtpengined/protocol/_bencode.c"], optional=True),
])
