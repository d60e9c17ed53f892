"""The exceptions the ng core raises, kept out of the compiled modules.

mypyc compiles a class defined in one of its modules (``[tool.mypy]`` in pyproject.toml) as a
native class, and a native exception's deallocator leaves weak references to it dangling:
their callbacks never run, and one that outlives the exception crashes the interpreter
(mypyc/mypyc#1102). Nothing takes weak references to these today, but an exception is an
object any library may hold so; defined here, in a module that is not compiled, they are
ordinary classes in either build, and the compiled code raises and catches them as before.
"""

from __future__ import annotations


class NgError(Exception):
    """A request that must be answered with ``result: error`` and this reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SdpError(NgError):
    """SDP the proxy cannot work with; the reason is rtpengine's error text."""


class OutOfPorts(NgError):
    """A pool with no run of ports left (10.5's "Ran out of ports")."""


class JsonTextError(ValueError):
    """A JSON string with a lone UTF-16 surrogate (``\\ud800``): no text at all, which
    10.5's parser refuses; taken, it made call-ids that ``list`` wrote out as invalid
    UTF-8."""


class SdpLineRefused(Exception):
    """A line ``sdp.parse`` refuses (its index), with 10.5's word for what is wrong with it."""

    def __init__(self, detail: str, index: int = 0) -> None:
        super().__init__(detail)
        self.detail = detail
        self.index = index
