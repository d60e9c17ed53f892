"""``rtpengined`` command line: ``rtpengined run [rtpengine options]``."""

from __future__ import annotations

import logging
import sys

import click
import trio

from .config import ConfigError, options_help, parse_args

RUN_HELP = f"""Run the media proxy in the foreground until SIGINT/SIGTERM.

Takes rtpengine's own options (``--opt=value``, ``--opt value``, ``-o value``) and
its INI config file (``--config-file``, section ``[rtpengine]``). Options of rtpengine
that rtpengined does not implement are accepted with a warning.

\b
With no options it listens on loopback only:
  ng (UDP and TCP)  127.0.0.1:22222     CLI (rtpengine-ctl)  127.0.0.1:9900
  HTTP/WebSocket    127.0.0.1:8080      media                127.0.0.1 ports 30000-40000

\b
Options:
{options_help()}
"""

SYSLOG_TO_LOGGING = {0: logging.CRITICAL, 1: logging.CRITICAL, 2: logging.CRITICAL, 3: logging.ERROR,
                     4: logging.WARNING, 5: logging.INFO, 6: logging.INFO, 7: logging.DEBUG}


def setup_logging(level: int) -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=SYSLOG_TO_LOGGING.get(max(0, min(level, 7)), logging.INFO),
        format="%(asctime)s %(levelname)s [%(name)s] %(message)s",
    )


def _find_listen_error(exc: BaseException):
    from transports import ListenError

    from .redis.store import RedisUnavailable

    if isinstance(exc, (ListenError, RedisUnavailable)):
        return exc
    for inner in getattr(exc, "exceptions", ()):
        found = _find_listen_error(inner)
        if found is not None:
            return found
    return None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rtpengined")
def main() -> None:
    """rtpengined: a media proxy for SIP, wire-compatible with rtpengine."""


@main.command(
    "run",
    help=RUN_HELP,
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                      "help_option_names": ["--help"]},
)
@click.argument("options", nargs=-1, type=click.UNPROCESSED)
def run(options: tuple[str, ...]) -> None:
    try:
        config = parse_args(list(options))
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    setup_logging(config.log_level)
    log = logging.getLogger("rtpengined")
    for warning in config.warnings:
        log.warning("%s", warning)
    from .daemon import run_daemon

    try:
        trio.run(run_daemon, config)
    except KeyboardInterrupt:
        pass
    except BaseException as exc:
        listen_error = _find_listen_error(exc)
        if listen_error is None:
            raise
        click.echo(f"rtpengined: {listen_error}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
