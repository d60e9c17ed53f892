"""What an ng command handler is given besides the message: where the request came from.

A low module on purpose: every command module imports ``Request`` and ``NgHandler``, and
the core imports the command table, so neither may live in the core.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core import Core


@dataclass(init=False)
class Request:
    """What a command may know about where its request came from."""

    source: tuple[str, int] | None = None

    # Written out, not left to dataclasses: compiled (mypyc), this runs as C.
    def __init__(self, source: tuple[str, int] | None = None) -> None:
        self.source = source

    @property
    def source_ip(self) -> str:
        return self.source[0] if self.source else ""

    @property
    def source_text(self) -> str:
        """``IP:port`` as rtpengine prints a proxy address (IPv6 in brackets)."""
        if not self.source:
            return ""
        host, port = self.source[0], self.source[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# An ng command: (core, decoded message, request) -> reply dictionary; NgError for errors.
NgHandler = Callable[["Core", dict[str, Any], Request], dict[str, Any]]
