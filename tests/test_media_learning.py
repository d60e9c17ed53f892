"""Endpoint learning as a worker applies it, with a fake clock (no sockets, no waiting)."""

from __future__ import annotations

import pytest

from rtpengined.media import channel as ch
from rtpengined.media.counters import CounterTable, SlotAllocator
from rtpengined.media.worker import LEARNING_WINDOW, _source_ok, _Stream, socket_address

SDP = ("192.0.2.10", 2000)
NAT = ("198.51.100.7", 40000)
OTHER = ("198.51.100.8", 40002)


def spec(**overrides) -> ch.StreamSpec:
    values = dict(
        id=1, slot=0, family=4, sink=None, rtcp_peer=None, advertised=SDP, endpoint=SDP,
        override_endpoint=True, confirmed=False, learning="delayed", strict_source=False,
        media_handover=False, asymmetric=False, rtcp_mux=False, blocked=False,
        restart_learning=True, generation=1,
    )
    values.update(overrides)
    return ch.StreamSpec(**values)


def stream(now: float = 100.0, **overrides) -> _Stream:
    state = _Stream.__new__(_Stream)
    state.endpoint, state.confirmed, state.best_score, state.learn_until = None, False, -1, 0.0
    state.fd = -1  # no socket: the worker's C loop is not told this stream's destination
    state.rare = None  # no keys, leg, subscribers or sockets on other addresses (local 0)
    state.apply(spec(**overrides), now)
    return state


def test_delayed_follows_sources_within_the_window_then_confirms():
    s = stream()
    assert s.on_new_source(NAT, 100.5) and s.endpoint == NAT and not s.confirmed
    assert s.on_new_source(OTHER, 101.0) and s.endpoint == OTHER and not s.confirmed
    assert s.dest == OTHER
    assert s.on_new_source(NAT, 100.0 + LEARNING_WINDOW) and s.endpoint == NAT and s.confirmed
    assert s.on_new_source(OTHER, 200.0)  # still relayed, but not learned
    assert s.endpoint == NAT


def test_immediate_confirms_the_first_source():
    s = stream(learning="immediate")
    assert s.on_new_source(NAT, 100.0) and s.endpoint == NAT and s.confirmed


def test_strict_source_drops_other_sources_once_confirmed():
    s = stream(learning="immediate", strict_source=True)
    assert s.on_new_source(NAT, 100.0)
    assert not s.on_new_source(OTHER, 100.1)
    assert s.endpoint == NAT


def test_strict_source_before_confirmation_relays():
    s = stream(strict_source=True)
    assert s.on_new_source(NAT, 100.0) and s.on_new_source(OTHER, 100.1)


def test_media_handover_relearns():
    s = stream(learning="immediate", media_handover=True)
    s.on_new_source(NAT, 100.0)
    assert s.on_new_source(OTHER, 150.0) and s.endpoint == OTHER and s.dest == OTHER


@pytest.mark.parametrize("flags", [{"learning": "off"}, {"asymmetric": True}])
def test_off_and_asymmetric_keep_the_sdp_endpoint(flags):
    s = stream(**flags)
    assert s.on_new_source(NAT, 100.0)
    assert s.dest == SDP


def test_asymmetric_with_strict_source_only_accepts_the_sdp_address():
    s = stream(asymmetric=True, strict_source=True)
    assert s.on_new_source(SDP, 100.0)
    assert not s.on_new_source(NAT, 100.1)


RTP = bytes([0x80, 0]) + bytes(170)
RTCP_SR = bytes([0x80, 200, 0, 6]) + bytes(24)


@pytest.mark.parametrize("flags", [{}, {"learning": "immediate"}, {"learning": "off"},
                                   {"asymmetric": True}, {"rtcp_mux": True}])
def test_rtcp_on_the_rtp_port_learns_nothing_until_confirmed(flags):
    """10.5's GH #697 work-around: relayed, but no source for learning or confirming."""
    s = stream(**flags)
    assert _source_ok(s, NAT, RTCP_SR, 100.0)
    assert _source_ok(s, NAT, RTCP_SR, 110.0)
    assert s.endpoint == SDP and not s.confirmed
    assert _source_ok(s, NAT, RTP, 110.1) and s.confirmed


def test_rtcp_port_learns_from_its_rtcp():
    s = stream(learning="immediate", rtcp=True)
    assert _source_ok(s, NAT, RTCP_SR, 100.0) and s.endpoint == NAT and s.confirmed


def test_once_confirmed_rtcp_on_the_rtp_port_is_checked_as_any_packet():
    s = stream(learning="immediate", strict_source=True)
    assert _source_ok(s, NAT, RTP, 100.0) and s.confirmed
    assert _source_ok(s, NAT, RTCP_SR, 100.1)
    assert not _source_ok(s, OTHER, RTCP_SR, 100.2)


def test_the_window_counts_from_the_signal_not_the_first_packet():
    """A stream whose packets were all refused (never shown to ``_source_ok``) confirms the
    first good packet's source once the window since the signal is over (10.5)."""
    s = stream()
    assert _source_ok(s, OTHER, RTP, 100.0 + LEARNING_WINDOW + 0.5)
    assert s.endpoint == OTHER and s.confirmed


def test_heuristic_prefers_the_sdp_match():
    s = stream(learning="heuristic", endpoint=None)
    s.on_new_source(("192.0.2.10", 5555), 100.0)  # address matches
    s.on_new_source(NAT, 100.5)  # matches nothing: ignored
    assert s.endpoint == ("192.0.2.10", 5555)
    s.on_new_source(SDP, 101.0)
    assert s.endpoint == SDP
    s.on_new_source(NAT, 110.0)  # after the window: confirms what it has
    assert s.confirmed and s.endpoint == SDP


def test_update_without_override_keeps_what_was_learned():
    s = stream(learning="immediate")
    s.on_new_source(NAT, 100.0)
    s.apply(spec(learning="immediate", override_endpoint=False, blocked=True), 120.0)
    assert s.endpoint == NAT and s.confirmed and s.blocked
    s.apply(spec(advertised=OTHER, endpoint=None, confirmed=False), 130.0)
    assert s.endpoint is None and s.dest == OTHER and not s.confirmed


def test_socket_address_forms():
    assert socket_address(4, "127.0.0.1", 5) == ("127.0.0.1", 5)
    assert socket_address(6, "::1", 5) == ("::1", 5, 0, 0)
    assert socket_address(6, "127.0.0.1", 5) == ("::ffff:127.0.0.1", 5, 0, 0)
    assert socket_address(4, "::1", 5) is None
    assert socket_address(4, "host.example", 5) is None


def test_counter_slots_round_trip_and_reuse_lowest_first():
    table = CounterTable.create(capacity=16)
    try:
        table.write(3, 10, 1720, 1, 1234.5, 0xABCD, 4000, 4,
                    3, bytes([127, 0, 0, 1]).ljust(16, b"\0"), 7, 9)
        values = table.read(3)
        assert (values.packets, values.bytes, values.errors, values.kernel_drops) == (10, 1720, 1, 7)
        assert values.endpoint == ("127.0.0.1", 4000) and values.confirmed
        assert values.ssrc == 0xABCD and values.generation == 9 and values.written
        table.clear(3)
        assert not table.read(3).written
    finally:
        table.close()
    slots = SlotAllocator(4)
    assert [slots.allocate() for _ in range(3)] == [0, 1, 2]
    slots.release(1)
    slots.release(0)
    assert slots.allocate() == 0
