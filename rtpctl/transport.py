"""The I/O shell: one request to the daemon through the transport registry's client side.

Every failure to get an answer (refused, unreachable, timed out, connection dropped,
TLS problems) becomes ``Unreachable`` with a one-line reason, which rtpctl turns into
exit status 3.
"""

from __future__ import annotations

import errno
import importlib
import os
import ssl
from dataclasses import dataclass
from typing import Any

import trio

import transports
from rtpengined.protocol.schemes import SCHEMES

from . import ng
from .target import CLI, NG, Target


class Unreachable(Exception):
    """No answer from the daemon; the message says where and why."""


class Refused(Exception):
    """The daemon answered, but not with a reply (e.g. an HTTP status other than 200)."""


class NotAvailable(Exception):
    """This installation has no client for the transport (a usage error)."""


@dataclass(frozen=True)
class ClientOptions:
    timeout: float = 3.0
    retries: int = 2
    insecure: bool = False
    cacert: str | None = None
    auth_token: str | None = None

    def kwargs(self) -> dict[str, Any]:
        return {"timeout": self.timeout, "retries": self.retries,
                "insecure": self.insecure, "cacert": self.cacert, "auth_token": self.auth_token}


def _find_transport(scheme: str):
    """Import only the module serving ``scheme``, so a udp or cli request does not load the
    web stack; the registry is the fallback for a scheme the table does not know."""
    known = SCHEMES.get(scheme)
    if known is not None:
        module = known.module
        try:
            importlib.import_module(module)
        except ModuleNotFoundError:
            pass
        for transport in transports.REGISTRY.values():
            if scheme in transport.schemes:
                return transport
    return transports.by_scheme(scheme)


def _client_factory(target: Target):
    transport = _find_transport(target.transport)
    if transport is None or transport.open_client is None:
        raise NotAvailable(f"no client for {target.transport}:// in this installation")
    return transport.open_client


NOT_RUNNING_HINT = "is rtpengined (or rtpengine) running? `rtpengined run` starts one"


def describe(target: Target) -> str:
    """``the CLI port 127.0.0.1:9900``: which daemon listener a request went to, in words."""
    host = f"[{target.host}]" if ":" in target.host else target.host
    return f"{SCHEMES[target.transport].listener if target.transport in SCHEMES else target.transport} {host}:{target.port}"


def _errno(exc: BaseException) -> int | None:
    """The OS error number behind ``exc``, looking through trio's wrapping and groups."""
    seen = 0
    while exc is not None and seen < 10:
        seen += 1
        if isinstance(exc, BaseExceptionGroup):
            exc = exc.exceptions[0] if exc.exceptions else None
            continue
        if isinstance(exc, OSError) and exc.errno:
            return exc.errno
        exc = exc.__cause__ or exc.__context__
    return None


def unreachable_message(target: Target, exc: BaseException) -> str:
    """One line: which listener did not answer, why in plain words, and what to try."""
    number = _errno(exc)
    if number == errno.ECONNREFUSED:
        return f"cannot connect to {describe(target)}: connection refused — {NOT_RUNNING_HINT}"
    reason = _reason(exc)
    if reason == "timed out":
        return f"no answer from {describe(target)}: timed out"
    return f"cannot reach {describe(target)}: {reason}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, trio.TooSlowError | TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if isinstance(exc, OSError) and exc.errno:
        text = os.strerror(exc.errno)
        return text[:1].lower() + text[1:]
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, BaseExceptionGroup):
        inner = exc.exceptions[0] if exc.exceptions else exc
        return _reason(inner)
    inner = exc.__cause__ or exc.__context__
    text = str(exc)
    if inner is not None and (not text or text == type(exc).__name__ or "attempts to connect" in text):
        return _reason(inner)
    return text or type(exc).__name__


def _http_status(exc: BaseException) -> int | None:
    if isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        return _http_status(exc.exceptions[0])
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else None


def _is_transport_failure(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_transport_failure(inner) for inner in exc.exceptions)
    if isinstance(exc, ng.ReplyError | NotAvailable):
        return False
    return isinstance(exc, OSError | TimeoutError | trio.TooSlowError | trio.BrokenResourceError
                      | trio.ClosedResourceError | ConnectionError | EOFError | ssl.SSLError) or \
        type(exc).__module__.startswith(("httpx", "trio_websocket", "websockets", "h11", "wsproto"))


async def _request(target: Target, kind: str, data: bytes, options: ClientOptions) -> bytes:
    open_client = _client_factory(target)
    # An overall deadline too, in case a client does not bound its own waiting.
    overall = options.timeout * (options.retries + 1) + options.timeout
    with trio.fail_after(overall):
        async with open_client(target.url, kind=kind, **options.kwargs()) as client:
            return await client.request(data)


async def request(target: Target, kind: str, data: bytes, options: ClientOptions) -> bytes:
    """Send ``data`` and return the reply bytes, or raise ``Unreachable``."""
    try:
        return await _request(target, kind, data, options)
    except BaseException as exc:
        status = _http_status(exc)
        if status is not None:
            raise Refused(f"{target.url} answered HTTP status {status}") from None
        if _is_transport_failure(exc):
            raise Unreachable(unreachable_message(target, exc)) from None
        raise


async def ng_request(target: Target, message: dict[str, Any] | None, options: ClientOptions,
                     encoding: str = "bencode", payload: bytes | None = None) -> dict[str, Any]:
    """Send one ng message (a dict, or a ready ``payload``) and return the decoded reply."""
    if payload is not None:
        cookie = ng.next_cookie()
        data = cookie + b" " + payload
    else:
        cookie, data = ng.encode_request(message or {}, encoding)
    raw = await request(target, NG, data, options)
    return ng.decode_reply(raw, cookie)


async def cli_request(target: Target, command: str, options: ClientOptions) -> bytes:
    """Run one CLI command and return the daemon's reply bytes unchanged.

    The command goes without its LF: the cli:// client frames the line itself.
    """
    return await request(target, CLI, command.encode("utf-8", "surrogateescape"), options)
