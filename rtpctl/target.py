"""Where a request goes: transport, host and port, from options, environment and config file.

Sans-I/O. Resolution order, first wins: ``--url``; ``--transport``/``--host``/``--port``
(options or ``RTPCTL_*`` variables, which click folds into the same values); the
``listen-*`` keys of the ``[rtpengine]`` section of ``--config-file`` (read as
rtpengine-ctl reads ``listen-cli``); the daemon's defaults.
"""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from rtpengined.protocol.schemes import CLI, DEFAULT_HOST, NG, SCHEMES

#: What each transport can carry (udp/tcp ng only, cli:// only CLI text), from the shared table.
KINDS: dict[str, frozenset[str]] = {name: scheme.kinds for name, scheme in SCHEMES.items()}
TRANSPORTS = ("udp", "tcp", "cli", "http", "https", "ws", "wss")  # the order --help lists them
DEFAULT_TRANSPORT = {NG: "udp", CLI: "cli"}
WILDCARDS = {"", "0.0.0.0", "::", "*"}


class TargetError(ValueError):
    """The options name no usable target (a usage error, exit 2)."""


@dataclass(frozen=True)
class Target:
    transport: str
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport}://{host}:{self.port}"


def split_host_port(text: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6 address."""
    text = text.strip()
    bracketed = re.fullmatch(r"\[([^\]]*)\](?::(\d+))?", text)
    if bracketed:
        return bracketed.group(1), int(bracketed.group(2)) if bracketed.group(2) else None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        if port.isdigit():
            return host, int(port)
        raise TargetError(f"bad port in {text!r}")
    return text, None


def read_listen_config(path: str, section: str = "rtpengine") -> dict[str, str]:
    """The ``listen-*`` values of ``section``; the first of a ``;`` list, as given."""
    parser = configparser.ConfigParser(interpolation=None, strict=False, allow_no_value=True)
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except OSError as exc:
        raise TargetError(f"cannot read config file {path}: {exc.strerror}") from None
    except configparser.Error as exc:
        raise TargetError(f"config file {path} is not valid INI: {exc.message}") from None
    if not parser.has_section(section):
        return {}
    found = {}
    for key, value in parser.items(section):
        if key.startswith("listen-") and value:
            found[key] = value.split(";")[0].strip()
    return found


def _from_config(transport: str, listen: dict[str, str]) -> tuple[str | None, int | None]:
    """rtpengine-ctl's rule: a bare number is the port, anything else the host[:port]."""
    for key in SCHEMES[transport].config_keys:
        value = listen.get(key)
        if not value:
            continue
        if value.isdigit():
            return None, int(value)
        host, port = split_host_port(value)
        return (None if host in WILDCARDS else host), port
    return None, None


def resolve(
    kind: str,
    *,
    url: str | None = None,
    transport: str | None = None,
    host: str | None = None,
    port: int | None = None,
    listen: dict[str, str] | None = None,
) -> Target:
    """Pick the target of a ``kind`` ("ng"/"cli") request; ``TargetError`` on a mismatch."""
    if url:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in KINDS:
            raise TargetError(f"unknown URL scheme {scheme!r} in {url!r} "
                              f"(use one of {', '.join(t + '://' for t in TRANSPORTS)})")
        try:
            url_port = parts.port
        except ValueError:
            raise TargetError(f"bad port in URL {url!r}") from None
        transport = scheme
        host = parts.hostname or host
        port = url_port or port
    if transport is None:
        transport = DEFAULT_TRANSPORT[kind]
    transport = transport.lower()
    if transport not in KINDS:
        raise TargetError(f"unknown transport {transport!r} (use one of {', '.join(TRANSPORTS)})")
    if kind not in KINDS[transport]:
        carriers = ", ".join(t for t in TRANSPORTS if kind in KINDS[t])
        what = "CLI commands" if kind == CLI else "ng commands"
        raise TargetError(f"{what} cannot go over {transport}: use --transport {carriers}")
    if host:
        host, host_port = split_host_port(host)
        port = port or host_port
    conf_host, conf_port = _from_config(transport, listen or {})
    host = host or conf_host or DEFAULT_HOST
    port = port or conf_port or SCHEMES[transport].default_port
    if not 1 <= port <= 65535:
        raise TargetError(f"port {port} is outside 1..65535")
    return Target(transport, host, port)
