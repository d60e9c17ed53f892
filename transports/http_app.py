"""The HTTP side of rtpengine's web port as a quart-trio app: /ping, /cli/, /ng, /ng-plain, /metrics.

Routing follows rtpengine (metrics.md §2), not Quart: Quart decodes the path before routing
and would turn ``+`` or ``%2B`` into the wrong bytes, and redirect or 405 where rtpengine
answers 200/404. So a thin ASGI front stashes the raw request target, points Quart at one
view, and that view normalises and decodes the target itself (``normalise_target``,
``url_decode``: sans-I/O, unit-tested). Every reply carries exactly ``content-type`` and
``content-length``, as rtpengine's do.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
from typing import Any

import trio
from quart import Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from rtpengined.ngcodec import JSON

log = logging.getLogger("rtpengined.http")

NG_CONTENT_TYPE = "application/x-rtpengine-ng"
JSON_CONTENT_TYPE = "application/json"
MAX_BODY = 1024 * 1024  # rtpengine has no documented cap; 1 MiB is far above any ng message
TARGET_KEY = "rtpengined.target"
# The page libwebsockets sends with its 403 (metrics.md §2.2), so clients see the same bytes.
FORBIDDEN_PAGE = (
    b'<html><head><meta charset=utf-8 http-equiv="Content-Language" content="en"/>'
    b'<link rel="stylesheet" type="text/css" href="/error.css"/></head><body><h1>403</h1></body></html>'
)
_HEX_PAIR = re.compile(rb"[0-9A-Fa-f]{2}")
AUTH_TOKEN_ENV = "RTPENGINED_HTTP_AUTH_TOKEN"
UNAUTHORIZED_BODY = b"unauthorized: send 'Authorization: Bearer <token>' (see --http-auth-token)\n"
OPEN_PATHS = (b"/ping", b"/metrics")  # readable without the token unless --http-auth-metrics


class ForbiddenTarget(ValueError):
    """The request target cannot be served: absolute form, bad escape or NUL byte."""


def normalise_target(target: bytes) -> bytes:
    """Cut query and ``;`` parameters, resolve ``.``/``..`` and ``//`` (before decoding)."""
    target = target.split(b"?", 1)[0].split(b";", 1)[0]
    if not target.startswith(b"/"):
        raise ForbiddenTarget("request target is not an absolute path")
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


def text_response(body: bytes | str, status: int = 200, content_type: str = "text/plain",
                  close: bool = False) -> Response:
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogateescape")
    response = Response(body, status=status, content_type=content_type)
    response.headers["content-length"] = str(len(body))
    if close:
        response.headers["connection"] = "close"
    return response


def not_found() -> Response:
    return text_response(b"not found\n", 404)


def forbidden() -> Response:
    return text_response(FORBIDDEN_PAGE, 403, "text/html", close=True)


def media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


class RawTargetFront:
    """ASGI front: keep the raw target for our own routing, let Quart route everything to ``/``;
    shield hypercorn's send from quart-trio's cancellation. ``POST /ng`` with the ng
    content type, the one request a SIP proxy sends at rate, is answered right here: the
    same core call and reply as the Quart view, without a request context per message."""

    def __init__(self, app: Any, state: AppState | None = None) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if self.state is not None and scope["type"] in ("http", "websocket") \
                and not self.state.authorized(scope):
            await _refuse_unauthorized(scope, _shielded(send))
            return
        if (self.state is not None and scope["type"] == "http" and scope["method"] == "POST"
                and scope.get("raw_path") == b"/ng" and _is_ng_request(scope["headers"])):
            await _fast_ng(self.state, scope, receive, _shielded(send))
            return
        if scope["type"] in ("http", "websocket"):
            scope = dict(scope)
            scope[TARGET_KEY] = scope.get("raw_path") or scope["path"].encode("latin-1")
            scope["path"] = "/"
            scope["raw_path"] = b"/"
        await self.app(scope, receive, _shielded(send))


def bearer_token(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive)."""
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, token = value.strip().partition(b" ")
            if scheme.lower() == b"bearer":
                return token.strip()
            return None
    return None


def needs_token(raw_target: bytes, protect_open_paths: bool) -> bool:
    """Every path needs the token except ``/ping`` and ``/metrics`` (unless those are protected too)."""
    if protect_open_paths:
        return True
    try:
        path = request_path(raw_target)
    except ForbiddenTarget:
        return False  # answered 403 anyway
    return path.rstrip(b"/") not in OPEN_PATHS


async def _refuse_unauthorized(scope: dict, send: Any) -> None:
    log.info("http: refusing %s %r from %s: missing or wrong auth token", scope["type"],
             scope.get("raw_path", b"")[:200], scope.get("client"))
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(UNAUTHORIZED_BODY)),
               (b"www-authenticate", b'Bearer realm="rtpengined"')]
    prefix = "websocket.http" if scope["type"] == "websocket" else "http"
    await send({"type": f"{prefix}.response.start", "status": 401, "headers": headers})
    await send({"type": f"{prefix}.response.body", "body": UNAUTHORIZED_BODY, "more_body": False})


def _is_ng_request(headers: list[tuple[bytes, bytes]]) -> bool:
    content_type = length = None
    for name, value in headers:
        name = name.lower()
        if name == b"content-type":
            content_type = value
        elif name == b"content-length":
            length = value
    return (content_type is not None and length is not None and length.strip().isdigit()
            and int(length) <= MAX_BODY and media_type(content_type.decode("latin-1")) == NG_CONTENT_TYPE)


async def _fast_ng(state: AppState, scope: dict, receive: Any, send: Any) -> None:
    body = bytearray()
    reply, status, content_type = b"request timeout\n", 408, b"text/plain"
    # A client that sends part of the body and then nothing (slowloris) is cut off.
    with trio.move_on_after(state.body_timeout):
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # client went away
            body += message.get("body", b"")
            if len(body) > MAX_BODY:
                reply, status, content_type = b"request entity too large\n", 413, b"text/plain"
                break
            if not message.get("more_body", False):
                client = scope.get("client")
                source = (client[0], client[1]) if client else None
                answer = state.core.handle_ng(bytes(body), source, "http")
                if answer is None:
                    reply, status, content_type = b"error\n", 600, b"text/plain"
                else:
                    reply, status, content_type = answer, 200, NG_CONTENT_TYPE.encode()
                break
    headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(reply))]
    if status >= 400:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": reply, "more_body": False})


def _shielded(send: Any) -> Any:
    """Let hypercorn finish what a send starts (e.g. closing the connection after the reply).

    quart-trio cancels its request nursery as soon as hypercorn reports the disconnect,
    which can interrupt hypercorn half way through closing the socket, leaving the
    connection open (and later in CLOSE-WAIT). Hypercorn already shields its socket
    writes; this shields the bookkeeping around them too.
    """

    async def send_shielded(message: Any) -> None:
        with trio.CancelScope(shield=True):
            await send(message)

    return send_shielded


class AppState:
    """What the handlers share: the core, and open WebSockets to close on shutdown."""

    def __init__(self, core: Any) -> None:
        self.core = core
        self.closing = False
        self.open_websockets: set[trio.CancelScope] = set()
        token = getattr(core.config, "http_auth_token", None) or os.environ.get(AUTH_TOKEN_ENV) or None
        self.auth_token: bytes | None = token.encode("utf-8") if token else None
        # How long a request body may take to arrive: the idle timeout, at most 30 s.
        self.body_timeout = float(min(getattr(core.config, "http_idle_timeout", 0) or 30, 30))

    def authorized(self, scope: dict) -> bool:
        """No token configured, an open path, or the right ``Authorization: Bearer`` header."""
        if self.auth_token is None:
            return True
        raw = scope.get("raw_path") or scope.get("path", "/").encode("latin-1")
        if not needs_token(raw, bool(getattr(self.core.config, "http_auth_metrics", False))):
            return True
        given = bearer_token(scope.get("headers", []))
        return given is not None and hmac.compare_digest(given, self.auth_token)

    def begin_shutdown(self) -> None:
        """Stop every WebSocket loop; each then sends its close frame (1001)."""
        self.closing = True
        for scope in list(self.open_websockets):
            scope.cancel()


def _source() -> tuple[str, int] | None:
    client = request.scope.get("client")
    return (client[0], client[1]) if client else None


async def _handle_get(state: AppState, path: bytes) -> Response:
    if path == b"/ping":
        return text_response(b"pong\n")
    if path == b"/metrics":
        from rtpengined.metrics import CONTENT_TYPE, metrics_text

        return text_response(metrics_text(state.core), content_type=CONTENT_TYPE)
    if path.startswith(b"/cli/"):
        line = path[5:].decode("utf-8", "surrogateescape")
        return text_response(state.core.handle_cli(line, _source()))
    return not_found()


async def _handle_post(state: AppState, path: bytes) -> Response:
    body = await request.get_data(cache=False)
    content_type = media_type(request.headers.get("content-type"))
    if path == b"/ng" and content_type == NG_CONTENT_TYPE:
        reply = state.core.handle_ng(body, _source(), "http")
        if reply is None:
            return text_response(b"error\n", 600)
        return text_response(reply, content_type=NG_CONTENT_TYPE)
    if path == b"/ng-plain" and content_type in (NG_CONTENT_TYPE, JSON_CONTENT_TYPE):
        reply, encoding = state.core.handle_ng_plain(body, _source(), "http")
        return text_response(reply, content_type=JSON_CONTENT_TYPE if encoding == JSON else NG_CONTENT_TYPE)
    if content_type not in (NG_CONTENT_TYPE, JSON_CONTENT_TYPE):
        log.info("http: unsupported content type %r for POST %r", content_type, path)
    return not_found()


def create_app(state: AppState) -> RawTargetFront:
    """The quart-trio app for one listener, wrapped in the raw-target front."""
    from .ws import serve_websocket

    app = QuartTrio("rtpengined.http")
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY, BODY_TIMEOUT=state.body_timeout, RESPONSE_TIMEOUT=30,
                      PROPAGATE_EXCEPTIONS=False)
    app.url_map.strict_slashes = False
    methods = ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"]

    @app.route("/", methods=methods, provide_automatic_options=False)
    async def http_entry() -> Response:
        try:
            path = request_path(request.scope[TARGET_KEY])
        except ForbiddenTarget as exc:
            log.info("http: refusing target %r: %s", request.scope[TARGET_KEY][:200], exc)
            return forbidden()
        if request.method == "GET":
            return await _handle_get(state, path)
        if request.method == "POST":
            return await _handle_post(state, path)
        # rtpengine never answers these (the client times out); a clear 405 is kinder.
        return text_response(b"method not allowed\n", 405)

    @app.websocket("/")
    async def websocket_entry() -> Response | None:
        return await serve_websocket(state)

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        code = error.code or 500
        log.info("http: %s %s", code, error.description)
        return text_response(f"{(error.name or 'error').lower()}\n", code, close=code >= 400)

    @app.errorhandler(Exception)
    async def internal_error(error: Exception) -> Response:
        log.exception("http: internal error")
        return text_response(b"internal error\n", 500, close=True)

    return RawTargetFront(app, state)
