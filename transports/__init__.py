"""Transport registry: each transport is one module that registers itself here.

A transport has a server side, ``serve(core, address, *, task_status)``, started once
per configured listen address, and optionally a client side, ``open_client(url)``,
an async context manager yielding an object with ``async request(bytes) -> bytes``
(and ``async aclose()``). The daemon starts every registered server; rtpctl picks a
client by URL scheme. Adding a transport means adding its module and its line in
``rtpengined.protocol.schemes.SCHEMES`` (the scheme rtpctl and the daemon agree on).
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from rtpengined.protocol.schemes import SCHEMES

# The modules serving the control schemes, in the order their listeners start.
MODULES = list(dict.fromkeys(scheme.module for scheme in SCHEMES.values()))


class ListenError(Exception):
    """A listener could not start; the message names the transport and address."""


@dataclass(frozen=True)
class Transport:
    name: str
    config_attr: str  # Config attribute holding the listen addresses
    serve: Callable[..., Awaitable[None]]
    schemes: tuple[str, ...] = ()
    open_client: Callable[..., Any] | None = None
    kinds: frozenset[str] = field(default_factory=frozenset)  # "ng", "cli"


REGISTRY: dict[str, Transport] = {}


def register(transport: Transport) -> Transport:
    REGISTRY[transport.name] = transport
    return transport


def load_all() -> dict[str, Transport]:
    """Import every transport module (each registers itself) and return the registry."""
    for module in MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return REGISTRY


def by_scheme(scheme: str) -> Transport | None:
    load_all()
    for transport in REGISTRY.values():
        if scheme in transport.schemes:
            return transport
    return None
