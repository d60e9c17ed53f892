"""``rtpengined`` command line: ``rtpengined run [rtpengine options]``."""

from __future__ import annotations

import logging
import os
import signal
import sys
from functools import partial

import click
import trio

from . import __version__
from .config import ConfigError, options_help, parse_args
from .log_context import CONTEXT
from .log_setup import LogSettings, setup_logging
from .service import Notifier, freeze_startup_heap

RUN_HELP = f"""Run the media proxy in the foreground until SIGINT/SIGTERM.

Takes rtpengine's own options ('--opt=value', '--opt value', '-o value') and its
INI config file ('--config-file=FILE', section [rtpengine]). Options of rtpengine
that rtpengined does not implement are accepted with a warning.

\b
With no options it listens on loopback only:
  ng over UDP       127.0.0.1:22222     CLI (rtpengine-ctl)  127.0.0.1:9900
  HTTP/WebSocket    127.0.0.1:8080      media                127.0.0.1 ports 30000-40000
  ng over TCP       off (as in rtpengine): ask with --listen-tcp-ng

\b
Logs go to stderr (no timestamps of its own when stderr is journald), or with
--log-facility to syslog as rtpengine logs there (and stderr too with -E). Under
systemd (Type=notify) it reports READY=1 once every listener is up and
STOPPING=1 when it stops. SIGHUP is logged and ignored: nothing is reloaded.

\b
Options:
{options_help()}
"""

def _find_listen_error(exc: BaseException):
    from transports import ListenError

    from .event_senders import DtmfLogUnavailable
    from .graphite_sender import GraphiteUnavailable
    from .homer_sender import HomerUnavailable
    from .media.kernel import KernelUnavailable
    from .redis.store import RedisUnavailable

    if isinstance(exc, (ListenError, RedisUnavailable, KernelUnavailable, DtmfLogUnavailable,
                        HomerUnavailable, GraphiteUnavailable)):
        return exc
    for inner in getattr(exc, "exceptions", ()):
        found = _find_listen_error(inner)
        if found is not None:
            return found
    return None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rtpengined", prog_name="rtpengined")
def main() -> None:
    """rtpengined: a media proxy for SIP, wire-compatible with rtpengine."""


@main.command(
    "run",
    help=RUN_HELP,
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                      "help_option_names": ["--help"]},
    options_metavar="",  # every option is rtpengine's, shown by the argument below
)
@click.argument("options", nargs=-1, type=click.UNPROCESSED, metavar="[OPTIONS]...")
def run(options: tuple[str, ...]) -> None:
    try:
        config = parse_args(list(options))
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    if config.version:  # (on stderr, as 10.5 prints it)
        click.echo(f"Version: {__version__}", err=True)
        return
    if config.codecs:
        from .media.codecs import support_lines

        click.echo("\n".join(support_lines()))
        return
    if config.log_facility is not None and not os.path.exists(config.syslog_socket):
        click.echo(f"rtpengined: no syslog socket at {config.syslog_socket}: logging to "
                   "stderr", err=True)  # (lines sent there would be lost)
    setup_logging(LogSettings.of(config), subsystem_levels=config.log_levels)
    CONTEXT.configure(config.log_format == "parsable", config.log_mark_prefix,
                      config.log_mark_suffix)
    log = logging.getLogger("rtpengined")
    for warning in config.warnings:
        log.warning("%s", warning)
    notifier = Notifier.from_environ()
    # Until the daemon's signal watcher runs (and after it stopped), a SIGHUP (or a
    # log-level SIGUSR1/2) must not kill it silently either; relay workers inherit the ignore.
    for signum in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(signum, signal.SIG_IGN)
    from .daemon import run_daemon

    try:
        trio.run(partial(run_daemon, config, notifier=notifier, on_ready=freeze_startup_heap))
    except KeyboardInterrupt:
        pass
    except BaseException as exc:
        listen_error = _find_listen_error(exc)
        if listen_error is None:
            raise
        click.echo(f"rtpengined: {listen_error}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main(prog_name="rtpengined")
