"""The kernel forwarding planner (sans-I/O) and the messages of its effect layer."""

from __future__ import annotations

import socket
import struct

from rtpengined.media.kernel import (
    KernelPlanner,
    NullKernel,
    elements,
    flows,
    pair_of,
    why_userspace,
)
from rtpengined.media.nft import ct_delete_message, ruleset
from rtpengined.model import Endpoint, Interface, Stream

OURS = Interface("default", "203.0.113.1", "203.0.113.1")
OURS6 = Interface("default", "2001:db8:4321::1", "2001:db8:4321::1")


def call(interface: Interface = OURS, **fields) -> tuple[Stream, Stream]:
    a = Stream(interface=interface, port=30000, group="c")
    b = Stream(interface=interface, port=30002, group="c")
    a.sink, b.sink = b, a
    a.endpoint, b.endpoint = Endpoint("198.51.100.1", 5000), Endpoint("198.51.100.2", 6000)
    a.confirmed = b.confirmed = True
    for name, value in fields.items():
        setattr(a, name, value)
    return a, b


def test_settled_pair_is_eligible_and_described_both_ways():
    a, b = call()
    assert why_userspace(a) is None and why_userspace(b) is None
    pair = pair_of(a)
    assert pair == pair_of(b)  # one pair, whichever side asks
    e = elements(pair)
    assert e.dnat == (
        "198.51.100.1 . 5000 . 203.0.113.1 . 30000 : 198.51.100.2 . 6000",
        "198.51.100.2 . 6000 . 203.0.113.1 . 30002 : 198.51.100.1 . 5000",
    )
    assert e.snat == ("203.0.113.1 . 30000 : 203.0.113.1 . 30002",
                      "203.0.113.1 . 30002 : 203.0.113.1 . 30000")
    assert e.rx == ("203.0.113.1 . 30000", "203.0.113.1 . 30002")
    assert set(flows(pair)) == {
        ("198.51.100.1", 5000, "203.0.113.1", 30000), ("203.0.113.1", 30000, "198.51.100.1", 5000),
        ("198.51.100.2", 6000, "203.0.113.1", 30002), ("203.0.113.1", 30002, "198.51.100.2", 6000),
    }


def test_streams_that_need_the_relay_stay_in_userspace():
    assert why_userspace(call(confirmed=False)[0]) == "learning"
    assert why_userspace(call(endpoint=None)[0]) == "endpoint unknown"
    assert why_userspace(call(asymmetric=True)[0]) == "asymmetric"
    assert why_userspace(call(blocked=True)[0]) == "blocked or closed"
    assert why_userspace(call(rtcp_mux=True)[0]) == "RTCP mux on one side only"
    # converted or fed to a fax gateway by the relay: never forwarded as they come
    assert why_userspace(call(transcode=((0, 8, "PCMU", "PCMA"),))[0]) == "transcoding"
    assert why_userspace(call(t38=("t38", (), None, None, 20))[0]) == "T.38 gateway"
    assert why_userspace(call(dtmf_events=((101, 8000),))[0]) == "DTMF logged"
    assert why_userspace(call(detect=(((0, "PCMU"),), -1))[0]) == "DTMF detected"
    assert why_userspace(call(OURS6)[0]) == "family not forwarded"  # a kernel without IPv6
    both = frozenset({4, 6})
    assert why_userspace(call(OURS6)[0], both) == "mixed families"  # IPv4 peers, IPv6 socket
    a, b = call(OURS6)
    a.endpoint = Endpoint("2001:db8::1", 5000)
    assert why_userspace(a, both) == "mixed families"  # b's peer is still IPv4
    b.endpoint = Endpoint("::ffff:198.51.100.2", 6000)
    assert why_userspace(a, both) == "mixed families"  # mapped IPv4 stays with the relay
    a, b = call()
    b.sink = None  # one-way (a subscription, a half-answered call)
    assert why_userspace(a) == "no symmetric sink"


def test_ipv6_pair_is_eligible_when_the_kernel_forwards_ipv6():
    a, b = call(OURS6)
    a.endpoint = Endpoint("2001:db8:0:0::1", 5000)  # any spelling: keys use the compressed form
    b.endpoint = Endpoint("2001:db8::2", 6000)
    both = frozenset({4, 6})
    assert why_userspace(a, both) is None and pair_of(a) is None
    pair = pair_of(a, both)
    assert pair is not None and pair.family == 6 and pair == pair_of(b, both)
    assert pair.a.peer_address == "2001:db8::1"
    e = elements(pair)
    assert e.dnat[0] == "2001:db8::1 . 5000 . 2001:db8:4321::1 . 30000 : 2001:db8::2 . 6000"
    assert e.rx == ("2001:db8:4321::1 . 30000", "2001:db8:4321::1 . 30002")
    planner = KernelPlanner(families=both)
    planner.touch(a)
    planner.tick()
    installs, _ = planner.tick()
    assert installs == [pair]
    ipv4_only = KernelPlanner()
    ipv4_only.touch(a)
    assert ipv4_only.tick() == ([], []) and a.id not in ipv4_only.candidates  # for good


def test_planner_moves_a_pair_once_stable_and_back_on_change():
    planner = KernelPlanner()
    a, b = call(confirmed=False)
    planner.touch(a)
    planner.touch(b)
    assert planner.tick() == ([], [])  # still learning
    a.confirmed = True
    assert planner.tick() == ([], [])  # first sight of the settled pair
    installs, removals = planner.tick()  # the same a tick later: into the kernel
    assert installs == [pair_of(a)] and removals == []
    assert planner.in_kernel(a.id) and planner.in_kernel(b.id)
    assert planner.tick() == ([], [])  # nothing to do while nothing changes
    # Handover: the relay learned a new endpoint; the pair leaves the kernel...
    old = pair_of(a)
    a.endpoint = Endpoint("198.51.100.1", 5002)
    assert planner.tick() == ([], [old])
    assert not planner.in_kernel(a.id)
    # ...and comes back with the new endpoint once that has held for a tick.
    installs, _ = planner.tick()
    assert installs == [pair_of(a)] and installs[0].a.peer_port == 5002


def test_signalling_and_close_take_a_pair_out_at_once():
    planner = KernelPlanner()
    a, b = call()
    planner.touch(a)
    planner.tick()
    (pair,), _ = planner.tick()
    assert planner.touch(b) == pair  # a re-offer: out now, planned again later
    assert planner.tick() == ([], [])
    planner.tick()
    assert planner.in_kernel(a.id)
    a.closed = True
    assert planner.forget(a) == pair
    assert planner.forget(b) is None
    assert planner.tick() == ([], []) and not planner.candidates


def test_permanent_reasons_drop_the_candidate():
    planner = KernelPlanner()
    a, _ = call(OURS6)
    planner.touch(a)
    planner.tick()
    assert not planner.candidates  # nothing left to re-check every tick


def test_null_kernel_records_when_asked():
    assert NullKernel().install([pair_of(call()[0])]) == []
    double = NullKernel(record=True)
    pair = pair_of(call()[0])
    assert double.install([pair]) == [pair]
    double.fake[("203.0.113.1", 30000)] = (3, 480)
    assert double.remove([pair]) == {("203.0.113.1", 30000): (3, 480),
                                      ("203.0.113.1", 30002): (0, 0)}
    assert double.pairs == {}


def _attributes(data: bytes) -> dict[int, bytes]:
    out, offset = {}, 0
    while offset < len(data):
        length, kind = struct.unpack_from("=HH", data, offset)
        out[kind & 0x7FFF] = data[offset + 4: offset + length]
        offset += length + (-length % 4)
    return out


def test_conntrack_delete_message_names_the_original_tuple():
    message = ct_delete_message(7, ("198.51.100.1", 5000, "203.0.113.1", 30000))
    length, kind, flags, seq = struct.unpack_from("=IHHI", message)
    assert (length, kind, flags, seq) == (len(message), 0x0102, 5, 7)
    assert message[16] == socket.AF_INET
    tuple_orig = _attributes(_attributes(message[20:])[1])
    ip, proto = _attributes(tuple_orig[1]), _attributes(tuple_orig[2])
    assert ip == {1: socket.inet_aton("198.51.100.1"), 2: socket.inet_aton("203.0.113.1")}
    assert proto == {1: bytes([17]), 2: struct.pack("!H", 5000), 3: struct.pack("!H", 30000)}
    flush = _attributes(ct_delete_message(8, None, 0x72746500)[20:])
    assert flush == {8: struct.pack("!I", 0x72746500), 21: b"\xff\xff\xff\xff"}


def test_conntrack_delete_message_for_ipv6_and_the_flush_of_every_family():
    message = ct_delete_message(9, ("2001:db8::1", 5000, "2001:db8:4321::1", 30000))
    assert message[16] == socket.AF_INET6
    tuple_orig = _attributes(_attributes(message[20:])[1])
    ip = _attributes(tuple_orig[1])
    assert ip == {3: socket.inet_pton(socket.AF_INET6, "2001:db8::1"),
                  4: socket.inet_pton(socket.AF_INET6, "2001:db8:4321::1")}
    assert ct_delete_message(10, None, 0x72740000)[16] == socket.AF_UNSPEC


def test_ruleset_has_a_fixed_number_of_rules():
    text = ruleset(3)
    assert "table ip rtpengined_3" in text
    assert text.count("chain ") == 5  # counting (2), dnat (2), snat (1): none per call
    text6 = ruleset(3, 6)
    assert "table ip6 rtpengined_3" in text6 and "ipv4" not in text6 and " ip " not in text6
    assert text6.count("chain ") == 5


def test_waiting_candidates_are_looked_at_less_and_less_often():
    planner = KernelPlanner()
    a, b = call(confirmed=False)
    planner.touch(a)
    looked = []
    for tick in range(60):
        if a in planner.due():
            looked.append(tick)
        planner.tick()
    assert looked[:9] == [0, 1, 2, 3, 4, 5, 7, 11, 19]  # every tick for 5, then 2, 4, 8, 16
    assert looked[9] == 35
    a.confirmed = True
    planner.touch(a)  # signalling: looked at on the next tick again
    assert a in planner.due()


def _setelem_dump(elements: list[tuple[str, int, int, int]], nested_flag: int = 0,
                  extra: bytes = b"") -> bytes:
    """A NEWSETELEM message laid out as the kernel dumps ``rx_ports``, then NLMSG_DONE."""
    from rtpengined.media.nft import _attr, port_key

    items = b""
    for address, port, packets, nbytes in elements:
        counter = _attr(1, struct.pack("!Q", nbytes)) + _attr(2, struct.pack("!Q", packets))
        expr = _attr(1, b"counter\0") + _attr(2 | nested_flag, counter)
        items += _attr(1 | nested_flag, _attr(1 | nested_flag, _attr(1, port_key(address, port)))
                       + extra + _attr(7 | nested_flag, expr))
    body = _attr(1, b"rtpengined_0\0") + _attr(2, b"rx_ports\0") + _attr(3 | nested_flag, items)
    payload = struct.pack("=BBH", socket.AF_INET, 0, 0) + body
    message = struct.pack("=IHHII", 16 + len(payload), (10 << 8) | 12, 2, 1, 0) + payload
    return message + struct.pack("=IHHII", 20, 3, 2, 1, 0) + b"\0\0\0\0"


def test_counter_dump_is_parsed_in_either_attribute_layout():
    from rtpengined.media.nft import parse_setelems

    elements = [("203.0.113.1", 30000, 3, 3 * 28 + 480), ("203.0.113.1", 30002, 0, 0)]
    want = {("203.0.113.1", 30000): (3, 480), ("203.0.113.1", 30002): (0, 0)}
    for flag in (0, 0x8000):  # with NLA_F_NESTED the fixed-layout match still applies
        out: dict = {}
        assert parse_setelems(_setelem_dump(elements, flag), out) is True
        assert out == want
    # An unexpected layout (element flags between key and counter) takes the attribute walk.
    from rtpengined.media.nft import _attr

    out = {}
    parse_setelems(_setelem_dump(elements, extra=_attr(3, struct.pack("!I", 0))), out)
    assert out == want


def test_ipv6_counter_dump_is_parsed_in_either_attribute_layout():
    """The ip6 table's elements: 16-byte addresses, 48 bytes of IPv6+UDP header each."""
    from rtpengined.media.nft import _attr, parse_setelems

    elements = [("2001:db8:4321::1", 30000, 3, 3 * 48 + 480), ("2001:db8:4321::1", 30002, 0, 0)]
    want = {("2001:db8:4321::1", 30000): (3, 480), ("2001:db8:4321::1", 30002): (0, 0)}
    for flag in (0, 0x8000):
        out: dict = {}
        assert parse_setelems(_setelem_dump(elements, flag), out, 6) is True
        assert out == want
    out = {}
    parse_setelems(_setelem_dump(elements, extra=_attr(3, struct.pack("!I", 0))), out, 6)
    assert out == want


def test_rtcp_of_end_to_end_sdes_stays_in_userspace():
    """A leg whose SDES keys pass end to end: its SRTP may be forwarded as it comes, its
    SRTCP is decrypted by the relay (the reports, counted decrypted, as 10.5)."""
    keys = (("AES_CM_128_HMAC_SHA1_80", bytes(30), ()),) * 2
    assert why_userspace(call(srtcp=keys)[0]) is None
    assert why_userspace(call(srtcp=keys, rtcp=True)[0]) == "SRTCP"
    a, b = call(rtcp_mux=True)
    b.rtcp_mux, b.srtcp = True, keys
    assert why_userspace(a) == "SRTCP"
