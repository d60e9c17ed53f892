"""Helpers for the CLI tests: talk to a CLI port, read fixtures, mask volatile fields."""

from __future__ import annotations

import os
import re
import socket

import trio

from rtpengined.family_gauges import FamilyGauges

from conftest import FIXTURES

CAPTURE_SCRIPT = os.path.join(FIXTURES, "tools", "capture.sh")


async def cli_request(address: tuple, data: bytes, timeout: float = 5.0) -> bytes:
    """Send ``data`` raw on a fresh connection; every reply byte until EOF."""
    with trio.fail_after(timeout):
        stream = await trio.open_tcp_stream(address[0], address[1])
        async with stream:
            await stream.send_all(data)
            chunks = []
            while True:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)


async def cli(address: tuple, command: str) -> str:
    """One command the way rtpengine-ctl sends it (command + LF)."""
    reply = await cli_request(address, command.encode() + b"\n")
    return reply.decode("utf-8", "surrogateescape")


def fixture(path: str) -> str:
    with open(os.path.join(FIXTURES, path), "rb") as handle:
        return handle.read().decode()


def capture_list(marker: str) -> list[tuple[str, str]]:
    """The ``name|command`` heredoc that follows ``marker`` in tools/capture.sh."""
    with open(CAPTURE_SCRIPT) as handle:
        text = handle.read()
    start = text.index(marker)
    body = text[text.index("<<'EOF'\n", start) + 8 : text.index("\nEOF\n", start)]
    pairs = []
    for line in body.splitlines():
        if line.strip():
            name, _, command = line.partition("|")
            pairs.append((name, command))
    return pairs


_MASKS = [
    (re.compile(r"(Uptime of rtpengine\s*:)\d+"), r"\1N"),
    (re.compile(r'("uptime":)\d+'), r"\1N"),
    (re.compile(r"(configured on rtpengine: )(\d+|infinite)(; cat /proc/)\d+"), r"\1N\3PID"),
    (re.compile(r"(created: *)\d+"), r"\1T"),
    (re.compile(r"(last_signal: )\d+"), r"\1T"),
    (re.compile(r"\d+ ts$", re.M), "T ts"),
    (re.compile(r"(callduration )\d+\.\d{6}"), r"\1D"),
    (re.compile(r"(proxy: ?127\.0\.0\.1:)\d+"), r"\1P"),
    (re.compile(r"(127\.0\.0\.1:)\d+( <> )"), r"\1PORT\2"),
    (re.compile(r"(duration\":)\d+\.\d{6}"), r"\1D"),
    (re.compile(r"(Last port used: *)\d+"), r"\1L"),
    (re.compile(r'("last":)\d+'), r"\1L"),
    (re.compile(r"^(listen-(?:ng|cli) = ).+$", re.M), r"\1ADDR"),
    (re.compile(r"^(num-threads = )\d+$", re.M), r"\1N"),
    (re.compile(r"^(port-m(?:in|ax) = )\d+$", re.M), r"\1N"),
]


def mask(text: str) -> str:
    """Hide what legitimately differs between two runs (fixtures README)."""
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


def sorted_lines(text: str) -> list[str]:
    """``list sessions all`` lines are in hash order: compare as a set."""
    return sorted(text.splitlines(keepends=True))


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- hand-built call model in the fixtures' states --------------------------------------------

CREATED = 1795698090.157513


class FakePool:
    """What the views read of a media port pool."""

    def __init__(self, interface, port_min: int, port_max: int, used: int = 0, last: int = 0) -> None:
        self.interface, self.port_min, self.port_max = interface, port_min, port_max
        self.used, self.last = used, last

    @property
    def total(self) -> int:
        return self.port_max - self.port_min + 1


class FakeCalls:
    """Stands in for ``CallManager`` in unit tests: the call table and ``destroy``."""

    def __init__(self, core, pools) -> None:
        self.core = core
        self.media = core.calls.media  # the core reaches the media plane and store through its calls
        self.store = core.calls.store
        self.calls: dict = {}
        self.port_pools = pools
        self.destroyed: list[tuple[str, str | None]] = []
        self.converting: dict = {}  # (no stream converts in these tests)
        self.families = FamilyGauges()

    def changed(self, call) -> None:
        self.families.refile(call)
        self.store.changed(call)

    def destroy(self, call, reason) -> None:
        self.destroyed.append((call.call_id, reason))
        del self.calls[call.call_id]
        self.families.remove(call)

    def tick(self, now: float) -> None:
        pass

    def shutdown(self) -> None:
        pass


def _party(tag, tag_type, created, local_port, remote, codec=None, stats=None):
    from rtpengined.model import CallMedia, Endpoint, Interface, Monologue, Stream, StreamStats

    interface = Interface("default", "127.0.0.1", "127.0.0.1")
    monologue = Monologue(tag=tag, created=created, tag_type=tag_type)
    media = CallMedia(index=1, type="audio", protocol="RTP/AVP", codec=codec)
    for offset, rtcp in ((0, False), (1, True)):
        endpoint = Endpoint("127.0.0.1", remote + offset) if remote else None
        stream = Stream(interface, local_port + offset, rtcp=rtcp, advertised=endpoint,
                        endpoint=endpoint)
        stream.stats = StreamStats(last_packet=int(created))
        media.streams.append(stream)
    if stats:
        packets, size, ssrc, last = stats
        media.streams[0].stats = StreamStats(packets, packets * size, 0, last, ssrc)
    monologue.medias.append(media)
    return monologue


def build_call(call_id, proxy, parties, created=CREATED):
    """A call whose monologues subscribe to each other, as after offer + answer."""
    from rtpengined.model import Call

    call = Call(call_id=call_id, created=created, last_signal=created, proxy=proxy)
    call.monologues = parties
    if len(parties) == 2:
        parties[0].link(parties[1])
        parties[1].link(parties[0])
    return call


def fixture_calls(media: bool = False) -> list:
    """fixture-call-1 and -2 as in calls/ (``media=True``: after the RTP of media/)."""
    codec = "PCMU/8000" if media else None
    caller_stats = (10, 172, 0x11223344, 1795698101) if media else None
    callee_stats = (5, 172, 0x55667788, 1795698101) if media else None
    call1 = build_call("fixture-call-1", "127.0.0.1:50559", [
        _party("caller1", "FROM_TAG", CREATED, 40020, 52500, codec, caller_stats),
        _party("callee1", "TO_TAG", CREATED + 0.08, 40000, 52502, codec, callee_stats),
    ])
    call2 = build_call("fixture-call-2", "127.0.0.1:57280", [
        _party("caller2", "FROM_TAG", CREATED + 0.07, 40048, 52510),
        _party("callee2", "TO_TAG", CREATED + 0.16, 40040, 52512),
    ])
    return [call1, call2]


def model_core(calls=(), used: int = 0, last: int = 0, clock=None):
    """A sans-I/O ``Core`` holding ``calls``, with the fixtures' port range and log level."""
    from rtpengined.config import Config
    from rtpengined.core import Core

    config = Config(port_min=40000, port_max=40999, log_level=6)
    core = Core(config, clock=clock) if clock else Core(config)
    pools = [FakePool(config.interfaces[0], 40000, 40999, used, last)]
    core.calls = FakeCalls(core, pools)
    for call in calls:
        core.calls.calls[call.call_id] = call
        core.calls.families.refile(call)
    return core


async def start_cli_server(nursery, **config_overrides):
    """Only the TCP CLI listener over a fresh core (null media plane): ``(core, address)``."""
    from rtpengined.config import Config, ListenAddress
    from rtpengined.core import Core
    from transports import cli_tcp

    core = Core(Config(**config_overrides))
    address = await nursery.start(cli_tcp.serve, core, ListenAddress("127.0.0.1", 0))
    return core, address
