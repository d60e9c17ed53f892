"""SDES-SRTP calls in Redis: their keys survive a crash, in rtpengine 10.5's layout.

A real redis-server, real daemons killed with SIGKILL, and real SRTP endpoints (libsrtp
through pylibsrtp) against plain RTP ones: after the restart the relay must decrypt and
encrypt again with the stored keys, without a new offer/answer. The same between
rtpengine 10.5 and rtpengined (one stores, the other restores).
"""

from __future__ import annotations

import socket
import time
from contextlib import ExitStack
from dataclasses import replace

import pytest

from rtpengined.redis.layout import loads
from rtpengined.secure import sdes
from rtpengined.secure.srtp import SrtpContext
from tests.redis_helpers import kill9, local_ports, ours, reference
from tests.test_redis_daemon import _stopped, _wait_query
from tests.test_secure_sdes_relay import body, cryptos, port_of, rtcp, rtp


def _pair(cleanup: ExitStack) -> tuple[socket.socket, socket.socket, int]:
    """RTP and RTCP sockets on ports N and N+1."""
    for _attempt in range(50):
        rtp_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtcp_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            rtp_sock.bind(("127.0.0.1", 0))
            port = rtp_sock.getsockname()[1]
            rtcp_sock.bind(("127.0.0.1", port + 1))
        except OSError:
            rtp_sock.close()
            rtcp_sock.close()
            continue
        for sock in (rtp_sock, rtcp_sock):
            sock.settimeout(0.2)
            cleanup.callback(sock.close)
        return rtp_sock, rtcp_sock, port
    raise RuntimeError("no free port pair")


def _recv(sock: socket.socket, patience: int = 1) -> bytes | None:
    """The next datagram, or None after ``patience`` socket timeouts (0.2 s each)."""
    for _wait in range(patience):
        try:
            return sock.recv(2048)
        except TimeoutError:
            continue
        except OSError:
            return None
    return None


class SdesCall:
    """An SRTP party and a plain party, keyed through a daemon's offer/answer.

    ``srtp_offers``: the SRTP party offers (sent on as RTP/AVP), else the plain party
    offers (sent on as RTP/SAVP) and the SRTP party answers with ``suite``.
    """

    def __init__(self, daemon, call_id: str, cleanup: ExitStack, srtp_offers: bool,
                 suite: str = "AES_CM_128_HMAC_SHA1_80",
                 mki: tuple[int, int] | None = None) -> None:
        """``mki``: the SRTP party's key carries this MKI (value, length)."""
        self.srtp_socks = _pair(cleanup)
        self.plain_socks = _pair(cleanup)
        s_port, p_port = self.srtp_socks[2], self.plain_socks[2]
        ids = {"call-id": call_id, "from-tag": "a"}
        if srtp_offers:
            mine = replace(sdes.generate(1, suite), mki=mki)
            offer = daemon.request({"command": "offer", **ids, "transport-protocol": "RTP/AVP",
                                    "sdp": body(s_port, "RTP/SAVP", [mine.format()])})
            assert offer["result"] == "ok", offer
            answer = daemon.request({"command": "answer", **ids, "to-tag": "b",
                                     "sdp": body(p_port)})
            assert answer["result"] == "ok", answer
            [theirs] = cryptos(answer["sdp"])
            self.srtp_target, self.plain_target = port_of(answer["sdp"]), port_of(offer["sdp"])
        else:
            offer = daemon.request({"command": "offer", **ids, "transport-protocol": "RTP/SAVP",
                                    "sdp": body(p_port)})
            assert offer["result"] == "ok", offer
            theirs = next(c for c in cryptos(offer["sdp"]) if c.suite.name == suite)
            mine = replace(sdes.generate(theirs.tag, suite), mki=mki)
            answer = daemon.request({"command": "answer", **ids, "to-tag": "b",
                                     "sdp": body(s_port, "RTP/SAVP", [mine.format()])})
            assert answer["result"] == "ok", answer
            assert "a=crypto" not in answer["sdp"]
            self.srtp_target, self.plain_target = port_of(offer["sdp"]), port_of(answer["sdp"])
        self.mine, self.theirs = mine, theirs
        self.out = SrtpContext.from_sdes(mine, outbound=True)
        self.back = SrtpContext.from_sdes(theirs, outbound=False)
        self.seq = 0
        self.unanswered: dict[int, bytes] = {}  # RTP sent towards the plain party, not yet seen

    host = "127.0.0.1"  # where the relay is (a standby taking over has its own address)

    def exchange(self, packets: int = 3, tries: int = 50, rtcp_back: bool = True) -> None:
        """RTP both ways, then RTCP both ways, compared byte for byte after decryption.

        Retried while nothing arrives (a restarted relay may need a moment); anything
        that arrives must be exactly right. A packet of an earlier try may arrive after
        its try gave up (a busy machine delays the relay's first packet past the socket
        timeout): it is still checked byte for byte, as the packet of its own try."""
        s_rtp, s_rtcp, _ = self.srtp_socks
        p_rtp, p_rtcp, _ = self.plain_socks
        done = 0
        for _attempt in range(tries):
            self.seq += 1
            sent = rtp(self.seq, 0x5157A001)
            self.unanswered[self.seq] = sent
            s_rtp.sendto(self.out.protect(sent), (self.host, self.srtp_target))
            got = _recv(p_rtp)
            if got is None:
                continue
            seq = int.from_bytes(got[2:4], "big")
            assert got == self.unanswered.pop(seq, None), (seq, self.seq)
            back = rtp(seq, 0x9A1A0002)
            p_rtp.sendto(back, (self.host, self.plain_target))
            got = _recv(s_rtp, patience=10)
            assert got is not None and got != back
            assert self.back.unprotect(got) == back
            done += 1
            if done == packets:
                break
        assert done == packets, f"only {done} RTP round trips"
        self.seq += 1
        report = rtcp(0x5157A001, self.seq)
        s_rtcp.sendto(self.out.protect_rtcp(report), (self.host, self.srtp_target + 1))
        assert _recv(p_rtcp, patience=10) == report
        if not rtcp_back:
            return
        report = rtcp(0x9A1A0002, self.seq)
        p_rtcp.sendto(report, (self.host, self.plain_target + 1))
        got = _recv(s_rtcp, patience=10)
        assert got is not None and self.back.unprotect_rtcp(got) == report


def _wait_keyed(redis, db: int, call_id: str, streams: int = 2) -> dict:
    """The stored document once the answer's keys are in it (written in the background:
    an earlier write may hold only the offer)."""
    deadline = time.monotonic() + 10
    while True:
        doc = redis.document(db, call_id) or {}
        keyed = sum(1 for k, v in doc.items() if k.startswith("stream-") and "-crypto_suite" in v)
        if keyed >= streams:
            return doc
        assert time.monotonic() < deadline, doc
        time.sleep(0.05)


def _keyed_media(doc: dict) -> dict:
    [media] = [v for k, v in doc.items() if k.startswith("media-") and "sdes_in_tag" in v]
    return media


@pytest.mark.parametrize("srtp_offers", [True, False], ids=["sdes-offerer", "sdes-answerer"])
@pytest.mark.parametrize("suite", ["AES_CM_128_HMAC_SHA1_80", "AEAD_AES_128_GCM"])
def test_kill9_restart_keeps_sdes_keys(redis, cleanup, srtp_offers, suite):
    daemon = ours(redis, 1, 24000, 24099)
    cleanup.push(_stopped(daemon))
    call = SdesCall(daemon, "sdes-crash", cleanup, srtp_offers, suite)
    call.exchange()
    # Stored as 10.5 names it: the media's agreed line each way, the socket's inbound
    # and the stream's outbound keys (the party's key decrypts, ours encrypts).
    doc = _wait_keyed(redis, 1, "sdes-crash")
    media = _keyed_media(doc)
    assert media["sdes_in-crypto_suite"] == media["sdes_out-crypto_suite"] == suite
    assert media["sdes_in_tag"] == media["sdes_out_tag"] == str(call.mine.tag)
    assert int(media["media_flags"]) & 0x00080000  # MEDIA_FLAG_SDES
    keyed_sfds = [v for k, v in doc.items() if k.startswith("sfd-") and "-crypto_suite" in v]
    keyed_streams = [v for k, v in doc.items()
                     if k.startswith("stream-") and "-crypto_suite" in v]
    assert len(keyed_sfds) == len(keyed_streams) == 2  # RTP and RTCP of the SRTP leg
    assert keyed_sfds[0]["-master_key"] == media["sdes_in-master_key"]
    assert keyed_streams[0]["-master_key"] == media["sdes_out-master_key"]
    before = local_ports(daemon.request({"command": "query", "call-id": "sdes-crash"}))
    kill9(daemon)

    daemon = ours(redis, 1, 24000, 24099)
    cleanup.push(_stopped(daemon))
    query = daemon.request({"command": "query", "call-id": "sdes-crash"})
    assert query["result"] == "ok", query
    assert local_ports(query) == before
    # The relay decrypts and encrypts again, no offer/answer since. (Not SRTCP towards the
    # SRTP party: our restarted SRTCP index begins at 1 again, which the party's libsrtp
    # has seen and drops as a replay; README "Calls in Redis" says so.)
    call.exchange(rtcp_back=False)


@pytest.mark.parametrize("srtp_offers", [True, False], ids=["sdes-offerer", "sdes-answerer"])
def test_kill9_restart_keeps_an_mki(redis, cleanup, srtp_offers):
    """A party's key with an MKI (its packets carry it): stored with the socket's inbound
    key as 10.5 stores it (``-mki``, the field's bytes), and the restarted relay still
    takes it out before decrypting."""
    daemon = ours(redis, 1, 24000, 24099)
    cleanup.push(_stopped(daemon))
    call = SdesCall(daemon, "sdes-mki", cleanup, srtp_offers, mki=(0x0102, 3))
    call.exchange()
    doc = _wait_keyed(redis, 1, "sdes-mki")
    keyed_sfds = [v for k, v in doc.items() if k.startswith("sfd-") and "-crypto_suite" in v]
    assert [v["-mki"] for v in keyed_sfds] == ["%00%01%02"] * 2  # escaped as any bytes
    assert all("-mki" not in v for k, v in doc.items() if k.startswith("stream-"))
    kill9(daemon)
    daemon = ours(redis, 1, 24000, 24099)
    cleanup.push(_stopped(daemon))
    call.exchange(rtcp_back=False)


def test_stored_key_bytes_are_the_negotiated_ones(redis, cleanup):
    """The key material is the raw key and salt in 10.5's fixed buffers (32 and 14
    bytes, zero-padded), percent-escaped like every stored string."""
    daemon = ours(redis, 1, 24100, 24199)
    cleanup.push(_stopped(daemon))
    call = SdesCall(daemon, "sdes-bytes", cleanup, srtp_offers=True)
    _wait_keyed(redis, 1, "sdes-bytes")
    raw = redis.command(1, "GET", "sdes-bytes")
    media = _keyed_media(loads(raw))

    def binary(value: str) -> bytes:
        return value.encode("utf-8", "surrogateescape")

    assert binary(media["sdes_in-master_key"]) == call.mine.key.ljust(32, b"\0")
    assert binary(media["sdes_in-master_salt"]) == call.mine.salt
    assert binary(media["sdes_out-master_key"]) == call.theirs.key.ljust(32, b"\0")
    assert media["sdes_in-unenc-srtp"] == media["sdes_out-unauth-srtp"] == "0"


def test_interop_rtpengine_stores_sdes_rtpengined_restores(redis, cleanup):
    ref = reference(redis, 3, 24200, 24299)
    cleanup.push(_stopped(ref))
    offerer = SdesCall(ref, "ref-sdes-offerer", cleanup, srtp_offers=True)
    answerer = SdesCall(ref, "ref-sdes-answerer", cleanup, srtp_offers=False,
                        suite="AEAD_AES_128_GCM")
    offerer.exchange()
    answerer.exchange()
    want = {c: local_ports(ref.request({"command": "query", "call-id": c}))
            for c in ("ref-sdes-offerer", "ref-sdes-answerer")}
    redis.wait_for(3, lambda keys: keys >= set(want))
    kill9(ref)

    daemon = ours(redis, 3, 24200, 24299)
    cleanup.push(_stopped(daemon))
    for call_id, ports in want.items():
        query = daemon.request({"command": "query", "call-id": call_id})
        assert query["result"] == "ok", query
        assert local_ports(query) == ports
    offerer.exchange()
    answerer.exchange()


def test_interop_rtpengined_stores_sdes_rtpengine_restores(redis, cleanup):
    daemon = ours(redis, 4, 24300, 24399)
    cleanup.push(_stopped(daemon))
    offerer = SdesCall(daemon, "our-sdes-offerer", cleanup, srtp_offers=True)
    answerer = SdesCall(daemon, "our-sdes-answerer", cleanup, srtp_offers=False,
                        suite="AEAD_AES_128_GCM")
    offerer.exchange()
    answerer.exchange()
    want = {c: local_ports(daemon.request({"command": "query", "call-id": c}))
            for c in ("our-sdes-offerer", "our-sdes-answerer")}
    for call_id in want:
        _wait_keyed(redis, 4, call_id)
    kill9(daemon)

    ref = reference(redis, 4, 24300, 24399)
    cleanup.push(_stopped(ref))
    for call_id, ports in want.items():
        query = ref.request({"command": "query", "call-id": call_id})
        assert query["result"] == "ok", query
        assert local_ports(query) == ports
    offerer.exchange()
    answerer.exchange()


class HalfCall(SdesCall):
    """An SdesCall whose daemon is killed and restarted between offer and answer."""

    def __init__(self, redis, start, call_id: str, cleanup: ExitStack, srtp_offers: bool,
                 suite: str = "AES_CM_128_HMAC_SHA1_80") -> None:
        self.srtp_socks = _pair(cleanup)
        self.plain_socks = _pair(cleanup)
        s_port, p_port = self.srtp_socks[2], self.plain_socks[2]
        ids = {"call-id": call_id, "from-tag": "a"}
        daemon = start()
        if srtp_offers:
            mine = sdes.generate(1, suite)
            offer = daemon.request({"command": "offer", **ids, "transport-protocol": "RTP/AVP",
                                    "sdp": body(s_port, "RTP/SAVP", [mine.format()])})
        else:
            offer = daemon.request({"command": "offer", **ids, "transport-protocol": "RTP/SAVP",
                                    "sdp": body(p_port)})
        assert offer["result"] == "ok", offer
        redis.wait_for(1, lambda keys: call_id in keys)
        kill9(daemon)
        self.daemon = daemon = start()
        if srtp_offers:
            answer = daemon.request({"command": "answer", **ids, "to-tag": "b",
                                     "sdp": body(p_port)})
            assert answer["result"] == "ok", answer
            [theirs] = cryptos(answer["sdp"])
            assert theirs.tag == mine.tag and theirs.suite is mine.suite
            self.srtp_target, self.plain_target = port_of(answer["sdp"]), port_of(offer["sdp"])
        else:
            theirs = next(c for c in cryptos(offer["sdp"]) if c.suite.name == suite)
            mine = sdes.generate(theirs.tag, suite)
            answer = daemon.request({"command": "answer", **ids, "to-tag": "b",
                                     "sdp": body(s_port, "RTP/SAVP", [mine.format()])})
            assert answer["result"] == "ok", answer
            assert "a=crypto" not in answer["sdp"] and " RTP/AVP " in answer["sdp"]
            self.srtp_target, self.plain_target = port_of(offer["sdp"]), port_of(answer["sdp"])
        self.mine, self.theirs = mine, theirs
        self.out = SrtpContext.from_sdes(mine, outbound=True)
        self.back = SrtpContext.from_sdes(theirs, outbound=False)
        self.seq = 0
        self.unanswered = {}


@pytest.mark.parametrize("srtp_offers", [True, False], ids=["sdes-offerer", "sdes-answerer"])
def test_call_restored_between_offer_and_answer_is_keyed_by_the_answer(
        redis, cleanup, srtp_offers):
    """The offer's a=crypto lines (the party's, or the ones we offered it) are stored
    too: an answer reaching the restarted daemon keys the call as it would have before."""
    def start():
        daemon = ours(redis, 1, 24400, 24499)
        cleanup.push(_stopped(daemon))
        return daemon

    call = HalfCall(redis, start, "sdes-half", cleanup, srtp_offers)
    call.exchange()


def test_kill9_restart_keeps_both_legs_of_a_rekeyed_sdes_call(redis, cleanup):
    """SDES on both legs, the answer picking a suite only we offered: each leg has keys of
    its own, and after the restart each party still decrypts what was re-encrypted for it."""
    daemon = ours(redis, 1, 24500, 24599)
    cleanup.push(_stopped(daemon))
    a_rtp, _, a_port = _pair(cleanup)
    b_rtp, _, b_port = _pair(cleanup)
    ids = {"call-id": "rekeyed", "from-tag": "a"}
    mine = sdes.generate(1, "AES_CM_128_HMAC_SHA1_80")
    offer = daemon.request({"command": "offer", **ids, "DTLS": "off",
                            "sdp": body(a_port, "RTP/SAVP", [mine.format()])})
    ours_b = next(c for c in cryptos(offer["sdp"]) if c.suite.name == "AEAD_AES_128_GCM")
    theirs = sdes.generate(ours_b.tag, "AEAD_AES_128_GCM")
    answer = daemon.request({"command": "answer", **ids, "to-tag": "b",
                             "sdp": body(b_port, "RTP/SAVP", [theirs.format()])})
    [ours_a] = cryptos(answer["sdp"])
    a_out, a_in = SrtpContext.from_sdes(mine, True), SrtpContext.from_sdes(ours_a, False)
    b_out, b_in = SrtpContext.from_sdes(theirs, True), SrtpContext.from_sdes(ours_b, False)
    from_a, from_b = port_of(answer["sdp"]), port_of(offer["sdp"])
    seq = 0

    def round_trips(count: int) -> None:
        nonlocal seq
        done = 0
        for _attempt in range(50):
            seq += 1
            sent = rtp(seq, 0xA)
            a_rtp.sendto(a_out.protect(sent), ("127.0.0.1", from_a))
            got = _recv(b_rtp)
            if got is None:
                continue
            assert b_in.unprotect(got) == sent
            back = rtp(seq, 0xB)
            b_rtp.sendto(b_out.protect(back), ("127.0.0.1", from_b))
            got = _recv(a_rtp)
            assert got is not None and a_in.unprotect(got) == back
            done += 1
            if done == count:
                return
        raise AssertionError(f"only {done} round trips")

    round_trips(3)
    _wait_keyed(redis, 1, "rekeyed", streams=4)
    kill9(daemon)
    daemon = ours(redis, 1, 24500, 24599)
    cleanup.push(_stopped(daemon))
    round_trips(3)


def test_standby_relays_a_followed_sdes_call_decrypted(redis, cleanup):
    """A standby restores a followed SDES call with its keys: once the active node dies,
    the standby (on its own address) decrypts and encrypts the call's media."""
    active = ours(redis, 1, 24600, 24699)
    cleanup.push(_stopped(active))
    standby = ours(redis, 2, 24600, 24699, "--subscribe-keyspace=1", interface="127.0.0.2")
    cleanup.push(_stopped(standby))
    call = SdesCall(active, "followed-sdes", cleanup, srtp_offers=True)
    call.exchange()
    _wait_keyed(redis, 1, "followed-sdes")
    deadline = time.monotonic() + 10
    while True:  # the standby has caught up with the answer's keys
        query = _wait_query(standby, "followed-sdes")
        suites = {s.get("crypto suite") for t in query["tags"].values()
                  for m in t["medias"] for s in m["streams"]}
        if "AES_CM_128_HMAC_SHA1_80" in suites:
            break
        assert time.monotonic() < deadline, query
        time.sleep(0.05)
    kill9(active)
    call.host = "127.0.0.2"
    call.exchange(rtcp_back=False)
    assert redis.keys(2) == set()  # a foreign call is never written back
