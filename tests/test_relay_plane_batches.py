"""What the relay plane sends a worker for a call's offer, answer and delete.

A real ``RelayPlane`` driven by the real command core; its worker end of the control channel
is read here instead of by a worker process, so each test sees the batches (and sockets)
exactly as a worker would. A new stream's "add" waits for its answer and leaves as one add
with the answer's spec (the worker builds each stream once), also when other calls' urgent
messages leave meanwhile; without an answer it leaves within ``DEFER_DELAY``; a stream
closed before its add left is never sent.
"""

from __future__ import annotations

import os
import socket

import pytest
import trio

from rtpengined.config import Config
from rtpengined.core import Core
from rtpengined.media import channel as ch
from rtpengined.media.plane import DEFER_DELAY, RelayPlane
from rtpengined.protocol import bencode


def _sdp(port: int) -> str:
    return ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0 8\r\na=sendrecv\r\n")


class _Setup:
    def __init__(self) -> None:
        config = Config(port_min=41000, port_max=41999, delete_delay=0, relay_workers=1)
        self.plane = RelayPlane(config, workers=1)
        self.core = Core(config, media=self.plane)
        self.handle = self.plane.workers[0]
        self.sequence = 0

    def command(self, **message) -> dict:
        self.sequence += 1
        reply = self.core.handle_ng(b"t%d " % self.sequence + bencode.encode(message))
        return bencode.decode(reply.split(b" ", 1)[1])

    def offer(self, call_id: str) -> None:
        assert self.command(command="offer", **{"call-id": call_id, "from-tag": "a"},
                            sdp=_sdp(30000))["result"] == "ok"

    def answer(self, call_id: str) -> None:
        assert self.command(command="answer", **{"call-id": call_id, "from-tag": "a",
                                                 "to-tag": "b"}, sdp=_sdp(30002))["result"] == "ok"

    def delete(self, call_id: str) -> None:
        assert self.command(command="delete", **{"call-id": call_id})["result"] == "ok"

    def received(self) -> list[tuple[list, int]]:
        """The batches the worker would read now: (messages, number of sockets)."""
        batches = []
        while True:
            try:
                data, fds = ch.receive_raw(self.handle.child_end, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return batches
            for fd in fds:
                os.close(fd)
            batches.append((ch.decode(data), len(fds)))

    def streams(self, call_id: str) -> set[int]:
        return {record.stream.id for record in self.plane.records.values()
                if record.stream.group == call_id}

    def close(self) -> None:
        self.plane.close()
        self.handle.child_end.close()


@pytest.fixture
async def setup():
    relay = _Setup()  # (inside trio: the plane's close needs it)
    try:
        yield relay
    finally:
        relay.close()


def _kinds(batch: list) -> list[str]:
    return [kind for kind, _ in batch]


def _assert_only_removes(received: tuple[list, int], streams: set[int]) -> None:
    """One remove per stream and no socket: what a delete sends the worker."""
    batch, sockets = received
    assert sorted(batch) == sorted(("remove", stream_id) for stream_id in streams)
    assert sockets == 0


async def test_an_answer_sends_each_new_stream_once_with_its_final_spec(setup) -> None:
    setup.offer("one")
    assert setup.received() == []  # the offer's adds wait for the answer
    streams = setup.streams("one")
    assert len(streams) == 4
    setup.answer("one")
    [(batch, sockets)] = setup.received()
    assert _kinds(batch) == ["add"] * 4 and sockets == 4  # no "update" after them
    specs = [ch.StreamSpec(*argument) for _, argument in batch]
    assert {spec.id for spec in specs} == streams
    # the answer's spec: generation 2, every stream with its sink (the other party's)
    assert all(spec.generation == 2 and spec.sink in streams for spec in specs)
    assert all(spec.override_endpoint and spec.restart_learning for spec in specs)
    setup.delete("one")
    [received] = setup.received()
    _assert_only_removes(received, streams)


async def test_other_calls_messages_leave_without_an_offers_adds(setup) -> None:
    setup.offer("first")
    setup.answer("first")
    setup.received()
    setup.offer("second")
    second = setup.streams("second")
    setup.delete("first")  # urgent: leaves at once, the second call's adds stay
    [(batch, sockets)] = setup.received()
    assert _kinds(batch) == ["remove"] * 4 and sockets == 0
    setup.answer("second")
    [(batch, sockets)] = setup.received()
    assert _kinds(batch) == ["add"] * 4 and sockets == 4
    assert {argument[0] for _, argument in batch} == second


async def test_adds_without_an_answer_leave_within_the_defer_delay(setup) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(setup.plane._flush_deferred)
        setup.offer("alone")
        streams = setup.streams("alone")
        setup.offer("other")  # (an urgent message of another call meanwhile)
        setup.delete("other")
        assert [_kinds(batch) for batch, _ in setup.received()] == [["remove"] * 4]
        await trio.sleep(DEFER_DELAY * 3)
        [(batch, sockets)] = setup.received()
        assert _kinds(batch) == ["add"] * 4 and sockets == 4
        assert {ch.StreamSpec(*argument).id for _, argument in batch} == streams
        assert all(ch.StreamSpec(*argument).generation == 1 for _, argument in batch)
        nursery.cancel_scope.cancel()


async def test_a_call_deleted_before_its_adds_left_sends_only_the_removes(setup) -> None:
    setup.offer("short")
    streams = setup.streams("short")
    setup.delete("short")
    [received] = setup.received()
    # (the worker acknowledges removes of streams it never had: slots and ports free)
    _assert_only_removes(received, streams)
    assert setup.handle.pending == [] and setup.handle.unsent == {}


async def test_a_re_offers_new_streams_go_with_its_updates(setup) -> None:
    """A re-offer that adds a medium: the call's other streams change in the same batch
    (and may relay to the new ones), so the new streams' adds are not held back."""
    setup.offer("grow")
    setup.answer("grow")
    setup.received()
    before = setup.streams("grow")
    video = _sdp(30000) + "m=video 30010 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n"
    assert setup.command(command="offer", sdp=video,
                         **{"call-id": "grow", "from-tag": "a"})["result"] == "ok"
    new = setup.streams("grow") - before
    assert len(new) == 4
    [(batch, sockets)] = setup.received()
    adds = {argument[0] for kind, argument in batch if kind == "add"}
    assert adds == new and sockets == 4
    assert {argument[0] for kind, argument in batch if kind == "update"} <= before


async def test_a_delete_reads_each_streams_counters_once(setup, monkeypatch, caplog) -> None:
    """The final packet stats and the closed totals come from one read of each stream's
    counter slot (read for the lines, not again as the stream closes): both say the same."""
    setup.offer("c1")
    setup.answer("c1")
    records = [record for record in setup.plane.records.values()
               if record.stream.group == "c1"]
    counters = setup.plane.counters
    for number, record in enumerate(records, 1):  # (as the worker writes them)
        counters.write_traffic(record.slot, number, 100 * number, 0, 1.0, 0, 0)
    reads: list[int] = []
    read_raw = counters.read_raw
    monkeypatch.setattr(counters, "read_raw", lambda slot: reads.append(slot) or read_raw(slot))
    stats = setup.core.stats
    before = stats.closed_packets
    with caplog.at_level("INFO", logger="rtpengined"):
        setup.delete("c1")
    assert sorted(reads) == sorted(record.slot for record in records)
    assert stats.closed_packets - before == sum(range(1, len(records) + 1))
    assert "Final packet stats:" in caplog.text
