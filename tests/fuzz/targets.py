"""Fuzz targets: every parser that takes bytes from outside, wrapped so that the only
acceptable outcomes are a reply in the protocol's own format (or a documented drop).

Used by the hypothesis property tests (short runs in CI) and by ``campaign.py``
(long runs: ``python tests/fuzz/campaign.py --inputs 1000000``).
"""

from __future__ import annotations

from collections.abc import Callable

from rtpengined import bencode
from rtpengined.core import Core

_core: Core | None = None


def core() -> Core:
    global _core
    if _core is None:
        import logging

        logging.getLogger("rtpengined").setLevel(logging.CRITICAL)
        _core = Core()
    return _core


def fuzz_bencode(data: bytes) -> None:
    """Decoding either gives a value or raises BencodeError; scanning agrees with decoding."""
    try:
        value, used = bencode.decode_prefix(data)
    except bencode.BencodeError:
        value = None
    else:
        assert bencode.decode(bencode.encode(value)) == value
        del used
    try:
        bencode.scan_value(data)
    except bencode.BencodeError:
        pass


def fuzz_ng_envelope(data: bytes) -> None:
    """Any datagram gets either no reply (no cookie) or ``COOKIE SP`` + a reply payload."""
    reply = core().handle_ng(data, ("127.0.0.1", 9), "udp")
    if reply is None:
        assert b" " not in data or data.startswith(b" ")
        return
    cookie = data.split(b" ", 1)[0]
    assert reply.startswith(cookie + b" ")
    payload = reply[len(cookie) + 1 :]
    assert payload[:1] in (b"d", b"{")


def fuzz_ng_command(data: bytes) -> None:
    """A well-framed bencode request with arbitrary content never breaks the core."""
    fuzz_ng_envelope(b"fz%d d" % len(data) + data)


def fuzz_tcp_framer(data: bytes) -> None:
    from transports.tcp_ng import FramingError, TcpNgFramer

    framer = TcpNgFramer(max_pending=4096)
    try:
        for i in range(0, len(data), 7):
            for message in framer.feed(data[i : i + 7]):
                assert b" " in message
    except FramingError:
        pass


TARGETS: dict[str, Callable[[bytes], None]] = {
    "bencode": fuzz_bencode,
    "ng-envelope": fuzz_ng_envelope,
    "ng-command": fuzz_ng_command,
    "tcp-framer": fuzz_tcp_framer,
}
