"""What the CLI keeps beyond the config: redis stubs and the settings at start-up.

The state belongs to the core (``Core.ctl_state``), created on first use by
``params.cli_state`` so ``params start`` and ``params diff`` compare with the values
the daemon started with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..core import Core


# -- per-daemon CLI state -----------------------------------------------------------------


@dataclass
class CliState:
    """What the CLI keeps beyond ``core.config``: redis stubs and the startup settings."""

    redis_allowed_errors: int = -1
    redis_disable_time: int = 10
    redis_connect_timeout: int = 1000
    redis_cmd_timeout: int = 0
    initial: dict[str, Any] = field(default_factory=dict)
    initial_params: str = ""


def apply_log_level(core: Core, subsystem: str, level: int) -> None:
    """``subsystem``'s level from now on (``set loglevel``, ``params revert``, SIGUSR1/2):
    kept for ``list loglevel``, applied to this process's loggers and to every relay
    worker's (they are processes of their own)."""
    core.config.log_levels[subsystem] = level
    core.host.set_log_level(subsystem, level)
    core.media.set_log_level(subsystem, level)


def log_level_of(core: Core, subsystem: str) -> int:
    levels = core.config.log_levels
    if subsystem in levels:
        return levels[subsystem]
    return -1 if subsystem == "internals" else core.config.log_level
