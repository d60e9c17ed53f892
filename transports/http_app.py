"""The web port's one route table, sans-I/O: a parsed request in, a response out.

``Routes.handle(Request)`` serves ``/ping``, ``/cli/<command>``, ``/ng``, ``/ng-plain`` and
``/metrics`` the way rtpengine 10.5 does (metrics.md §2): routing on the raw target,
normalised (``.``/``..``/``//``, query and ``;`` cut) and then percent-decoded, so ``+`` and
``%2B`` mean what rtpengine makes of them. Every reply carries exactly ``content-type`` and
``content-length``, in that order, as rtpengine's do. The HTTP/1.1 and HTTP/2 shells and the
WebSocket upgrade all go through here, so each route and each auth rule exists once.

Access is decided by *what is served*, never by the path string: only the ``ping`` and
``metrics`` routes are open without the token (unless ``--http-auth-metrics``); a WebSocket
upgrade always needs it, whatever path it names, because the WebSocket handler serves ng and
CLI on any path.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
from dataclasses import dataclass, replace
from typing import Any

from rtpengined.log_context import address_text
from rtpengined.protocol.ngcodec import JSON

log = logging.getLogger("rtpengined.http")
cli_log = logging.getLogger("rtpengined.cli")


NG_CONTENT_TYPE = "application/x-rtpengine-ng"
JSON_CONTENT_TYPE = "application/json"
MAX_BODY = 1024 * 1024  # rtpengine has no documented cap; 1 MiB is far above any ng message
MAX_HEADER_BLOCK = 64 * 1024  # request line + headers; more is answered 431
# The page libwebsockets sends with its 403 (metrics.md §2.2), so clients see the same bytes.
FORBIDDEN_PAGE = (
    b'<html><head><meta charset=utf-8 http-equiv="Content-Language" content="en"/>'
    b'<link rel="stylesheet" type="text/css" href="/error.css"/></head><body><h1>403</h1></body></html>'
)
_HEX_PAIR = re.compile(rb"[0-9A-Fa-f]{2}")
AUTH_TOKEN_ENV = "RTPENGINED_HTTP_AUTH_TOKEN"
UNAUTHORIZED_BODY = b"unauthorized: send 'Authorization: Bearer <token>' (see --http-auth-token)\n"
_NG = NG_CONTENT_TYPE.encode()
_JSON = JSON_CONTENT_TYPE.encode()
_TEXT = b"text/plain"


class ForbiddenTarget(ValueError):
    """The request target cannot be served: absolute form, bad escape or NUL byte."""


def normalise_target(target: bytes) -> bytes:
    """Cut query and ``;`` parameters, resolve ``.``/``..`` and ``//`` (before decoding)."""
    target = target.split(b"?", 1)[0].split(b";", 1)[0]
    if not target.startswith(b"/"):
        raise ForbiddenTarget("request target is not an absolute path")
    if b"/." not in target and b"//" not in target:
        return target  # the common case, already normal
    parts = target.split(b"/")[1:]
    segments: list[bytes] = []
    for part in parts:
        if part == b"..":
            if segments:
                segments.pop()
        elif part not in (b"", b"."):
            segments.append(part)
    trailing_slash = bool(segments) and parts[-1] in (b"", b".", b"..")
    return b"/" + b"/".join(segments) + (b"/" if trailing_slash else b"")


def url_decode(path: bytes) -> bytes:
    """``+`` → space, ``%XX`` → byte; a malformed escape or ``%00`` is refused."""
    path = path.replace(b"+", b" ")
    if b"%" not in path:
        return path
    first, *escaped = path.split(b"%")
    decoded = bytearray(first)
    for piece in escaped:
        if not _HEX_PAIR.match(piece):
            raise ForbiddenTarget("malformed percent escape")
        value = int(piece[:2], 16)
        if value == 0:
            raise ForbiddenTarget("NUL byte in path")
        decoded.append(value)
        decoded += piece[2:]
    return bytes(decoded)


def request_path(target: bytes) -> bytes:
    """The decoded, normalised path rtpengine routes on."""
    return url_decode(normalise_target(target))


def media_type(value: bytes | None) -> bytes:
    return (value or b"").split(b";", 1)[0].strip().lower()


def bearer_token(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive)."""
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, token = value.strip().partition(b" ")
            if scheme.lower() == b"bearer":
                return token.strip()
            return None
    return None


def header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower case) or None."""
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


@dataclass(slots=True)
class Request:
    """One parsed HTTP request: header names as sent, body complete."""

    method: bytes
    target: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    source: tuple[str, int] | None = None


@dataclass(frozen=True, slots=True)
class Response:
    """What to answer; ``close``: hang up after sending it (errors, refusals). Frozen: the
    common answers are shared objects (``PONG``), and one request marking the shared pong
    to close once made every later /ping close its connection (``closing`` makes a copy)."""

    status: int
    body: bytes
    content_type: bytes = _TEXT
    close: bool = False
    extra_headers: tuple[tuple[bytes, bytes], ...] = ()

    def closing(self) -> Response:
        """The same answer, after which the connection is closed (and says so)."""
        if self.close:
            return self
        return replace(self, close=True, extra_headers=(*self.extra_headers,
                                                        (b"connection", b"close")))

    def header_list(self) -> list[tuple[bytes, bytes]]:
        """rtpengine's two headers first, in its order, then ours."""
        return [(b"content-type", self.content_type), (b"content-length", b"%d" % len(self.body)),
                *self.extra_headers]


def text(body: bytes, status: int = 200, content_type: bytes = _TEXT, close: bool = False) -> Response:
    return Response(status, body, content_type, close)


PONG = text(b"pong\n")
NOT_FOUND = text(b"not found\n", 404)


def forbidden() -> Response:
    return text(FORBIDDEN_PAGE, 403, b"text/html", close=True)


def unauthorized() -> Response:
    return Response(401, UNAUTHORIZED_BODY, _TEXT, False,
                    ((b"www-authenticate", b'Bearer realm="rtpengined"'),))


def error(status: int, body: bytes) -> Response:
    """A refusal after which the connection is closed (the peer's framing is not trusted)."""
    return Response(status, body, _TEXT, True, ((b"connection", b"close"),))


class Routes:
    """The route table of one listener over the core."""

    def __init__(self, core: Any) -> None:
        self.core = core
        token = core.config.http_auth_token or os.environ.get(AUTH_TOKEN_ENV) or None
        self.auth_token: bytes | None = token.encode("utf-8") if token else None
        self.protect_open_routes = core.config.http_auth_metrics

    def authorized(self, headers: list[tuple[bytes, bytes]]) -> bool:
        """No token configured, or the right ``Authorization: Bearer`` header (constant time)."""
        if self.auth_token is None:
            return True
        given = bearer_token(headers)
        return given is not None and hmac.compare_digest(given, self.auth_token)

    def handle(self, request: Request) -> Response:
        """Answer one complete request."""
        try:
            path = request_path(request.target)
        except ForbiddenTarget as exc:
            log.info("http: refusing target %r: %s", request.target[:200], exc)
            return forbidden()
        method = request.method
        log.info("HTTP %s from %s: '%s'", method.decode("latin-1"), address_text(request.source),
                 path.decode("utf-8", "replace"))  # (as 10.5 logs each request)
        open_route = method == b"GET" and (path == b"/ping" or path == b"/metrics")
        if self.auth_token is not None and (self.protect_open_routes or not open_route) \
                and not self.authorized(request.headers):
            log.info("http: refusing %s %r from %s: missing or wrong auth token",
                     method.decode("latin-1"), request.target[:200], request.source)
            return unauthorized()
        if method == b"GET":
            if path == b"/ping":
                return PONG
            if path.startswith(b"/cli/"):
                line = path[5:].decode("utf-8", "surrogateescape")
                cli_log.info("Got CLI command: %s", line)
                return text(self.core.handle_cli(line).encode("utf-8", "surrogateescape"))
            if path == b"/metrics":
                from rtpengined.metrics import CONTENT_TYPE, metrics_text

                return text(metrics_text(self.core).encode("utf-8", "surrogateescape"), 200,
                            CONTENT_TYPE.encode())
            log.warning("Unhandled HTTP GET URI: '%s'", path.decode("utf-8", "replace"))
            return NOT_FOUND
        if method == b"POST":
            return self._post(path, request)
        # rtpengine never answers these (the client times out); a clear 405 is kinder.
        return text(b"method not allowed\n", 405)

    def _post(self, path: bytes, request: Request) -> Response:
        content_type = media_type(header(request.headers, b"content-type"))
        if path == b"/ng" and content_type == _NG:
            reply = self.core.handle_ng(request.body, request.source)
            if reply is None:
                return text(b"error\n", 600)
            return text(reply, 200, _NG)
        if path == b"/ng-plain" and content_type in (_NG, _JSON):
            reply, encoding = self.core.handle_ng_plain(request.body, request.source)
            return text(reply, 200, _JSON if encoding == JSON else _NG)
        if path == b"/admin" and content_type == _JSON:  # the Janus interface (rtpengined.janus)
            replies = self.core.handle_janus(request.body, None)
            return text(replies[-1], 200, _JSON)
        if content_type not in (_NG, _JSON):
            log.warning("Unsupported content-type '%s'", content_type.decode("latin-1"))
        log.warning("Unhandled HTTP POST URI: '%s'", path.decode("utf-8", "replace"))
        return NOT_FOUND
