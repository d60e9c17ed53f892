"""Faults: port range and file descriptors running out, SIGTERM with live calls.

(A relay worker killed during calls is covered by ``test_relay_daemon.py::
test_worker_killed_mid_call_media_resumes_through_the_daemon`` and ``test_relay.py::
test_worker_killed_mid_call_media_resumes``.)
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess

import pytest
import trio
from cli_helpers import cli
from hardening_helpers import (
    call_shape,
    child_pids,
    cpu_seconds,
    daemon_process,
    live_call,
    ng,
    ping,
    process_alive,
    sdp,
)
from relay_helpers import rtp_packet

from rtpengined.model import Endpoint

# Room for two calls, below the kernel's ephemeral range (32768-60999): every one of these
# ports must be free, and any process's outgoing socket may take a port inside that range.
TINY = {"port_min": 29100, "port_max": 29107, "delete_delay": 0}


async def offer(address, call_id: str) -> dict:
    return await ng(address, {"command": "offer", "call-id": call_id, "from-tag": "a",
                              "sdp": sdp(Endpoint("127.0.0.1", 4000))})


async def test_port_range_exhaustion_gives_clean_errors_and_recovers(make_daemon):
    daemon = await make_daemon(**TINY)
    address = daemon.address("udp-ng")
    pools = daemon.core.calls.port_pools
    calls = [await live_call(address, f"tiny-{i}") for i in range(2)]
    assert sum(p.used for p in pools) == 8
    for attempt in range(3):
        reply = await offer(address, f"tiny-extra-{attempt}")
        assert reply == {"result": "error", "error-reason": "Ran out of ports"}
    # a re-offer of an existing call keeps its ports and still works
    shape = call_shape(await ng(address, {"command": "query", "call-id": "tiny-0"}))
    await calls[0].relays(seq=1)
    assert await ping(address)
    await ng(address, {"command": "delete", "call-id": "tiny-0"})
    assert sum(p.used for p in pools) == 4
    # The ports are free as soon as delete answers (the relay worker may still be closing
    # its copy of the sockets: the pool takes the still-bound sockets over).
    reply = await offer(address, "tiny-after")
    assert reply["result"] == "ok", reply
    assert shape != call_shape(await ng(address, {"command": "query", "call-id": "tiny-1"}))
    await calls[1].relays(seq=5)
    for call_id in ("tiny-1", "tiny-after"):
        await ng(address, {"command": "delete", "call-id": call_id})
    assert sum(p.used for p in pools) == 0
    for call in calls:
        call.close()


async def test_ports_of_a_deleted_call_are_usable_as_soon_as_delete_answers(make_daemon):
    """The relay worker holds its own copy of every media socket and closes it a moment
    after the delete; the port pool must not depend on that moment. The range has room for
    exactly two calls, so every offer needs the ports the delete before it just freed;
    a relay worker held up (SIGSTOP) shows it does not wait for the worker at all."""
    daemon = await make_daemon(**TINY)
    address = daemon.address("udp-ng")
    calls = [await live_call(address, f"race-{i}") for i in range(2)]
    pools = daemon.core.calls.port_pools
    with trio.fail_after(10):
        while (worker := daemon.core.media.worker_pids()[0]) is None:  # still being spawned
            await trio.sleep(0.01)
    for attempt in range(40):
        stopped = attempt % 2 == 1
        if stopped:
            os.kill(worker, signal.SIGSTOP)
        try:
            await ng(address, {"command": "delete", "call-id": f"race-{attempt}"})
            reply = await offer(address, f"race-{attempt + 2}")
            assert reply["result"] == "ok", (attempt, reply)
            answer = await ng(address, {"command": "answer", "call-id": f"race-{attempt + 2}",
                                        "from-tag": "a", "to-tag": "b",
                                        "sdp": sdp(Endpoint("127.0.0.1", 4002))})
            assert answer["result"] == "ok", (attempt, answer)
        finally:
            if stopped:
                os.kill(worker, signal.SIGCONT)
    assert sum(p.used for p in pools) == 8
    # A call on the ports just freed relays media (the worker got the reused sockets again).
    os.kill(worker, signal.SIGSTOP)
    try:
        await ng(address, {"command": "delete", "call-id": "race-40"})
        calls.append(await live_call(address, "race-live"))
    finally:
        os.kill(worker, signal.SIGCONT)
    await calls[-1].relays(seq=1)
    for call_id in ("race-41", "race-live"):
        await ng(address, {"command": "delete", "call-id": call_id})
    assert sum(p.used for p in pools) == 0
    with trio.fail_after(5):  # once the worker acknowledged, no socket is kept any more
        while len(daemon.core.media.lingering):
            await trio.sleep(0.01)
    for call in calls:
        call.close()


async def test_fd_limit_clean_errors_accept_loops_survive_and_recover():
    """RLIMIT_NOFILE of 64 (soft and hard): offers fail with ``Ran out of ports``, TCP accept
    loops wait instead of dying or spinning, and everything works again once calls end."""
    proc = daemon_process("-m", "43200", "-M", "43299", "--relay-workers=1", "--delete-delay=0",
                          nofile=64)
    address = ("127.0.0.1", proc.ng_port)
    try:
        calls, refused = [], None
        for index in range(60):
            reply = await offer(address, f"fd-{index}")
            if reply["result"] != "ok":
                refused = reply
                break
            calls.append(f"fd-{index}")
        assert refused == {"result": "error", "error-reason": "Ran out of ports"}, refused
        assert calls, "not a single call fitted"
        # Fill the remaining descriptors with connections, then some more that must queue.
        streams = []
        with trio.move_on_after(5):
            for _ in range(80):
                streams.append(await trio.open_tcp_stream("127.0.0.1", proc.cli_port))
        assert await ping(address)
        before = cpu_seconds(proc.proc.pid)
        await trio.sleep(2)  # the accept loops meet EMFILE now: they must back off
        assert cpu_seconds(proc.proc.pid) - before < 1.5, "accept loop spinning on EMFILE"
        assert proc.proc.poll() is None and await ping(address)
        for stream in streams:
            await stream.aclose()
        for call_id in calls:
            reply = await ng(address, {"command": "delete", "call-id": call_id})
            assert reply["result"] == "ok", reply
        with trio.fail_after(10):
            assert (await cli(("127.0.0.1", proc.cli_port), "list numsessions")).startswith("Current")
        reply = await offer(address, "fd-after")
        assert reply["result"] == "ok", reply
    finally:
        code, err = proc.stop()
    assert code == 0 and "Traceback" not in err, err
    assert err.count("cannot accept connections") <= err.count("accepting connections again") + 3, err


async def test_sigterm_with_live_calls_stops_cleanly():
    proc = daemon_process("-m", "43300", "-M", "43399", "--relay-workers=2")
    address = ("127.0.0.1", proc.ng_port)
    calls = [await live_call(address, f"term-{i}") for i in range(5)]
    for call in calls:
        await call.relays(seq=1)
    workers = child_pids(proc.proc.pid)
    assert len(workers) >= 2
    proc.proc.send_signal(signal.SIGTERM)
    try:
        proc.proc.wait(timeout=5)  # a bound, well above the usual stop time
    except subprocess.TimeoutExpired:
        proc.proc.kill()
        raise AssertionError("daemon did not stop on SIGTERM") from None
    err = proc.stderr()
    assert proc.proc.returncode == 0, err
    assert "Traceback" not in err and "ERR:" not in err and "CRIT:" not in err, err
    assert "received SIGTERM" in err and "rtpengined stopped" in err
    with trio.fail_after(5):
        while any(process_alive(pid) for pid in workers):
            await trio.sleep(0.05)
    for call in calls:
        call.close()


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
async def test_query_counts_a_packet_as_soon_as_the_far_end_has_it(make_daemon):
    """The relay worker is held for 3 s right after each ``sendto`` returns (strace delays
    the syscall's exit): a query made as soon as the packet arrived must count it, so the
    worker has to publish its counters before it sends, not after."""
    daemon = await make_daemon(relay_workers=1)
    address = daemon.address("udp-ng")
    call = await live_call(address, "held-after-send")
    await call.relays(seq=1)  # learning settled, fast path from now on
    with trio.fail_after(10):
        while (worker := daemon.core.media.worker_pids()[0]) is None:
            await trio.sleep(0.01)

    async def rtp_totals() -> int:
        reply = await ng(address, {"command": "query", "call-id": "held-after-send"})
        return reply["totals"]["RTP"]["packets"]

    sendto_number = {"x86_64": "44", "aarch64": "206"}.get(platform.machine())

    def held_by_strace(pid: int) -> bool:
        """In a tracing stop, and (where we know the number) inside ``sendto``."""
        with open(f"/proc/{pid}/stat") as handle:
            if handle.read().rsplit(")", 1)[1].split()[0] != "t":
                return False
        if sendto_number is None:
            return True
        try:
            with open(f"/proc/{pid}/syscall") as handle:
                return handle.read().split()[0] == sendto_number
        except OSError:
            return True

    before = await rtp_totals()
    tracer = subprocess.Popen(
        ["strace", "-p", str(worker), "-e", "trace=sendto", "-e", "inject=sendto:delay_exit=3000000",
         "-o", "/dev/null"], stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        attached = await trio.to_thread.run_sync(tracer.stderr.readline)
        if b"attached" not in attached:
            pytest.skip(f"strace cannot attach here: {attached!r}")
        # strace says "attached" a moment before it intercepts: count on the first packet
        # that finds the worker held after its send.
        for sent in range(1, 20):
            call.bob.drain_now()
            await call.alice.send(rtp_packet(100 + sent), call.alice_target)
            with trio.fail_after(10):
                while (await call.bob.receive())[0] != rtp_packet(100 + sent):
                    pass
            if held_by_strace(worker):
                totals = await rtp_totals()
                await trio.sleep(0.1)
                if held_by_strace(worker):  # still: the delayed sendto, not a passing stop
                    assert totals == before + sent
                    break
            with trio.fail_after(10):  # not held yet: its counter comes a moment later
                while await rtp_totals() != before + sent:
                    await trio.sleep(0.01)
        else:
            pytest.skip("strace never held the relay worker")
    finally:
        tracer.terminate()
        tracer.wait()
    for call_id in ("held-after-send",):
        await ng(address, {"command": "delete", "call-id": call_id})
    call.close()
