"""What the CLI keeps beyond the config: redis stubs and the settings at start-up.

The state belongs to the core (``Core.ctl_state``), created on first use by
``params.cli_state`` so ``params start`` and ``params diff`` compare with the values
the daemon started with.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..core import Core

# syslog level → Python logging level, for the loggers a subsystem maps to.
_SYSLOG_TO_LOGGING = {0: 50, 1: 50, 2: 50, 3: 40, 4: 30, 5: 20, 6: 20, 7: 10}
_SUBSYSTEM_LOGGERS = {"core": "rtpengined", "http": "rtpengined.http", "control": "rtpengined.cli"}


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


def log_level_of(core: Core, subsystem: str) -> int:
    levels = core.config.log_levels
    if subsystem in levels:
        return levels[subsystem]
    return -1 if subsystem == "internals" else core.config.log_level


def _apply_log_level(subsystem: str, level: int) -> None:
    name = _SUBSYSTEM_LOGGERS.get(subsystem)
    if name is not None:
        logging.getLogger(name).setLevel(_SYSLOG_TO_LOGGING.get(max(0, min(level, 7)), 20))
