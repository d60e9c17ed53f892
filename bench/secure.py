"""Per-packet cost of the WebRTC/SRTP groundwork (rtpengined.secure), in-process.

    python bench/secure.py [--packets 200000]

Prints microseconds per operation and, for scale, the ratio to one loopback `sendto` of the
same packet (the cost a relay pays per packet anyway): SRTP protect+unprotect of a 172-byte
RTP packet per suite, SRTCP, one STUN connectivity check answered (parse, integrity, reply),
RFC 7983 demux, and a full in-memory DTLS-SRTP handshake (both ends, EC and RSA).
"""

import argparse
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from rtpengined.secure import dtls, ice, sdes, srtp, stun  # noqa: E402


def per_op(fn, n: int) -> float:
    start = time.perf_counter()
    fn(n)
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=200_000)
    n = parser.parse_args().packets

    payload = bytes(160)
    packets = [struct.pack("!BBHII", 0x80, 0, s & 0xFFFF, s * 160, 0x1234) + payload for s in range(n)]

    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setblocking(False)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    addr = rx.getsockname()

    def sends(k):
        for i in range(k):
            tx.sendto(packets[i], addr)
            try:
                rx.recv(2048)
            except BlockingIOError:
                pass
    base = per_op(sends, min(n, 100_000))
    print(f"{'loopback sendto+recv (reference)':46s} {base:7.2f} us   1.00x")

    for suite in srtp.SUPPORTED_SUITES:
        c = sdes.generate(1, suite)
        out, inb = srtp.SrtpContext.from_sdes(c, True), srtp.SrtpContext.from_sdes(c, False)

        def both(k, out=out, inb=inb):
            protect, unprotect = out.protect, inb.unprotect
            for i in range(k):
                unprotect(protect(packets[i]))
        us = per_op(both, n)
        print(f"{'SRTP protect+unprotect ' + suite:46s} {us:7.2f} us  {us / base:5.2f}x")

    c = sdes.generate(1, "AES_CM_128_HMAC_SHA1_80")
    out, inb = srtp.SrtpContext.from_sdes(c, True), srtp.SrtpContext.from_sdes(c, False)
    rtcp = struct.pack("!BBHI", 0x80, 200, 6, 0x1234) + bytes(20)

    def rtcps(k):
        for _ in range(k):
            inb.unprotect_rtcp(out.protect_rtcp(rtcp))
    us = per_op(rtcps, n // 4)
    print(f"{'SRTCP protect+unprotect AES_CM_128_80':46s} {us:7.2f} us  {us / base:5.2f}x")

    agent = ice.IceAgent("ours", "p" * 24, controlling=False)
    req = stun.Message(stun.BINDING, stun.REQUEST)
    req.add(stun.USERNAME, b"ours:theirs").add(stun.PRIORITY, struct.pack("!I", 1))
    req.add(stun.ICE_CONTROLLING, struct.pack("!Q", 1))
    check = req.encode(b"p" * 24)

    def checks(k):
        for _ in range(k):
            agent.receive(check, ("127.0.0.1", 5000), 0.0)
    us = per_op(checks, n // 10)
    print(f"{'STUN check answered (IceAgent.receive)':46s} {us:7.2f} us  {us / base:5.2f}x")

    try:  # the same work with aioice's codec, which this module chose not to depend on
        from aioice import stun as aiostun
    except ImportError:
        aiostun = None
    if aiostun is not None:
        def aioice_checks(k):
            for _ in range(k):
                m = aiostun.parse_message(check)
                m.check_message_integrity(b"p" * 24)
                r = aiostun.Message(aiostun.Method.BINDING, aiostun.Class.RESPONSE, m.transaction_id)
                r.attributes["XOR-MAPPED-ADDRESS"] = ("127.0.0.1", 5000)
                r.add_message_integrity(b"p" * 24)
                r.add_fingerprint()
                bytes(r)
        us = per_op(aioice_checks, n // 10)
        print(f"{'  same with aioice.stun (parse+check+reply)':46s} {us:7.2f} us  {us / base:5.2f}x")

    def demuxes(k):
        d = stun.demux
        for i in range(k):
            d(packets[i])
    us = per_op(demuxes, n)
    print(f"{'RFC 7983 demux':46s} {us:7.2f} us  {us / base:5.2f}x")

    for cipher in ("prime256v1", "RSA"):
        a, b = dtls.Certificate(cipher), dtls.Certificate(cipher)

        def handshakes(k, a=a, b=b):
            for _ in range(k):
                cl, sv = dtls.DtlsEndpoint(a, True, b.fingerprint()), dtls.DtlsEndpoint(b, False, a.fingerprint())
                to_s = cl.start(0.0)
                while cl.keys is None or sv.keys is None:
                    to_c = [x for p in to_s for x in sv.receive(p, 0.0)]
                    to_s = [x for p in to_c for x in cl.receive(p, 0.0)]
        us = per_op(handshakes, 50)
        print(f"{'DTLS-SRTP handshake, both ends, ' + cipher:46s} {us / 1000:7.2f} ms")


if __name__ == "__main__":
    main()
