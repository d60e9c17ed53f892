"""Fuzz targets: every parser that takes bytes from outside, wrapped so that the only
acceptable outcomes are a reply in the protocol's own format (or a documented drop).

A handler that raises is caught by the core and answered with ``Internal error``: the
daemon survives, but that is still a bug, so the targets treat such a reply as a crash.

Used by the hypothesis property tests (short runs in CI) and by ``campaign.py``
(long runs: ``python tests/fuzz/campaign.py --inputs 1000000``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from rtpengined import sdp
from rtpengined.config import Config
from rtpengined.core import Core
from rtpengined.protocol import bencode, ngcodec

# Offers that parse bind real media ports: a range of their own, away from the daemons'.
FUZZ_PORTS = (52000, 52999)
_core: Core | None = None
_cli_core: Core | None = None
INTERNAL_NG = b"Internal error"
INTERNAL_CLI = "Internal error while processing the command"


class InternalError(AssertionError):
    """The core caught an exception from a handler: the daemon survives, but it is a bug."""


def _quiet() -> None:
    # CLI `set loglevel` can lower logger levels, so switch logging off for the process.
    logging.disable(logging.CRITICAL)


def core() -> Core:
    """The core the ng, SDP, JSON and WebSocket targets share."""
    global _core
    if _core is None:
        _quiet()
        _core = Core(Config(port_min=FUZZ_PORTS[0], port_max=FUZZ_PORTS[1]))
    return _core


def cli_core() -> Core:
    """A core of its own for CLI lines: fuzzed setters change its settings."""
    global _cli_core
    if _cli_core is None:
        _quiet()
        _cli_core = Core(Config(port_min=FUZZ_PORTS[0], port_max=FUZZ_PORTS[1]))
    return _cli_core


def _check_ng_payload(payload: bytes) -> None:
    assert payload[:1] in (b"d", b"{"), payload[:80]
    if INTERNAL_NG in payload:
        raise InternalError(payload[:200])
    if payload[:1] == b"{":
        # Strings that came in as bytes that are not UTF-8 (e.g. a call-id offered in
        # bencode) go out as the same bytes, as rtpengine's do: valid JSON otherwise.
        decoded = json.loads(payload.decode("utf-8", "surrogateescape"))
    else:
        decoded = bencode.decode(payload)
    assert isinstance(decoded, dict) and "result" in decoded, payload[:200]


def _decoded(decode_prefix: Callable[[bytes], tuple], data: bytes) -> str:
    """A decoding's outcome as text: the value's repr (types and key order) or the error."""
    try:
        return repr(decode_prefix(data))
    except bencode.BencodeError as exc:
        return f"BencodeError: {exc}"


def fuzz_bencode(data: bytes) -> None:
    """Decoding either gives a value or raises BencodeError, the same as bencode.py's Python
    code does (the C helper, when it is built, must not differ); encoding gives the same
    bytes both ways and decodes back; scanning agrees with decoding."""
    assert _decoded(bencode.decode_prefix, data) == _decoded(bencode.pure_decode_prefix, data)
    try:
        value, used = bencode.decode_prefix(data)
    except bencode.BencodeError:
        value = None
    else:
        encoded = bencode.encode(value)
        assert encoded == bencode.pure_encode(value)
        assert bencode.decode(encoded) == value
        del used
    try:
        bencode.scan_value(data)
    except bencode.BencodeError:
        pass


def fuzz_ng_envelope(data: bytes) -> None:
    """Any datagram gets either no reply (no cookie) or ``COOKIE SP`` + a reply payload."""
    reply = core().handle_ng(data, ("127.0.0.1", 9))
    if reply is None:
        assert b" " not in data or data.startswith(b" ")
        return
    cookie = data.split(b" ", 1)[0]
    assert reply.startswith(cookie + b" ")
    _check_ng_payload(reply[len(cookie) + 1 :])


def fuzz_ng_command(data: bytes) -> None:
    """A well-framed bencode request with arbitrary content never breaks the core."""
    fuzz_ng_envelope(b"fz%d d" % len(data) + data)


def fuzz_json_envelope(data: bytes) -> None:
    """JSON payloads (bad syntax, nulls, floats, odd types) get a JSON or bencode error reply."""
    body = data if data.startswith(b"{") else b"{" + data
    reply = core().handle_ng(b"fj%d " % len(data) + body, ("127.0.0.1", 9))
    assert reply is not None
    _check_ng_payload(reply.split(b" ", 1)[1])
    plain, encoding = core().handle_ng_plain(body, ("127.0.0.1", 9))
    assert encoding in (ngcodec.JSON, ngcodec.BENCODE)
    _check_ng_payload(plain)


def fuzz_sdp(data: bytes) -> None:
    """The SDP parser raises only ``SdpError``; SDP that parses goes through offer and delete."""
    text = data.decode("utf-8", "surrogateescape")
    try:
        sdp.check_complete(sdp.parse(text))
    except sdp.SdpError:
        pass
    the_core = core()
    message = {"command": "offer", "call-id": "fz-sdp", "from-tag": "fz-a", "sdp": text}
    reply = the_core.handle_ng_plain(bencode.encode(message), ("127.0.0.1", 9))[0]
    _check_ng_payload(reply)
    if reply.startswith(b"d6:result2:ok"):
        answer = dict(message, command="answer", **{"to-tag": "fz-b"})
        _check_ng_payload(the_core.handle_ng_plain(bencode.encode(answer), None)[0])
    delete = {"command": "delete", "call-id": "fz-sdp", "delete-delay": 0}
    _check_ng_payload(the_core.handle_ng_plain(bencode.encode(delete), None)[0])


def fuzz_cli_line(data: bytes) -> None:
    """Any CLI line gets a text reply (possibly empty), never an internal error."""
    from rtpengined.ctl import handle_cli

    line = data.split(b"\n", 1)[0].decode("utf-8", "surrogateescape")
    reply = handle_cli(cli_core(), line)
    assert isinstance(reply, str)
    if reply.startswith(INTERNAL_CLI):
        raise InternalError(line)


def fuzz_http_path(data: bytes) -> None:
    """Request targets decode to a path or are refused (403); ``/cli/`` paths run as CLI lines."""
    from transports.http_app import ForbiddenTarget, request_path

    try:
        path = request_path(data)
    except ForbiddenTarget:
        return
    assert path.startswith(b"/")
    if path.startswith(b"/cli/"):
        reply = handle_cli_text(path[5:])
        if reply.startswith(INTERNAL_CLI):
            raise InternalError(path)


def handle_cli_text(raw: bytes) -> str:
    from rtpengined.ctl import handle_cli

    return handle_cli(cli_core(), raw.decode("utf-8", "surrogateescape"))


def fuzz_websocket(data: bytes) -> None:
    """One WebSocket message on each subprotocol (first byte picks it): the reply frame's shape."""
    from transports.ws import CLI, ECHO, JANUS, NG, NG_PLAIN, SUBPROTOCOLS, _answer, choose_subprotocol

    if not data:
        data = b"\0"
    subprotocol = SUBPROTOCOLS[data[0] % len(SUBPROTOCOLS)]
    message = data[1:]
    assert choose_subprotocol([message.decode("latin-1"), subprotocol]) in SUBPROTOCOLS
    the_core = cli_core() if subprotocol == CLI else core()
    reply = _answer(the_core, subprotocol, message, ("127.0.0.1", 9))
    if subprotocol == ECHO:
        assert reply == message
    elif subprotocol == CLI:
        assert reply is None or isinstance(reply, bytes)
        if reply and reply.startswith(INTERNAL_CLI.encode()):
            raise InternalError(message)
    elif subprotocol == NG:
        if reply is None:
            return
        cookie = message.split(b" ", 1)[0]
        assert reply.startswith(cookie + b" ")
        _check_ng_payload(reply[len(cookie) + 1 :])
    elif subprotocol == JANUS:  # a JSON object naming what it is, whatever came in
        assert isinstance(json.loads(reply)["janus"], str)
        for frame in the_core.handle_janus(message, _NoLink()):
            assert isinstance(json.loads(frame)["janus"], str)
    else:
        assert subprotocol == NG_PLAIN and reply is not None
        _check_ng_payload(reply)


class _NoLink:
    """A Janus connection that drops its events (the fuzzer reads replies only)."""

    def push(self, message: bytes) -> None:
        json.loads(message)


def fuzz_tcp_framer(data: bytes) -> None:
    from transports.tcp_ng import FramingError, TcpNgFramer

    framer = TcpNgFramer(max_pending=4096)
    try:
        for i in range(0, len(data), 7):
            for message in framer.feed(data[i : i + 7]):
                assert b" " in message
    except FramingError:
        pass


def fuzz_cli_framer(data: bytes) -> None:
    """The CLI port's line reader: a line, nothing yet, or LineTooLong past its limit."""
    from transports.cli_tcp import CliLineReader, LineTooLong

    reader = CliLineReader(max_line=256)
    try:
        for i in range(0, len(data), 5):
            line = reader.feed(data[i : i + 5])
            if line is not None:
                assert b"\n" not in line and line
                return
    except LineTooLong:
        assert len(data) > 256
        return
    reader.at_eof()


TARGETS: dict[str, Callable[[bytes], None]] = {
    "bencode": fuzz_bencode,
    "ng-envelope": fuzz_ng_envelope,
    "ng-command": fuzz_ng_command,
    "json-envelope": fuzz_json_envelope,
    "sdp": fuzz_sdp,
    "cli-line": fuzz_cli_line,
    "http-path": fuzz_http_path,
    "websocket": fuzz_websocket,
    "tcp-framer": fuzz_tcp_framer,
    "cli-framer": fuzz_cli_framer,
}
