"""Running under a service manager: systemd's readiness protocol and journald's stderr.

``Notifier`` sends ``sd_notify`` messages (``READY=1`` once every listener is up,
``STOPPING=1`` when shutdown starts) as one datagram to the AF_UNIX socket named by
``NOTIFY_SOCKET``, so a ``Type=notify`` unit starts its dependants only when the daemon
answers. It is a few lines of protocol; libsystemd is not needed. ``stderr_is_journal``
tells whether stderr is connected to journald (``JOURNAL_STREAM`` names stderr's
device and inode), so log lines are not stamped with a time a second time.
``release_freed_memory`` is the process-wide effect the daemon hands the core;
``freeze_startup_heap`` the one ``rtpengined run`` applies once the daemon is ready.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import os
import socket
from collections.abc import MutableMapping

log = logging.getLogger("rtpengined")


class Notifier:
    """Where ``sd_notify`` messages go, taken once from the environment."""

    def __init__(self, address: str | None) -> None:
        self.address = address

    @classmethod
    def from_environ(cls, environ: MutableMapping[str, str] | None = None) -> Notifier:
        """Take (and remove) ``NOTIFY_SOCKET``, so relay workers do not inherit it."""
        environ = os.environ if environ is None else environ
        path = environ.pop("NOTIFY_SOCKET", "")
        if path.startswith("@"):  # abstract namespace
            return cls("\0" + path[1:])
        if path.startswith("/"):
            return cls(path)
        if path:
            log.warning("NOTIFY_SOCKET=%s is not a unix socket path; not notifying", path)
        return cls(None)

    def notify(self, *fields: str) -> bool:
        """Send ``fields`` (``KEY=VALUE``) as one message; False if nobody listens."""
        if self.address is None:
            return False
        message = "\n".join(fields).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.setblocking(False)  # never stall the event loop on a full queue
                sock.sendto(message, self.address)
        except OSError as exc:
            log.warning("cannot notify the service manager (%s): %s", fields[0], exc.strerror or exc)
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.notify("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1", "STATUS=shutting down")


def stderr_is_journal(environ: MutableMapping[str, str] | None = None, fd: int = 2) -> bool:
    """True when ``fd`` is the stream journald gave us (``JOURNAL_STREAM=DEV:INODE``)."""
    environ = os.environ if environ is None else environ
    device, _, inode = environ.get("JOURNAL_STREAM", "").partition(":")
    try:
        stat = os.fstat(fd)
        return (stat.st_dev, stat.st_ino) == (int(device), int(inode))
    except (OSError, ValueError):
        return False


def release_freed_memory() -> None:
    """Ask glibc to give freed heap back to the OS.

    A busy minute of replies in the cache leaves tens of MB of freed but retained heap
    once the generation is dropped; trimming keeps RSS near its idle size after a burst.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to do


def freeze_startup_heap() -> None:
    """Exclude everything alive once the daemon is up from the cyclic garbage collector.

    Modules, trio, the transports and the config are never garbage, yet every full
    collection walked them all: about 20 ms each, a full collection every second or so
    under load (10-18 µs of CPU per offer/answer/delete lifecycle, and a 20 ms stall of
    every request in flight). Calls made afterwards are collected as before.
    """
    gc.freeze()
