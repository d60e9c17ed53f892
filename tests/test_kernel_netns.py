"""Kernel forwarding (``--table=0``) end to end, inside a private network namespace.

The daemon runs inside the namespace the test creates, so its nftables table and the
conntrack entries its NAT makes are private to it: nothing is installed in the host's
namespace. Parties send from 198.51.100.x to the daemon on 203.0.113.1; once both legs
are learned (3 s learning window) the daemon moves the call into the kernel, and we
check that packets flow both ways from the advertised ports without the relay, that the
counters keep moving, that a call leaves the kernel on a re-offer and comes back, that
media timeouts still fire, and that no element (or table) outlives a call or a crash.
"""

from __future__ import annotations

import json
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
from differential import answer, delete, offer, query, sdp
from netns_helpers import NetNamespace, NsNgProcess, media_target, namespaces_available, rtp_packet


def _kernel_unavailable() -> str | None:
    if shutil.which("nft") is None:
        return "nftables (nft, libnftables1) is not installed"
    return namespaces_available()


pytestmark = pytest.mark.skipif(_kernel_unavailable() is not None,
                                reason=_kernel_unavailable() or "")

NG, CLI, HTTP, PORTS = 2523, 12645, 12646, (32000, 32999)
TABLE = "rtpengined_0"


def start(namespace: NetNamespace, *extra: str) -> NsNgProcess:
    argv = [sys.executable, "-m", "rtpengined", "run", "--config-file=none", "--table=0",
            "-i", "203.0.113.1", "-n", str(NG), "-c", str(CLI), "-f", "-E",
            "-m", str(PORTS[0]), "-M", str(PORTS[1]), "--delete-delay=0", "--relay-workers=1",
            f"--listen-http=127.0.0.1:{HTTP}", *extra]
    daemon = NsNgProcess(namespace, argv, NG, PORTS, CLI)
    try:
        daemon.wait_ready()
    except BaseException:
        daemon.stop()
        raise
    return daemon


def nft_elements(namespace: NetNamespace, name: str = "rx_ports", family: str = "ip") -> list | None:
    """The elements of one of our sets inside the namespace (of the ``ip`` or ``ip6``
    table); None when there is no table."""
    kind = "set" if name == "rx_ports" else "map"
    result = subprocess.run(namespace.argv("nft", "-j", "list", kind, family, TABLE, name),
                            capture_output=True, text=True, timeout=10)
    if result.returncode != 0:
        return None
    for item in json.loads(result.stdout)["nftables"]:
        if "set" in item:
            return item["set"].get("elem", [])
        if "map" in item:
            return item["map"].get("elem", [])
    return []


def metrics(namespace: NetNamespace) -> str:
    """``GET /metrics`` from the daemon inside the namespace."""
    with namespace.entered():
        sock = socket.create_connection(("127.0.0.1", HTTP), timeout=3)
    with sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def wait_for(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


@pytest.fixture
def namespace():
    ns = NetNamespace()
    try:
        # Kernel forwarding needs it (DNAT to another host goes down the forward path).
        subprocess.run(ns.argv("sysctl", "-qw", "net.ipv4.ip_forward=1"), check=True, timeout=10)
        yield ns
    finally:
        ns.delete()


@pytest.fixture
def daemon(namespace):
    process = start(namespace)
    try:
        yield process
    finally:
        if process.proc.poll() is None:
            process.proc.terminate()
        process.stop()


class Call:
    """Two parties with RTP and RTCP sockets, the daemon's ports for each."""

    def __init__(self, namespace: NetNamespace, daemon: NsNgProcess, call_id: str,
                 addresses: tuple[str, str] = ("198.51.100.1", "198.51.100.2"), **flags) -> None:
        self.daemon = daemon
        self.call_id = call_id
        ns = namespace
        first, second = addresses
        self.a = ns.udp_socket(first)
        self.a_rtcp = ns.udp_socket(first)
        self.b = ns.udp_socket(second)
        self.b_rtcp = ns.udp_socket(second)
        for sock in (self.a, self.a_rtcp, self.b, self.b_rtcp):
            sock.settimeout(1.0)
        a_port, b_port = self.a.getsockname()[1], self.b.getsockname()[1]
        ip = "IP6" if ":" in first else "IP4"
        body_a = sdp("v=0", f"o=- 1 1 IN {ip} {first}", "s=-", f"c=IN {ip} {first}", "t=0 0",
                     f"m=audio {a_port} RTP/AVP 0", f"a=rtcp:{self.a_rtcp.getsockname()[1]}")
        body_b = sdp("v=0", f"o=- 2 1 IN {ip} {second}", "s=-", f"c=IN {ip} {second}", "t=0 0",
                     f"m=audio {b_port} RTP/AVP 0", f"a=rtcp:{self.b_rtcp.getsockname()[1]}")
        self.offer = offer(body_a, ICE="remove", **{"call-id": call_id}, **flags)
        self.answer = answer(body_b, ICE="remove", **{"call-id": call_id})
        self.signal()

    def signal(self) -> None:
        to_b = self.daemon.request(self.offer)
        to_a = self.daemon.request(self.answer)
        assert to_b["result"] == "ok" and to_a["result"] == "ok", (to_b, to_a)
        self.to_a = media_target(to_a)  # where A sends (the daemon's port for A)
        self.to_a_rtcp = media_target(to_a, rtcp=True)
        self.to_b = media_target(to_b)
        self.to_b_rtcp = media_target(to_b, rtcp=True)

    def exchange(self, seq: int, rtcp: bool = True) -> None:
        """One RTP packet (and one RTCP) each way; each must arrive from the right port."""
        pairs = [(self.a, self.to_a, self.b, self.to_b), (self.b, self.to_b, self.a, self.to_a)]
        if rtcp:
            pairs += [(self.a_rtcp, self.to_a_rtcp, self.b_rtcp, self.to_b_rtcp),
                      (self.b_rtcp, self.to_b_rtcp, self.a_rtcp, self.to_a_rtcp)]
        for sender, target, receiver, source in pairs:
            packet = rtp_packet(0, seq, seq * 160, 0x1234) if sender in (self.a, self.b) else \
                bytes([0x81, 200, 0, 6]) + (0x1234).to_bytes(4, "big") + bytes(20)
            sender.sendto(packet, target)
            data, origin = receiver.recvfrom(2048)
            assert data == packet
            assert origin[:2] == source, (origin, source)  # (IPv6 adds flow info and scope)

    def query(self) -> dict:
        return self.daemon.request(query(**{"call-id": self.call_id}))

    def packets(self) -> int:
        total = 0
        for tag in self.query()["tags"].values():
            for medium in tag["medias"]:
                for stream in medium["streams"]:
                    total += stream["stats"]["packets"]
        return total


def bring_into_kernel(namespace: NetNamespace, call: Call, start_seq: int = 1,
                      family: str = "ip") -> int:
    """Exchange packets until the daemon has moved the call's four ports into the kernel."""
    seq = start_seq
    deadline = time.monotonic() + 20
    while len(nft_elements(namespace, family=family) or []) < 4:
        assert time.monotonic() < deadline, "the call never moved into the kernel"
        call.exchange(seq)
        seq += 1
        time.sleep(0.2)
    return seq


def test_kernel_forwarding_lifecycle(namespace, daemon):
    call = Call(namespace, daemon, "kernel-1")
    seq = bring_into_kernel(namespace, call)
    assert len(nft_elements(namespace, "dnat_to")) == 4  # RTP and RTCP, both directions
    before = call.packets()
    # Forwarded by the kernel now: the relay worker sees nothing, the counters still move.
    for n in range(20):
        call.exchange(seq + n)
    seq += 20
    counted = {tuple(e["elem"]["val"]["concat"]): e["elem"]["counter"]["packets"]
               for e in nft_elements(namespace)}
    assert sum(counted.values()) >= 80
    # Exactly once each: a packet the relay also saw would be counted twice (set + worker).
    wait_for(lambda: call.packets() == before + 80)
    flags = [s["flags"] for tag in call.query()["tags"].values() for m in tag["medias"]
             for s in m["streams"]]
    assert all("kernelized" in f and "no kernel support" not in f for f in flags), flags
    totals = daemon.cli("list totals")
    assert " Kernel-only media streams                       :2\n" in totals, totals
    assert " Userspace-only media streams                    :0\n" in totals, totals
    text = metrics(namespace)
    assert 'rtpengine_mediastreams{type="kernel"} 2\n' in text, text
    assert 'rtpengine_mediastreams{type="userspace"} 0\n' in text, text

    # A re-offer moves the call back to userspace at once; it returns once settled again.
    call.signal()
    assert len(nft_elements(namespace)) == 0
    call.exchange(seq)  # relayed in userspace meanwhile
    seq = bring_into_kernel(namespace, call, seq + 1)

    # Delete: no element, no NAT binding survives the call.
    assert daemon.request(delete(**{"call-id": "kernel-1"}))["result"] == "ok"
    assert nft_elements(namespace) == []
    assert nft_elements(namespace, "dnat_to") == []
    call.a.sendto(rtp_packet(0, seq, 0, 0x1234), call.to_a)
    with pytest.raises(TimeoutError):
        call.b.recvfrom(2048)


def test_ipv6_calls_are_forwarded_in_the_kernel(namespace):
    """With IPv6 forwarding on, an IPv6 call moves into the ``ip6`` table as an IPv4 call
    moves into the ``ip`` one: both ways, RTP and RTCP, from the advertised ports, counted
    once, and nothing left after delete."""
    subprocess.run(namespace.argv("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"),
                   check=True, timeout=10)
    daemon = start(namespace, "-i", "2001:db8:4321::1")
    try:
        call = Call(namespace, daemon, "kernel-v6", addresses=("2001:db8::1", "2001:db8::2"))
        assert call.to_a[0] == "2001:db8:4321::1"
        seq = bring_into_kernel(namespace, call, family="ip6")
        assert len(nft_elements(namespace, "dnat_to", "ip6")) == 4
        assert nft_elements(namespace) == []  # nothing in the IPv4 table
        before = call.packets()
        for n in range(20):
            call.exchange(seq + n)
        seq += 20
        counted = [e["elem"]["counter"]["packets"] for e in nft_elements(namespace, family="ip6")]
        assert sum(counted) >= 80
        wait_for(lambda: call.packets() == before + 80)
        totals = daemon.cli("list totals")
        assert " Kernel-only media streams                       :2\n" in totals, totals

        assert daemon.request(delete(**{"call-id": "kernel-v6"}))["result"] == "ok"
        assert nft_elements(namespace, family="ip6") == []
        assert nft_elements(namespace, "dnat_to", "ip6") == []
        call.a.sendto(rtp_packet(0, seq, 0, 0x1234), call.to_a)
        with pytest.raises(TimeoutError):
            call.b.recvfrom(2048)
    finally:
        daemon.proc.terminate()
        daemon.stop()
    assert nft_elements(namespace, family="ip6") is None  # the table goes with the daemon


def test_ipv6_stays_in_userspace_without_ipv6_forwarding(namespace):
    """IPv6 forwarding off (the default): IPv6 calls are relayed in userspace, IPv4 calls
    still go to the kernel, and the log says why once."""
    daemon = start(namespace, "-i", "2001:db8:4321::1")
    try:
        v6 = Call(namespace, daemon, "kernel-v6-off", addresses=("2001:db8::1", "2001:db8::2"))
        v4 = Call(namespace, daemon, "kernel-v4-on")
        seq = 1
        deadline = time.monotonic() + 20
        while len(nft_elements(namespace) or []) < 4:
            assert time.monotonic() < deadline, "the IPv4 call never moved into the kernel"
            v4.exchange(seq)
            v6.exchange(seq)
            seq += 1
            time.sleep(0.2)
        v6.exchange(seq)
        assert nft_elements(namespace, family="ip6") is None
        assert daemon.log_tail(20000).count("net.ipv6.conf.all.forwarding is 0") == 1
    finally:
        daemon.proc.terminate()
        daemon.stop()


def test_endpoint_change_falls_back_to_userspace_and_returns(namespace, daemon):
    call = Call(namespace, daemon, "kernel-5", flags=["media-handover"])
    seq = bring_into_kernel(namespace, call)
    old_port = call.a.getsockname()[1]
    dnat = {json.dumps(e) for e in nft_elements(namespace, "dnat_to")}
    assert any(f"{old_port}" in e for e in dnat)
    # A moves to a new port (handover allowed): the kernel does not know the new source,
    # so its packets reach the relay, which follows them; the pair leaves the kernel...
    call.a.close()
    call.a = namespace.udp_socket("198.51.100.1")
    call.a.settimeout(1.0)
    new_port = call.a.getsockname()[1]
    call.exchange(seq, rtcp=False)
    seq += 1

    def moved() -> bool:
        nonlocal seq
        call.exchange(seq, rtcp=False)
        seq += 1
        time.sleep(0.1)
        elements = [json.dumps(e) for e in nft_elements(namespace, "dnat_to")]
        return len(elements) == 4 and any(f"198.51.100.1\", {new_port}" in e for e in elements)

    # ...and returns with the new endpoint once that is stable, B's packets following A.
    wait_for(moved, timeout=20)
    assert not any(f"198.51.100.1\", {old_port}" in json.dumps(e)
                   for e in nft_elements(namespace, "dnat_to"))
    before = call.packets()
    for n in range(10):
        call.exchange(seq + n)
    wait_for(lambda: call.packets() == before + 40)


@pytest.mark.parametrize("family", ["ip", "ip6"])
def test_sigkill_and_restart_leave_no_forwarding(namespace, family):
    """For IPv4 and IPv6 alike: the mark flush at start removes either family's bindings."""
    extra: tuple[str, ...] = ()
    addresses = ("198.51.100.1", "198.51.100.2")
    if family == "ip6":
        subprocess.run(namespace.argv("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"),
                       check=True, timeout=10)
        extra = ("-i", "2001:db8:4321::1")
        addresses = ("2001:db8::1", "2001:db8::2")
    first = start(namespace, *extra)
    try:
        call = Call(namespace, first, "kernel-2", addresses=addresses)
        seq = bring_into_kernel(namespace, call, family=family)
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(10)
        # the dead daemon's table stays behind...
        assert len(nft_elements(namespace, family=family)) == 4
    finally:
        if first.proc.poll() is None:
            first.proc.kill()
        first.stop()
    second = start(namespace, *extra)
    try:
        assert nft_elements(namespace, family=family) == []  # ...until the next start removes it
        # and its NAT bindings: a packet to the old port no longer reaches the old peer.
        call.a.sendto(rtp_packet(0, seq, 0, 0x1234), call.to_a)
        with pytest.raises(TimeoutError):
            call.b.recvfrom(2048)
    finally:
        second.proc.terminate()
        second.stop()
    assert nft_elements(namespace, family=family) is None  # a clean stop removes the table


def test_media_timeout_fires_for_kernel_streams(namespace):
    daemon = start(namespace, "--timeout=4")
    try:
        call = Call(namespace, daemon, "kernel-3")
        seq = bring_into_kernel(namespace, call)
        # Kernel-forwarded traffic keeps the call alive past the timeout...
        until = time.monotonic() + 6
        while time.monotonic() < until:
            call.exchange(seq)
            seq += 1
            time.sleep(0.2)
        assert call.query()["result"] == "ok"
        # ...and silence ends it, taking its elements along.
        wait_for(lambda: call.query()["result"] != "ok", timeout=20)
        assert nft_elements(namespace) == []
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.terminate()
        daemon.stop()


def test_without_table_everything_stays_in_userspace(namespace):
    daemon = NsNgProcess(namespace, [sys.executable, "-m", "rtpengined", "run",
                                     "--config-file=none", "--table=-1", "-i", "203.0.113.1",
                                     "-n", str(NG), "-c", str(CLI), "-f", "-E", "-m",
                                     str(PORTS[0]), "-M", str(PORTS[1]), "--relay-workers=1"],
                         NG, PORTS, CLI)
    try:
        daemon.wait_ready()
        call = Call(namespace, daemon, "kernel-4")
        for seq in range(1, 25):
            call.exchange(seq)
            time.sleep(0.2)
        assert nft_elements(namespace) is None
    finally:
        daemon.proc.terminate()
        daemon.stop()


def test_without_ip_forwarding_the_daemon_relays_in_userspace(namespace):
    subprocess.run(namespace.argv("sysctl", "-qw", "net.ipv4.ip_forward=0"), check=True, timeout=10)
    daemon = start(namespace)
    try:
        call = Call(namespace, daemon, "kernel-7")
        for seq in range(1, 31):
            call.exchange(seq)
            time.sleep(0.2)
        assert nft_elements(namespace) is None
        assert daemon.log_tail(20000).count("net.ipv4.ip_forward is 0") == 1
    finally:
        daemon.proc.terminate()
        daemon.stop()


def test_no_fallback_stops_the_daemon_when_the_kernel_path_is_unavailable(namespace):
    """``--table=0 --no-fallback`` as in rtpengine: no kernel forwarding possible (here: IP
    forwarding off) means the daemon exits at start with the reason, instead of relaying
    in userspace; the table is not left behind."""
    subprocess.run(namespace.argv("sysctl", "-qw", "net.ipv4.ip_forward=0"), check=True, timeout=10)
    argv = [sys.executable, "-m", "rtpengined", "run", "--config-file=none", "--table=0",
            "--no-fallback", "-i", "203.0.113.1", "-n", str(NG), "-c", str(CLI), "-f", "-E",
            "-m", str(PORTS[0]), "-M", str(PORTS[1]), "--relay-workers=1"]
    result = subprocess.run(namespace.argv(*argv), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "net.ipv4.ip_forward is 0" in result.stderr and "--no-fallback" in result.stderr
    assert "Traceback" not in result.stderr
    assert nft_elements(namespace) is None


def test_without_net_admin_the_daemon_says_so_once_and_relays(namespace):
    """``--table=0`` without CAP_NET_ADMIN: one log line, every call relayed in userspace."""
    argv = ["setpriv", "--bounding-set=-net_admin", "--inh-caps=-net_admin", sys.executable,
            "-m", "rtpengined", "run", "--config-file=none", "--table=0", "-i", "203.0.113.1",
            "-n", str(NG), "-c", str(CLI), "-f", "-E", "-m", str(PORTS[0]), "-M", str(PORTS[1]),
            "--relay-workers=1"]
    daemon = NsNgProcess(namespace, argv, NG, PORTS, CLI)
    try:
        daemon.wait_ready()
        call = Call(namespace, daemon, "kernel-6")
        for seq in range(1, 31):
            call.exchange(seq)
            time.sleep(0.2)
        assert nft_elements(namespace) is None
        before = call.packets()
        call.exchange(31)
        wait_for(lambda: call.packets() == before + 4)
        assert daemon.log_tail(20000).count("kernel forwarding disabled") == 1
    finally:
        daemon.proc.terminate()
        daemon.stop()


class PeerNamespace(NetNamespace):
    """A second namespace for the parties, 192.0.2.10 and .20, linked to the daemon's by a
    veth pair: their packets arrive on a real interface (prerouting, forward path), as
    from phones on other hosts."""

    def __init__(self, daemon_ns: NetNamespace) -> None:
        self.name = f"rtpe-peer-{secrets.token_hex(4)}"
        subprocess.run(["ip", "netns", "add", self.name], check=True, timeout=10)
        link = f"rp{secrets.token_hex(3)}"
        try:
            run = self._ip
            run("link", "set", "lo", "up")
            run("link", "add", "vp", "type", "veth", "peer", "name", link,
                "netns", daemon_ns.name)
            run("addr", "add", "10.99.0.2/24", "dev", "vp")
            run("link", "set", "vp", "up")
            for address in ("192.0.2.10", "192.0.2.20"):
                run("addr", "add", f"{address}/32", "dev", "lo")
            run("route", "add", "203.0.113.1/32", "via", "10.99.0.1")
            daemon_ns._ip("addr", "add", "10.99.0.1/24", "dev", link)
            daemon_ns._ip("link", "set", link, "up")
            daemon_ns._ip("route", "add", "192.0.2.0/24", "via", "10.99.0.2")
        except BaseException:
            self.delete()
            raise


def test_peers_on_another_host_are_forwarded_in_the_kernel(namespace, daemon):
    peers = PeerNamespace(namespace)
    try:
        call = Call(peers, daemon, "kernel-8", addresses=("192.0.2.10", "192.0.2.20"))
        seq = bring_into_kernel(namespace, call)
        before = call.packets()
        for n in range(20):
            call.exchange(seq + n)
        wait_for(lambda: call.packets() == before + 80)  # once each: not the relay too
    finally:
        peers.delete()


def test_transcoded_calls_stay_in_userspace(namespace, daemon):
    """A call whose relay converts (PCMU offered, PCMA added and answered) is never handed to
    the kernel, which would forward the packets as they came: they arrive converted, well
    past the learning window, and no element is ever added. (The planner's rule, with the
    T.38 gateway's, is in ``test_kernel``.)"""
    ns = namespace
    a, b = ns.udp_socket("198.51.100.1"), ns.udp_socket("198.51.100.2")
    for sock in (a, b):
        sock.settimeout(1.0)
    body_a = sdp("v=0", "o=- 1 1 IN IP4 198.51.100.1", "s=-", "c=IN IP4 198.51.100.1",
                 "t=0 0", f"m=audio {a.getsockname()[1]} RTP/AVP 0")
    body_b = sdp("v=0", "o=- 2 1 IN IP4 198.51.100.2", "s=-", "c=IN IP4 198.51.100.2",
                 "t=0 0", f"m=audio {b.getsockname()[1]} RTP/AVP 8")
    ids = {"call-id": "kernel-transcoded", "ICE": "remove"}
    to_b = daemon.request(offer(body_a, codec={"transcode": ["PCMA"]}, **ids))
    to_a = daemon.request(answer(body_b, **ids))
    assert "RTP/AVP 0 8" in to_b["sdp"] and to_a["result"] == "ok", (to_b, to_a)
    deadline = time.monotonic() + 4.5  # (learning ends after 3 s)
    seq = 0
    while time.monotonic() < deadline:
        seq += 1
        a.sendto(rtp_packet(0, seq, seq * 160, 0x1234), media_target(to_a))
        data, _ = b.recvfrom(2048)
        assert data[1] & 0x7F == 8, data[:12]  # converted to PCMA
        b.sendto(rtp_packet(8, seq, seq * 160, 0x5678), media_target(to_b))
        data, _ = a.recvfrom(2048)
        assert data[1] & 0x7F == 0, data[:12]  # converted to PCMU
        assert nft_elements(namespace) in ([], None)
        time.sleep(0.1)
    daemon.request(delete(**{"call-id": "kernel-transcoded"}))


def _tos_of_next(sender: socket.socket, target, receiver: socket.socket, packet: bytes) -> int:
    sender.sendto(packet, target)
    _, ancillary, _, _ = receiver.recvmsg(2048, socket.CMSG_SPACE(1))
    return next(data[0] for level, kind, data in ancillary
                if level == socket.IPPROTO_IP and kind == socket.IP_TOS)


def test_kernel_forwarded_media_keeps_the_tos(namespace):
    """With ``--tos`` the kernel marks what it forwards as the relay's sockets mark what they
    send (rtpengine's kernel module sets the call's TOS too); a call with a ``TOS`` of its
    own stays with the relay, which marks it so."""
    daemon = start(namespace, "--tos=184")
    try:
        call = Call(namespace, daemon, "kernel-tos")
        for sock in (call.a, call.b):
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
        seq = bring_into_kernel(namespace, call)
        packet = rtp_packet(0, seq, seq * 160, 0x1234)
        assert _tos_of_next(call.a, call.to_a, call.b, packet) == 184
        assert _tos_of_next(call.b, call.to_b, call.a, packet) == 184
        own = Call(namespace, daemon, "kernel-own-tos", TOS=104)
        for sock in (own.a, own.b):
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
        for n in range(15):  # (settled for as long as a plain call needs to move)
            own.exchange(n + 1)
            time.sleep(0.2)
        assert len(nft_elements(namespace) or []) == 4  # only the first call's ports
        assert _tos_of_next(own.a, own.to_a, own.b, packet) == 104
    finally:
        daemon.stop()


def test_kernel_forwarded_media_gets_the_whole_tos_byte(namespace):
    """A ``--tos`` with ECN bits (185: DSCP 46, ECT(1)) marks what the kernel forwards with
    that whole byte, as the relay's sockets send it, whatever ECN bits the sender set (we
    set the DSCP only, so a sender's ECT(0) came through as 186)."""
    daemon = start(namespace, "--tos=185")
    try:
        call = Call(namespace, daemon, "kernel-tos-ecn")
        for sock in (call.a, call.b):
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x02)  # (ECT(0), no DSCP)
        seq = bring_into_kernel(namespace, call)
        packet = rtp_packet(0, seq, seq * 160, 0x1234)
        assert _tos_of_next(call.a, call.to_a, call.b, packet) == 185
        assert _tos_of_next(call.b, call.to_b, call.a, packet) == 185
    finally:
        daemon.stop()
