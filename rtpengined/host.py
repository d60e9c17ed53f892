"""Process-wide effects the CLI may ask for, behind one small interface.

``set maxopenfiles`` changes the process's file limit and ``set loglevel`` the level of
shared loggers: effects on the whole process, not on the core's state. The CLI asks
``core.host`` for them, so a test can hand the core a ``Host`` that records instead of
acting (as the media plane has ``NullMediaPlane``); the daemon runs with ``OsHost``.
"""

from __future__ import annotations

import os
import resource
from typing import Protocol

from .log_setup import set_subsystem_level


class Host(Protocol):
    def pid(self) -> int: ...

    def cpu_count(self) -> int: ...

    def open_files_limit(self) -> int | None:
        """The soft RLIMIT_NOFILE, ``None`` for unlimited; OSError/ValueError if unknown."""

    def set_open_files_limit(self, value: int) -> None:
        """Soft and hard RLIMIT_NOFILE; OSError/ValueError when refused."""

    def set_log_level(self, subsystem: str, level: int) -> None:
        """Apply a syslog ``level`` to the logger a CLI log subsystem maps to (if any)."""


class OsHost:
    """The real process: ``resource`` limits and the ``logging`` module."""

    def pid(self) -> int:
        return os.getpid()

    def cpu_count(self) -> int:
        return os.cpu_count() or 1

    def open_files_limit(self) -> int | None:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        return None if soft == resource.RLIM_INFINITY else soft

    def set_open_files_limit(self, value: int) -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (value, value))

    def set_log_level(self, subsystem: str, level: int) -> None:
        set_subsystem_level(subsystem, level)
