"""The text CLI command table (placeholder until the CLI lands)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .core import Core


def handle_cli(core: Core, line: str) -> str:
    return "Unknown or incomplete command:" + line + "\n"
