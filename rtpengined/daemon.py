"""``rtpengined run``: one trio process; every listener and timer lives in one nursery."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial

import trio

import transports

from . import __version__, dtmf_log, graphite_sender
from .config import Config
from .core import Core
from .ctl.setters import shift_log_levels
from .event_senders import DtmfLogSender, SyslogSender
from .homer_sender import HomerSender
from .host import OsHost
from .redis.store import start_call_store
from .service import Notifier, release_freed_memory
from .xmlrpc_sender import XmlRpcSender

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


async def _watch_signals(stop: trio.Event, cancel_scope: trio.CancelScope,
                         shift_log_levels: Callable[[int], None] = lambda step: None) -> None:
    """SIGINT/SIGTERM stop the daemon: ``stop`` is set, and ``run_daemon`` shuts down
    once start-up is complete (a listener is never interrupted half-started; that is
    what once left an HTTP server running after SIGTERM). A second one cancels at
    once. SIGHUP (a service manager's "reload", a closed terminal) is logged and
    ignored: every option needs a restart to change. SIGUSR2 raises every log level by
    one, SIGUSR1 lowers it, as in 10.5 (they used to end the daemon)."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP,
                                   signal.SIGUSR1, signal.SIGUSR2) as signals:
        async for signum in signals:
            name = signal.Signals(signum).name
            if signum in (signal.SIGUSR1, signal.SIGUSR2):
                shift_log_levels(1 if signum == signal.SIGUSR2 else -1)
            elif signum == signal.SIGHUP:
                log.warning("received SIGHUP: ignored (nothing to reload; restart to apply new options)")
            elif not stop.is_set():
                log.info("received %s", name)
                stop.set()
            else:
                log.warning("received %s again, stopping now", name)
                cancel_scope.cancel()


async def run_daemon(
    config: Config, *, handle_signals: bool = True, notifier: Notifier | None = None,
    on_ready: Callable[[], None] = lambda: None, task_status=trio.TASK_STATUS_IGNORED,
) -> None:
    """Run until cancelled (or SIGINT/SIGTERM). ``task_status`` gets the ``Daemon``;
    ``notifier`` (``rtpengined run`` under systemd) is told READY and STOPPING;
    ``on_ready`` runs once every listener is up (``rtpengined run`` freezes the heap
    then: a process-wide effect that tests running daemons in-process do without)."""
    notifier = notifier or Notifier(None)
    graphite_sender.check_destination(config)
    registry = transports.load_all()
    stop = trio.Event()
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            async with _media_plane(config, nursery) as media:
                core = Core(config, media=media, release_memory=release_freed_memory, host=OsHost())
                if hasattr(media, "on_first_packet"):  # Janus parties' webrtcup events
                    media.on_first_packet = core.janus.media_up
                if hasattr(media, "on_rtcp"):  # the parties' RTCP: call quality (MOS)
                    media.on_rtcp = core.rtcp_report
                # Keys the parties send, as JSON lines: to a collector, to syslog.
                dtmf_senders: list[DtmfLogSender | SyslogSender] = []
                if config.dtmf_log_dest is not None:
                    dtmf_senders.append(DtmfLogSender(config.dtmf_log_dest))
                if config.log_facility_dtmf is not None:
                    dtmf_senders.append(SyslogSender(config.syslog_socket,
                                                     config.log_facility_dtmf))
                core.dtmf_sinks.extend(dtmf_senders)
                # Each call's detail record as it ends, to syslog.
                cdr_senders = [] if config.log_facility_cdr is None else [
                    SyslogSender(config.syslog_socket, config.log_facility_cdr,
                                 "call detail record not logged to syslog")]
                core.cdr_sinks.extend(cdr_senders)
                # Each RTCP packet a party sends, to syslog.
                rtcp_senders = [] if config.log_facility_rtcp is None else [
                    SyslogSender(config.syslog_socket, config.log_facility_rtcp,
                                 "RTCP report not logged to syslog")]
                core.rtcp_sinks.extend(rtcp_senders)
                # Each RTCP packet a party sends, to Homer.
                # Timed-out calls' dialogs, ended by the B2BUA over XML-RPC.
                teardown_sender = XmlRpcSender() if config.b2b_url else None
                if teardown_sender is not None:
                    core.teardown_sinks.append(teardown_sender)
                    nursery.start_soon(teardown_sender.run)
                homer_senders = [] if config.homer is None else [
                    HomerSender(config.homer, config.homer_protocol == "tcp")]
                core.homer_sinks.extend(homer_senders)
                if dtmf_log.wanted(config) and hasattr(media, "on_dtmf"):
                    media.on_dtmf = core.dtmf_event
                daemon = Daemon(core, cancel_scope=scope)
                # Calls stored in Redis come back before any listener serves (issue 16).
                await start_call_store(core, nursery)
                if handle_signals:
                    nursery.start_soon(_watch_signals, stop, scope,
                                       partial(shift_log_levels, core))
                # UDP ng last: it answers as soon as it is bound, and a ping there is how
                # proxies and tests see the daemon up; 10.5 binds every socket before it
                # serves any, so an answered ping means the other ports listen too.
                listeners = sorted(((transport, address) for transport in registry.values()
                                    for address in getattr(config, transport.config_attr, [])),
                                   key=lambda listener: listener[0].name == "udp-ng")
                try:
                    for transport, address in listeners:
                        if stop.is_set():
                            break
                        bound = await nursery.start(transport.serve, core, address)
                        daemon.addresses.setdefault(transport.name, []).append(bound)
                    if not stop.is_set():
                        nursery.start_soon(_tick, core)
                        if config.graphite is not None:
                            nursery.start_soon(graphite_sender.run, core, config)
                        if config.pidfile:
                            with open(config.pidfile, "w") as handle:
                                handle.write(f"{os.getpid()}\n")
                        on_ready()
                        log.info("Startup complete, version %s", __version__)  # (10.5's words)
                        notifier.ready("ready")
                        task_status.started(daemon)
                    await stop.wait()
                    log.info("Version %s shutting down", __version__)
                    scope.cancel()
                finally:
                    notifier.stopping()
                    with trio.CancelScope(shield=True):
                        core.shutdown()
                        for sender in (*dtmf_senders, *cdr_senders, *rtcp_senders,
                                       *homer_senders):
                            sender.close()
    if config.pidfile:
        try:
            os.unlink(config.pidfile)
        except OSError:
            pass
    log.info("rtpengined stopped")
