"""ng commands that need no call state. Call commands live in ``calls``."""

from __future__ import annotations

from typing import Any

from . import statsview  # noqa: F401
from .core import Core, Request, ng_command


@ng_command("ping")
def ping(core: Core, message: dict[str, Any], request: Request) -> dict[str, Any]:
    """Liveness check; extra keys are ignored."""
    return {"result": "pong"}
