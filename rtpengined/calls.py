"""Call lifecycle and the ng call commands (placeholder until the call model lands)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .model import Call

if TYPE_CHECKING:
    from .core import Core


class CallManager:
    """Owns every call, keyed by call-id."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.calls: dict[str, Call] = {}

    def tick(self, now: float) -> None:
        """Fire due timers."""

    def shutdown(self) -> None:
        """Close every call's media (daemon exit)."""
