"""The control URL schemes, as the daemon listens and rtpctl connects.

One table, so the daemon's default listeners (``config``), rtpctl's target resolution
(``rtpctl.target``) and its messages (``rtpctl.transport``) cannot drift apart. A new
control transport adds its scheme here and its module to ``transports``.
"""

from __future__ import annotations

from dataclasses import dataclass

NG = "ng"
CLI = "cli"


@dataclass(frozen=True)
class Scheme:
    name: str
    kinds: frozenset[str]  # what it carries: ng messages, CLI text, or both
    default_port: int
    config_keys: tuple[str, ...]  # rtpengine.conf keys naming its listener, first wins
    listener: str  # how messages name the listener ("the CLI port")
    module: str  # the transports module serving it


SCHEMES: dict[str, Scheme] = {scheme.name: scheme for scheme in (
    Scheme("udp", frozenset({NG}), 22222, ("listen-ng",), "the ng port", "transports.udp_ng"),
    Scheme("tcp", frozenset({NG}), 22222, ("listen-tcp-ng", "listen-ng"), "the TCP ng port",
           "transports.tcp_ng"),
    Scheme("cli", frozenset({CLI}), 9900, ("listen-cli",), "the CLI port", "transports.cli_tcp"),
    Scheme("http", frozenset({NG, CLI}), 8080, ("listen-http",), "the HTTP port", "transports.http"),
    Scheme("https", frozenset({NG, CLI}), 443, ("listen-https",), "the HTTPS port", "transports.http"),
    Scheme("ws", frozenset({NG, CLI}), 8080, ("listen-http",), "the HTTP (WebSocket) port",
           "transports.http"),
    Scheme("wss", frozenset({NG, CLI}), 443, ("listen-https",), "the HTTPS (WebSocket) port",
           "transports.http"),
)}
# (https has no default listener in the daemon; 443 is the web's port for a URL without one.)
DEFAULT_HOST = "127.0.0.1"
