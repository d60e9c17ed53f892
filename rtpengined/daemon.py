"""``rtpengined run``: one trio process; every listener and timer lives in one nursery."""

from __future__ import annotations

import logging
import os
import signal
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import trio

import transports

from .config import Config
from .core import Core
from .redis.store import start_call_store

log = logging.getLogger("rtpengined")
TICK_SECONDS = 1.0


@dataclass
class Daemon:
    """A running daemon: its core and the addresses each transport actually bound."""

    core: Core
    addresses: dict[str, list[tuple]] = field(default_factory=dict)
    cancel_scope: trio.CancelScope | None = None

    def address(self, transport: str) -> tuple:
        return self.addresses[transport][0]

    def stop(self) -> None:
        if self.cancel_scope is not None:
            self.cancel_scope.cancel()


@asynccontextmanager
async def _media_plane(config: Config, nursery: trio.Nursery):
    """The relay worker processes, or a null plane when that package is not there."""
    try:
        from .media.plane import open_media_plane
    except ImportError:
        from .media import NullMediaPlane

        yield NullMediaPlane()
        return
    async with open_media_plane(config, nursery) as plane:
        yield plane


async def _tick(core: Core) -> None:
    while True:
        await trio.sleep(TICK_SECONDS)
        try:
            core.tick()
        except Exception:  # a timer bug must not stop the daemon
            log.exception("timer tick failed")


async def _watch_signals(cancel_scope: trio.CancelScope) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            log.info("received %s, shutting down", signal.Signals(signum).name)
            cancel_scope.cancel()
            return


async def run_daemon(
    config: Config, *, handle_signals: bool = True, task_status=trio.TASK_STATUS_IGNORED
) -> None:
    """Run until cancelled (or SIGINT/SIGTERM). ``task_status`` gets the ``Daemon``."""
    registry = transports.load_all()
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            async with _media_plane(config, nursery) as media:
                core = Core(config, media=media)
                daemon = Daemon(core, cancel_scope=scope)
                # Calls stored in Redis come back before any listener serves (issue 16).
                await start_call_store(core, nursery)
                if handle_signals:
                    nursery.start_soon(_watch_signals, scope)
                for transport in registry.values():
                    for address in getattr(config, transport.config_attr, []):
                        bound = await nursery.start(transport.serve, core, address)
                        daemon.addresses.setdefault(transport.name, []).append(bound)
                nursery.start_soon(_tick, core)
                if config.pidfile:
                    with open(config.pidfile, "w") as handle:
                        handle.write(f"{os.getpid()}\n")
                log.info("rtpengined ready")
                task_status.started(daemon)
                try:
                    await trio.sleep_forever()
                finally:
                    with trio.CancelScope(shield=True):
                        core.shutdown()
    if config.pidfile:
        try:
            os.unlink(config.pidfile)
        except OSError:
            pass
    log.info("rtpengined stopped")
