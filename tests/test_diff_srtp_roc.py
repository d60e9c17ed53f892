"""An SRTP sender whose rollover counter (ROC) is not where ours is, beside rtpengine 10.5.

libsrtp estimates a packet's ROC from its sequence number alone; rtpengine 10.5, when a
packet then fails authentication, tries three more guesses before it drops it: one rollover
more (the sender wrapped where we did not see it), one fewer, and zero (the sender started
its counter anew). Endpoints do get there: a sender that counts a rollover for a stream
starting at sequence number 0 (rtpengine's own Perl test harness), or one that resets its
SRTP state on a re-INVITE keeping key and SSRC. What goes wrong is then every packet of the
stream, not one.

The packets are encrypted by somebody else's SRTP (the Perl one of rtpengine's test
harness, ``NGCP::Rtpclient::SRTP``) with the ROC each step names, sent to both daemons'
SRTP side of an SDES-to-plain call; the plain party must get the same packets from both.

Not compared: a packet whose estimated index is one libsrtp's replay window has seen is a
replay here, guessed at no further (10.5 keeps no replay window and guesses on); the
steps keep clear of that.
"""

from __future__ import annotations

import base64
import os
import subprocess
from contextlib import ExitStack

import pytest

from tests.differential import running, start_ours, start_reference
from tests.test_redis_sdes import _pair, _recv
from tests.test_secure_sdes_relay import body, port_of, rtp

SUITE = "AES_CM_128_HMAC_SHA1_80"
MASTER = bytes(range(1, 31))  # key and salt
SSRC = 0x5EC0C0DE

# encrypts what comes on stdin, one "ROC packet-in-hex" per line, for the master key and
# suite of its arguments (the harness's encrypt_rtp counts a rollover at sequence number 0
# itself: it gets the counter before it there)
ENCRYPT = r"""
use strict; use warnings;
use NGCP::Rtpclient::SRTP;
$| = 1;
my $suite = $NGCP::Rtpclient::SRTP::crypto_suites{$ARGV[0]} or die "no suite $ARGV[0]";
my $master = pack('H*', $ARGV[1]);
my ($key, $salt) = (substr($master, 0, $suite->{key_length}),
                    substr($master, $suite->{key_length}));
my ($skey, $sauth, $ssalt) = NGCP::Rtpclient::SRTP::gen_rtp_session_keys($key, $salt);
while (my $line = <STDIN>) {
    my ($roc, $hex) = split ' ', $line;
    my $packet = pack('H*', $hex);
    my $seq = unpack('x2n', $packet);
    my ($out) = NGCP::Rtpclient::SRTP::encrypt_rtp($suite, $skey, $ssalt, $sauth,
        $seq == 0 ? $roc - 1 : $roc, '', 0, 0, 0, $packet);
    print unpack('H*', $out), "\n";
}
"""

# (name, [(sequence number, the sender's ROC), ...]); a ROC of None: a packet whose tag
# is broken (forged or damaged on the way)
STEPS = {
    # the harness's own stream starting at sequence number 0: ROC 1 from the first packet
    "first packet one rollover ahead": [(0, 1), (1, 1), (2, 1)],
    "first packet at zero": [(0, 0), (1, 0), (2, 0)],
    "a rollover we did not see": [(100, 0), (101, 0), (102, 1), (103, 1)],
    "wrap, then back one": [(65534, 0), (65535, 0), (0, 1), (1, 1), (2, 0), (3, 0)],
    "two rollovers, then reset to zero": [
        (65535, 0), (0, 1), (0x7000, 1), (0xE000, 1), (0xFFFF, 1), (0, 2), (1, 2),
        (2, 0), (3, 0)],
    "sequence numbers jump ahead, the counter stays": [
        (65535, 0), (0, 1), (8, 1), (0x9000, 1), (0x9001, 1), (0xFFFF, 1), (0, 2)],
    "sequence numbers jump back, the counter stays": [
        (65535, 0), (0, 1), (0x7000, 1), (0xF000, 1), (0x100, 1), (0x101, 1)],
    "two rollovers ahead is not guessed": [(100, 0), (101, 0), (102, 2), (103, 2), (104, 0)],
    "broken tags leave the counter alone": [
        (65535, 0), (0, 1), (1, None), (2, 1), (3, None), (4, 1)],
}


def _encrypt(steps: list[tuple[int, int | None]]) -> list[bytes]:
    lines = "".join(f"{roc or 0} {rtp(seq, SSRC).hex()}\n" for seq, roc in steps)
    done = subprocess.run(["perl", "-e", ENCRYPT, SUITE, MASTER.hex()], input=lines,
                          capture_output=True, text=True, timeout=30, check=True)
    packets = [bytes.fromhex(line) for line in done.stdout.split()]
    # a broken tag: the last byte flipped
    return [p if roc is not None else p[:-1] + bytes((p[-1] ^ 0xFF,))
            for p, (_seq, roc) in zip(packets, steps, strict=True)]


def _perl_ready() -> str | None:
    if not os.path.exists("/usr/bin/rtpengine"):
        return "rtpengine is not installed"
    done = subprocess.run(["perl", "-MNGCP::Rtpclient::SRTP", "-e", "1"], capture_output=True)
    return None if done.returncode == 0 else "NGCP::Rtpclient::SRTP is not installed"


pytestmark = pytest.mark.skipif(_perl_ready() is not None, reason=_perl_ready() or "")


@pytest.fixture(scope="module")
def daemons():
    with (running(lambda: start_reference(23000, 23499)) as reference,
          running(lambda: start_ours(23500, 23999)) as ours):
        yield reference, ours


def _relayed(daemon, call: str, packets: list[bytes]) -> tuple[list[int], int]:
    """The sequence numbers the plain party got of ``packets`` (sent by the SRTP one), and
    the errors the daemon counted on the SRTP party's RTP stream."""
    crypto = f"crypto:1 {SUITE} inline:{base64.b64encode(MASTER).decode()}"
    with ExitStack() as cleanup:
        a_rtp, _a_rtcp, a_port = _pair(cleanup)
        b_rtp, _b_rtcp, b_port = _pair(cleanup)
        ids = {"call-id": call, "from-tag": "a"}
        offer = daemon.request({"command": "offer", **ids, "transport-protocol": "RTP/AVP",
                                "sdp": body(a_port, "RTP/SAVP", [crypto])})
        assert offer["result"] == "ok", offer
        answer = daemon.request({"command": "answer", **ids, "to-tag": "b",
                                 "sdp": body(b_port)})
        assert answer["result"] == "ok", answer
        got = []
        for packet in packets:
            a_rtp.sendto(packet, ("127.0.0.1", port_of(answer["sdp"])))
            received = _recv(b_rtp, patience=2 if not got else 1)
            if received is not None:
                assert received[12:] == rtp(int.from_bytes(received[2:4], "big"), SSRC)[12:]
                got.append(int.from_bytes(received[2:4], "big"))
        stats = daemon.request({"command": "query", "call-id": call})
        errors = stats["tags"]["a"]["medias"][0]["streams"][0]["stats"]["errors"]
        daemon.request({"command": "delete", "call-id": call})
    return got, errors


@pytest.mark.parametrize("name", list(STEPS))
def test_rollover_guesses_as_rtpengine(daemons, name):
    reference, ours = daemons
    packets = _encrypt(STEPS[name])
    theirs = _relayed(reference, f"roc-{name}-10.5", packets)
    mine = _relayed(ours, f"roc-{name}", packets)
    assert mine == theirs
