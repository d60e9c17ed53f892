"""The call model without the network: ports, errors that leave state alone, limits, timers."""

from __future__ import annotations

import gc
import random
import socket

import pytest

from rtpengined.config import Config
from rtpengined.core import Core
from rtpengined.media import NullMediaPlane
from rtpengined.model import Interface
from rtpengined.ports import PortPool, bind_udp
from rtpengined.protocol import bencode
from rtpengined.protocol.ngcodec import NgError

IFACE = Interface("default", "127.0.0.1", "127.0.0.1")


def sdp_body(port: int = 2000, address: str = "192.0.2.10", extra: str = "") -> str:
    return (f"v=0\r\no=- 1 1 IN IP4 {address}\r\ns=call\r\nc=IN IP4 {address}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0 8\r\n{extra}")


class FakeSocket:
    def __init__(self, port: int) -> None:
        self.port = port
        self.closed = False

    def close(self) -> None:
        self.closed = True


class FakeBinder:
    """Binds nothing; refuses the ports in ``taken`` like a kernel would."""

    def __init__(self, taken: set[int] | None = None) -> None:
        self.taken = taken or set()
        self.bound: list[FakeSocket] = []

    def __call__(self, interface: Interface, port: int) -> FakeSocket:
        if port in self.taken:
            raise OSError(98, "Address already in use")
        sock = FakeSocket(port)
        self.bound.append(sock)
        return sock


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def make_core(binder=None, **config) -> tuple[Core, Clock]:
    clock = Clock()
    settings = {"port_min": 41000, "port_max": 41999, **config}
    core = Core(Config(**settings), media=NullMediaPlane(), clock=clock, binder=binder or bind_udp)
    return core, clock


_cookies = iter(range(10**9))


def ng(core: Core, **message) -> dict:
    raw = f"t{next(_cookies)} ".encode() + bencode.encode(message)
    reply = core.handle_ng(raw, ("127.0.0.1", 5060))
    return bencode.decode(reply[reply.find(b" ") + 1:])


# -- ports ---------------------------------------------------------------------------------


def test_pairs_are_even_and_consecutive():
    pool = PortPool(IFACE, 41000, 41019, FakeBinder(), random.Random(1))
    seen = set()
    for _ in range(10):
        (rtp, _), (rtcp, _) = pool.allocate(2)
        assert rtp % 2 == 0 and rtcp == rtp + 1
        seen.add(rtp)
    assert len(seen) == 10 and pool.used == 20 and pool.total == 20
    with pytest.raises(NgError) as info:
        pool.allocate(2)
    assert info.value.reason == "Ran out of ports"


def test_bind_failure_tries_another_port_and_single_port_may_be_odd():
    binder = FakeBinder(taken={41001, 41003})
    pool = PortPool(IFACE, 41000, 41003, binder, random.Random(3))
    with pytest.raises(NgError):  # both pairs have a refused port
        pool.allocate(2)
    assert pool.used == 0 and all(s.closed for s in binder.bound)
    pool2 = PortPool(IFACE, 41000, 41003, FakeBinder(taken={41000, 41002}))
    ports = [p for p, _ in pool2.allocate(1)] + [p for p, _ in pool2.allocate(1)]
    assert sorted(ports) == [41001, 41003]
    with pytest.raises(NgError):
        pool2.allocate(1)


def test_pair_skips_half_taken_pairs_and_releases():
    binder = FakeBinder(taken={41001})
    pool = PortPool(IFACE, 41000, 41003, binder)
    (rtp, _), _ = pool.allocate(2)
    assert rtp == 41002
    assert all(s.closed for s in binder.bound if s.port == 41000)
    pool.release(41002)
    pool.release(41003)
    assert pool.used == 0 and pool.last == 41004  # one past the run, as rtpengine counts


def test_runs_walk_up_from_port_min_in_small_random_steps_as_rtpengine():
    """Each run starts 6..19 ports above the end of the previous one (a pair on the even
    port at or above that): consecutive calls get increasing, nearby ports, and a port
    given back is not handed out again before the range wraps round."""
    pool = PortPool(IFACE, 41000, 41999, FakeBinder(), random.Random(5))
    (first, _), _ = pool.allocate(2)
    assert first == 41000 and pool.last == 41002
    previous_end = 41002
    starts = [first]
    for _ in range(30):
        (rtp, _), _ = pool.allocate(2)
        assert previous_end + 6 <= rtp <= previous_end + 20 and rtp % 2 == 0
        pool.release(rtp)
        pool.release(rtp + 1)
        previous_end = rtp + 2
        starts.append(rtp)
    assert len(set(starts)) == len(starts)
    (single, _), = pool.allocate(1)  # a single port need not be even
    assert previous_end + 6 <= single <= previous_end + 19


def test_a_step_landing_on_a_taken_port_starts_at_the_oldest_released_one():
    pool = PortPool(IFACE, 41000, 41099, FakeBinder(), random.Random(7))
    held = [pool.allocate(2)[0][0] for _ in range(4)]
    pool.release(held[1])
    pool.release(held[1] + 1)
    pool.release(held[2])
    pool.release(held[2] + 1)
    pool.last = 41060  # the next step lands on a taken port, whatever it is
    for port in range(41066, 41080):
        pool.in_use.add(port)
    (rtp, _), _ = pool.allocate(2)
    assert rtp == held[1]


def test_a_full_range_is_refused_without_a_walk_and_wraps_at_most_once():
    binder = FakeBinder()
    pool = PortPool(IFACE, 41000, 41009, binder, random.Random(2))
    for _ in range(5):
        pool.allocate(2)
    bound = len(binder.bound)
    with pytest.raises(NgError):
        pool.allocate(1)
    assert len(binder.bound) == bound
    pool.release(41000)
    pool.release(41001)
    (rtp, _), _ = pool.allocate(2)  # past the end: wraps round to the free pair
    assert rtp == 41000


def test_real_sockets_are_bound_non_blocking():
    sock = bind_udp(IFACE, 0)  # (the C socket type: no context manager)
    try:
        assert sock.getblocking() is False
        assert sock.type == socket.SOCK_DGRAM
    finally:
        sock.close()


# -- offer/answer errors leave state alone -----------------------------------------------


def test_full_port_range_gives_error_and_no_call():
    core, _ = make_core(FakeBinder(), port_max=41002)
    assert ng(core, command="offer", **{"call-id": "c1", "from-tag": "a"},
              sdp=sdp_body()) == {"result": "error", "error-reason": "Ran out of ports"}
    assert core.calls.calls == {}
    assert all(pool.used == 0 for pool in core.calls.port_pools)


def test_reoffer_without_c_and_m_is_an_error_and_call_unchanged():
    """rtpengine 10.5 crashes on this input (spec §7); we answer with an error."""
    core, _ = make_core()
    first = ng(core, command="offer", **{"call-id": "c1", "from-tag": "a"}, sdp=sdp_body())
    before = ng(core, command="query", **{"call-id": "c1"})
    reply = ng(core, command="offer", **{"call-id": "c1", "from-tag": "a"},
               sdp="v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n")
    assert reply == {"result": "error", "error-reason": "Error rewriting SDP"}
    assert ng(core, command="query", **{"call-id": "c1"}) == before
    again = ng(core, command="offer", **{"call-id": "c1", "from-tag": "a"}, sdp=sdp_body())
    assert again["sdp"] == first["sdp"]
    core.shutdown()


@pytest.mark.parametrize("body,reason", [
    ("garbage", "Failed to parse SDP"),
    ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 2000 RTP/AVP 0\r\n",
     "Incomplete SDP specification"),
])
def test_bad_sdp_on_existing_call_keeps_it(body, reason):
    core, _ = make_core()
    ng(core, command="offer", **{"call-id": "c1", "from-tag": "a"}, sdp=sdp_body())
    before = ng(core, command="query", **{"call-id": "c1"})
    assert ng(core, command="answer", **{"call-id": "c1", "from-tag": "a", "to-tag": "b"},
              sdp=body) == {"result": "error", "error-reason": reason}
    assert ng(core, command="query", **{"call-id": "c1"}) == before
    core.shutdown()


def test_bad_types_are_treated_as_absent():
    core, _ = make_core()
    assert ng(core, command="offer", **{"call-id": 5, "from-tag": "a"}, sdp=sdp_body()) == {
        "result": "error", "error-reason": "No call-id in message"}
    reply = ng(core, command="offer", **{"call-id": "c", "from-tag": "a"}, sdp=sdp_body(),
               flags="x", replace=3, ICE=["force"], codec="strip")
    assert reply["result"] == "ok" and "ice" not in reply["sdp"]
    core.shutdown()


# -- session limit -----------------------------------------------------------------------


def test_max_sessions_rejects_new_calls_only():
    core, _ = make_core(max_sessions=1)
    assert ng(core, command="offer", **{"call-id": "c1", "from-tag": "a"},
              sdp=sdp_body())["result"] == "ok"
    assert ng(core, command="offer", **{"call-id": "c2", "from-tag": "a"}, sdp=sdp_body()) == {
        "result": "error", "error-reason": "Parallel session limit reached"}
    assert ng(core, command="offer", **{"call-id": "c2", "from-tag": "a"}, sdp=sdp_body(),
              supports=["load limit"]) == {
        "result": "load limit", "message": "Parallel session limit reached"}
    assert ng(core, command="offer", **{"call-id": "c1", "from-tag": "a"},
              sdp=sdp_body())["result"] == "ok"
    assert core.stats.rejected_sessions == 2
    core.config.max_sessions = -1  # the CLI changes it live
    assert ng(core, command="offer", **{"call-id": "c2", "from-tag": "a"},
              sdp=sdp_body())["result"] == "ok"
    core.shutdown()


# -- model fields other views read --------------------------------------------------------


def test_an_ended_call_is_freed_without_the_cyclic_collector():
    """Ending a call breaks its reference cycles (stream/sink, RTP/RTCP, party/party), so
    it is freed at once: ended calls left to the cyclic collector made its collections
    frequent and long (pauses of every request in flight)."""
    core, _ = make_core(binder=FakeBinder(), delete_delay=0)
    gc.collect()
    gc.disable()
    try:
        for n in range(20):
            ids = {"call-id": f"g{n}", "from-tag": "a"}
            assert ng(core, command="offer", **ids, sdp=sdp_body())["result"] == "ok"
            assert ng(core, command="answer", **ids, **{"to-tag": "b"},
                      sdp=sdp_body(3000, "192.0.2.20"))["result"] == "ok"
            assert ng(core, command="delete", **ids)["result"] == "ok"
        assert not core.calls.calls
        assert gc.collect() == 0  # nothing unreachable was waiting for the collector
    finally:
        gc.enable()


def test_model_fields_filled_for_cli_and_relay():
    core, clock = make_core()
    ng(core, command="offer", **{"call-id": "c1", "from-tag": "a", "via-branch": "z9"},
       sdp=sdp_body(), label="caller")
    clock.now += 5
    ng(core, command="answer", **{"call-id": "c1", "from-tag": "a", "to-tag": "b"},
       sdp=sdp_body(3000, "192.0.2.20"))
    call = core.calls.calls["c1"]
    assert call.proxy == "127.0.0.1:5060"
    assert call.created == 1_800_000_000.0 and call.last_signal == call.created + 5
    a, b = call.monologues
    assert (a.tag, a.tag_type, a.label) == ("a", "FROM_TAG", "caller")
    assert (b.tag, b.tag_type, b.via_branch) == ("b", "TO_TAG", "z9")
    assert a.subscriptions == (b,) and a.subscribers == (b,)
    ma, mb = a.medias[0], b.medias[0]
    assert (ma.index, ma.type, ma.protocol) == (1, "audio", "RTP/AVP")
    assert ma.rtp.sink is mb.rtp and mb.rtp.sink is ma.rtp
    assert ma.rtcp.sink is mb.rtcp and mb.rtcp.sink is ma.rtcp
    assert ma.rtp.rtcp_peer is ma.rtcp and ma.rtcp.port == ma.rtp.port + 1
    assert ma.rtp.advertised.as_dict() == {"family": "IPv4", "address": "192.0.2.10",
                                           "port": 2000}
    assert mb.rtcp.advertised.port == 3001
    assert all(s.group == "c1" and s.sock is not None for s in call.streams())
    assert set(core.media.open) == {s.id for s in call.streams()}
    core.shutdown()
    assert core.media.open == {}


def test_early_media_sinks_after_offer():
    core, _ = make_core()
    ng(core, command="offer", **{"call-id": "c1", "from-tag": "a"}, sdp=sdp_body())
    a, untagged = core.calls.calls["c1"].monologues
    assert untagged.tag == "" and untagged.medias[0].rtp.advertised is None
    assert a.medias[0].rtp.sink is untagged.medias[0].rtp
    assert untagged.medias[0].rtp.sink is a.medias[0].rtp
    core.shutdown()


def test_rtcp_mux_require_uses_one_port():
    core, _ = make_core()
    reply = ng(core, command="offer", **{"call-id": "c1", "from-tag": "a"}, sdp=sdp_body(),
               **{"rtcp-mux": ["require"]})
    port = int(reply["sdp"].split("m=audio ")[1].split()[0])
    assert f"a=rtcp:{port}\r\na=rtcp-mux\r\n" in reply["sdp"]
    untagged = core.calls.calls["c1"].monologues[1]
    assert [s.port for s in untagged.medias[0].streams] == [port]
    assert untagged.medias[0].rtp.rtcp_mux
    core.shutdown()


# -- teardown and timers -----------------------------------------------------------------


def _answered_call(core: Core, call_id: str = "c1") -> None:
    ng(core, command="offer", **{"call-id": call_id, "from-tag": "a"}, sdp=sdp_body())
    ng(core, command="answer", **{"call-id": call_id, "from-tag": "a", "to-tag": "b"},
       sdp=sdp_body(3000, "192.0.2.20"))


def test_destroy_counts_totals_and_frees_ports():
    core, clock = make_core()
    _answered_call(core)
    call = core.calls.calls["c1"]
    rtp = call.monologues[0].medias[0].rtp
    rtp.stats.packets, rtp.stats.bytes, rtp.stats.errors = 5, 860, 1
    clock.now += 10
    core.calls.destroy(call, "forced")
    stats = core.stats
    assert (stats.closed_packets, stats.closed_bytes, stats.closed_errors) == (5, 860, 1)
    assert stats.forced_terminated_sessions == 1 and stats.managed_sessions == 1
    assert stats.oneway_streams == 1 and stats.zeroway_streams == 0
    assert stats.total_calls_duration_us == 10_000_000
    assert core.calls.calls == {}
    assert all(pool.used == 0 for pool in core.calls.port_pools)


def test_delete_delay_then_tick_removes_call():
    core, clock = make_core()
    _answered_call(core)
    reply = ng(core, command="delete", **{"call-id": "c1", "from-tag": "a"})
    assert reply["result"] == "ok" and list(reply["tags"]) == ["a", "b"]
    call = core.calls.calls["c1"]
    assert call.deletion_mark
    clock.now += 29
    core.tick()
    assert "c1" in core.calls.calls
    assert ng(core, command="list")["calls"] == ["c1"]
    clock.now += 1
    core.tick()
    assert core.calls.calls == {} and core.stats.regular_terminated_sessions == 1


def test_delete_delay_setting_is_read_live():
    core, clock = make_core()
    _answered_call(core)
    core.config.delete_delay = 0
    assert ng(core, command="delete", **{"call-id": "c1"}) == {"result": "ok"}
    assert core.calls.calls == {}


@pytest.mark.parametrize("setting,reason,counter", [
    ("timeout", "timeout", "timeout_sessions"),
    ("final_timeout", "final", "final_timeout_sessions"),
])
def test_media_and_final_timeouts(setting, reason, counter):
    core, clock = make_core()
    core.config.timeout = 0
    core.config.final_timeout = 0
    setattr(core.config, setting, 60)
    _answered_call(core)
    clock.now += 59
    core.tick()
    assert "c1" in core.calls.calls
    clock.now += 1
    core.tick()
    assert core.calls.calls == {} and getattr(core.stats, counter) == 1


def test_media_timeout_counts_from_last_packet():
    core, clock = make_core(timeout=60)
    _answered_call(core)
    clock.now += 50
    core.calls.calls["c1"].monologues[0].medias[0].rtp.stats.last_packet = clock.now
    clock.now += 59
    core.tick()
    assert "c1" in core.calls.calls
    clock.now += 1
    core.tick()
    assert core.stats.timeout_sessions == 1


def test_silent_timeout_for_held_calls():
    core, clock = make_core(timeout=60, silent_timeout=600)
    ng(core, command="offer", **{"call-id": "c1", "from-tag": "a"},
       sdp=sdp_body(extra="a=sendonly\r\n"))
    ng(core, command="answer", **{"call-id": "c1", "from-tag": "a", "to-tag": "b"},
       sdp=sdp_body(3000, "192.0.2.20", extra="a=recvonly\r\n"))
    clock.now += 120
    core.tick()
    assert "c1" in core.calls.calls
    clock.now += 480
    core.tick()
    # 10.5: each stream has its own limit (the recvonly party's is the silent timeout);
    # the call ends when all have passed and counts under the caller's kind (timeout).
    assert "c1" not in core.calls.calls
    assert (core.stats.timeout_sessions, core.stats.silent_timeout_sessions) == (1, 0)


def test_silent_timeout_when_nobody_sends():
    core, clock = make_core(timeout=600, silent_timeout=60)
    ng(core, command="offer", **{"call-id": "c1", "from-tag": "a"},
       sdp=sdp_body(extra="a=inactive\r\n"))
    ng(core, command="answer", **{"call-id": "c1", "from-tag": "a", "to-tag": "b"},
       sdp=sdp_body(3000, "192.0.2.20", extra="a=inactive\r\n"))
    clock.now += 59
    core.tick()
    assert "c1" in core.calls.calls
    clock.now += 1
    core.tick()
    assert core.stats.silent_timeout_sessions == 1 and core.calls.calls == {}


def test_offer_timeout_for_unanswered_calls():
    core, clock = make_core(timeout=60, offer_timeout=100)
    ng(core, command="offer", **{"call-id": "c1", "from-tag": "a"}, sdp=sdp_body())
    clock.now += 99
    core.tick()
    assert "c1" in core.calls.calls
    clock.now += 1
    core.tick()
    # The callee's streams waited for the offer timeout, the caller's (last) for the
    # media timeout: 10.5 counts the call as a media timeout.
    assert core.stats.timeout_sessions == 1 and core.calls.calls == {}


def test_port_pools_view_for_interfaces_listing():
    core, _ = make_core()
    _answered_call(core)
    (pool,) = core.calls.port_pools
    assert (pool.interface.name, pool.port_min, pool.port_max, pool.total) == (
        "default", 41000, 41999, 1000)
    assert pool.used == 4 and 41000 <= pool.last <= 41999
    core.shutdown()
    assert pool.used == 0


def test_ipv6_interface_and_address_family():
    core = Core(Config(port_min=41000, port_max=41999, interfaces=[
        Interface("default", "127.0.0.1", "127.0.0.1"), Interface("default", "::1", "::1")]),
        media=NullMediaPlane())
    reply = ng(core, command="offer", **{"call-id": "c6", "from-tag": "a"}, sdp=sdp_body(),
               **{"address family": "IP6"})
    assert "c=IN IP6 ::1\r\n" in reply["sdp"]
    reply = ng(core, command="offer", **{"call-id": "c4", "from-tag": "a"}, sdp=sdp_body())
    assert "c=IN IP4 127.0.0.1\r\n" in reply["sdp"]
    core.shutdown()


def test_advertised_address_and_named_interfaces():
    core = Core(Config(port_min=41000, port_max=41999, interfaces=[
        Interface("int", "127.0.0.1", "127.0.0.1"),
        Interface("pub", "127.0.0.1", "203.0.113.9")]), media=NullMediaPlane())
    reply = ng(core, command="offer", **{"call-id": "c", "from-tag": "a"}, sdp=sdp_body(),
               direction=["int", "pub"])
    assert "c=IN IP4 203.0.113.9\r\n" in reply["sdp"]
    reply = ng(core, command="answer", **{"call-id": "c", "from-tag": "a", "to-tag": "b"},
               sdp=sdp_body(3000, "192.0.2.20"), direction=["pub", "int"])
    assert "c=IN IP4 127.0.0.1\r\n" in reply["sdp"]
    core.shutdown()


def test_deleted_fork_branch_keeps_ports_until_delete_delay():
    """10.5 keeps a deleted branch's ports for --delete-delay; the call itself goes on."""
    core, clock = make_core()
    for branch in ("z1", "z2"):
        ng(core, command="offer", sdp=sdp_body(),
           **{"call-id": "c1", "from-tag": "a", "via-branch": branch})
    for tag, branch, port in (("b", "z1", 3000), ("c", "z2", 4000)):
        ng(core, command="answer", sdp=sdp_body(port, "192.0.2.30"),
           **{"call-id": "c1", "from-tag": "a", "to-tag": tag, "via-branch": branch})
    pool = core.calls.port_pools[0]
    used = pool.used
    reply = ng(core, command="delete", **{"call-id": "c1", "from-tag": "c", "delete-delay": 10})
    assert reply["result"] == "ok"
    assert pool.used == used
    clock.now += 10
    core.tick()
    assert pool.used == used - 2 and "c1" in core.calls.calls
    streams = [s for m in core.calls.calls["c1"].monologues if m.tag == "c" for md in m.medias
               for s in md.streams]
    assert streams and all(s.closed for s in streams)
    core.shutdown()


def test_moved_party_keeps_old_ports_until_the_call_ends():
    """A re-INVITE to a new address gets fresh ports; 10.5 keeps the old ones bound."""
    binder = FakeBinder()
    core, _ = make_core(binder)
    _answered_call(core)
    pool = core.calls.port_pools[0]
    before = pool.used
    ng(core, command="offer", **{"call-id": "c1", "from-tag": "a"},
       sdp=sdp_body(2100, "192.0.2.11"))
    assert pool.used == before + 2
    old = [s for s in binder.bound if not s.closed]
    assert len(old) == before + 2
    ng(core, command="delete", **{"call-id": "c1", "delete-delay": 0})
    assert pool.used == 0 and all(s.closed for s in binder.bound)


def test_a_new_call_whose_offer_fails_part_way_leaks_no_socket_or_port(monkeypatch):
    """An internal error after the ports were bound (a bug, found by fuzzing once) is
    answered as one, and the half-built call gives its ports and sockets back: repeated,
    such requests used to exhaust the file descriptors."""
    from rtpengined.offer_answer import output

    binder = FakeBinder()
    core, _ = make_core(binder=binder, delete_delay=0)

    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug in the SDP output")

    monkeypatch.setattr(output.SdpOutput, "_render", broken)
    reply = ng(core, command="offer", **{"call-id": "bug", "from-tag": "a"}, sdp=sdp_body())
    assert reply["result"] == "error"
    assert reply["error-reason"] == "Internal error while processing the request"
    assert binder.bound and all(sock.closed for sock in binder.bound)
    assert not core.calls.calls
    assert all(pool.used == 0 for pool in core.calls.port_pools)


def _tos_of(sock) -> int:
    if sock.family == socket.AF_INET6:
        return sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS)
    return sock.getsockopt(socket.IPPROTO_IP, socket.IP_TOS)


def test_every_socket_of_a_call_carries_its_tos():
    """``--tos`` and an offer's ``TOS`` reach the sockets bound on the interface's other
    addresses for ICE too, and a re-offer's change reaches every socket (10.5 sets the TOS
    of every socket of the call)."""
    core = Core(Config(port_min=41000, port_max=41999, tos=184, interfaces=[
        Interface("default", "127.0.0.1", "127.0.0.1"), Interface("default", "::1", "::1")]),
        media=NullMediaPlane())
    ids = {"call-id": "tos", "from-tag": "a"}
    ng(core, command="offer", **ids, sdp=sdp_body(), ICE="force")
    streams = core.calls.calls["tos"].streams()
    sockets = [s.sock for s in streams if not s.closed] + [
        sock for s in streams for _, _, sock in s.alternates]
    assert len(sockets) > 4 and {_tos_of(sock) for sock in sockets} == {184}
    ng(core, command="offer", **ids, sdp=sdp_body(), ICE="force", TOS=104)
    assert {_tos_of(sock) for sock in sockets} == {104}
    core.shutdown()


def test_published_and_subscribed_sockets_carry_the_tos():
    """Publish/subscribe binds its ports through the same allocation: ``--tos`` on them too."""
    core = Core(Config(port_min=41000, port_max=41999, tos=184), media=NullMediaPlane())
    ng(core, command="publish", sdp=sdp_body(), **{"call-id": "pub", "from-tag": "p"})
    ng(core, command="subscribe request", **{"call-id": "pub", "from-tag": "p", "to-tag": "s"})
    sockets = [s.sock for s in core.calls.calls["pub"].streams() if not s.closed]
    assert len(sockets) == 4 and {_tos_of(sock) for sock in sockets} == {184}
    core.shutdown()


def test_a_party_back_at_an_earlier_address_gets_the_ports_it_had_there():
    """Endpoint maps (10.5): a move binds new ports, the way back takes the first ones again
    and binds nothing; the set not in use stays bound while the call lasts, and every
    socket closes and every port is free once it ends (nothing left to the collector)."""
    binder = FakeBinder()
    core, _ = make_core(binder=binder, delete_delay=0)
    ids = {"call-id": "maps", "from-tag": "a"}

    def offered_port(port: int) -> int:
        reply = ng(core, command="offer", **ids, sdp=sdp_body(port))
        return int(reply["sdp"].split("m=audio ")[1].split()[0])

    gc.collect()
    gc.disable()
    try:
        first = offered_port(2000)
        ng(core, command="answer", **ids, **{"to-tag": "b"}, sdp=sdp_body(3000, "192.0.2.20"))
        moved = offered_port(2002)
        bound = len(binder.bound)
        assert offered_port(2000) == first != moved
        assert offered_port(2002) == moved
        assert len(binder.bound) == bound
        assert not any(sock.closed for sock in binder.bound)
        assert ng(core, command="delete", **ids)["result"] == "ok"
        assert all(sock.closed for sock in binder.bound)
        assert all(pool.used == 0 for pool in core.calls.port_pools)
        assert gc.collect() == 0
    finally:
        gc.enable()
