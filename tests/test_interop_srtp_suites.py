"""Every SDES suite and session parameter the relay does, against SRTP implementations that
are not ours: rtpengine 10.5's own, and the Perl one of rtpengine's test harness.

libsrtp has profiles only for AES_CM_128_HMAC_SHA1_80/32 and the AEAD-GCM suites; the relay
sets libsrtp's crypto policy itself for AES-192/256 counter mode (RFC 6188), the NULL cipher
and the ``UNENCRYPTED_SRTP``/``UNENCRYPTED_SRTCP``/``UNAUTHENTICATED_SRTP`` parameters
(RFC 4568). A round trip through our own contexts would not show a wrong policy (both ends
would share the mistake), so the other end is always somebody else's SRTP:

* a chain ``plain party -> rtpengine 10.5 (RTP -> SRTP) -> rtpengined (SRTP -> RTP) -> plain
  party``: rtpengine encrypts with the suite and parameters its ``SDES`` list names, we
  decrypt, and back; RTP and RTCP must arrive byte for byte at both plain parties;
* ``NGCP::Rtpengine::Test`` clients (rtpengine-utils) speaking SDES through rtpengined; the
  harness checks every packet it receives against what its peer sent and dies on a
  mismatch.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from contextlib import ExitStack

import pytest

from rtpengined.secure import sdes
from tests.conftest import free_udp_port_block
from tests.differential import start_ours, start_reference
from tests.test_redis_sdes import _pair, _recv
from tests.test_secure_sdes_relay import body, cryptos, port_of, rtcp, rtp

CHAINED = [
    ("AES_256_CM_HMAC_SHA1_80", ()),
    ("AES_256_CM_HMAC_SHA1_32", ()),
    # (NULL_HMAC_SHA1_*: rtpengine 10.5 crashes encrypting it; tests/test_secure_srtp.py
    # checks ours against the RFC instead)
    ("AES_CM_128_HMAC_SHA1_80", ("unencrypted_srtp",)),
    ("AES_CM_128_HMAC_SHA1_80", ("unencrypted_srtcp",)),
    ("AES_CM_128_HMAC_SHA1_32", ("unauthenticated_srtp",)),
    ("AES_256_CM_HMAC_SHA1_80", ("unencrypted_srtp", "unencrypted_srtcp")),
]


@pytest.fixture(scope="module")
def chain():
    reference = start_reference(22000, 22499)
    try:
        ours = start_ours(22500, 22999)
        try:
            yield reference, ours
        finally:
            ours.stop()
    finally:
        reference.stop()


@pytest.mark.parametrize(("suite", "parameters"), CHAINED,
                         ids=["-".join((s, *p)) for s, p in CHAINED])
def test_rtpengine_encrypts_we_decrypt_and_back(chain, suite, parameters):
    reference, ours = chain
    call = f"chain-{suite}-{'-'.join(parameters)}"
    with ExitStack() as cleanup:
        a_rtp, a_rtcp, a_port = _pair(cleanup)
        b_rtp, b_rtcp, b_port = _pair(cleanup)
        ids = {"call-id": call, "from-tag": "a"}
        others = [f"no-{s.name}" for s in sdes.SUITES if s.name != suite]
        # SDES alone (`DTLS: off`): an offer with a fingerprint beside its keys is answered
        # with DTLS by both daemons, and gets our DTLS client hello at once (10.5's way).
        first = reference.request({"command": "offer", **ids, "transport-protocol": "RTP/SAVP",
                                   "SDES": [*others, *parameters], "DTLS": "off",
                                   "sdp": body(a_port)})
        assert first["result"] == "ok", first
        [line] = cryptos(first["sdp"])
        assert line.suite.name == suite and line.flags == {p.upper() for p in parameters}
        second = ours.request({"command": "offer", **ids, "transport-protocol": "RTP/AVP",
                               "sdp": first["sdp"]})
        assert second["result"] == "ok", second
        assert "a=crypto" not in second["sdp"]
        back = ours.request({"command": "answer", **ids, "to-tag": "b", "sdp": body(b_port)})
        assert back["result"] == "ok", back
        [answered] = cryptos(back["sdp"])
        assert answered.suite.name == suite and answered.flags == line.flags
        last = reference.request({"command": "answer", **ids, "to-tag": "b",
                                  "sdp": back["sdp"]})
        assert last["result"] == "ok", last
        to_reference, to_ours = port_of(last["sdp"]), port_of(second["sdp"])
        for seq in range(1, 6):
            sent = rtp(seq, 0xA0A0A0A0)
            a_rtp.sendto(sent, ("127.0.0.1", to_reference))
            assert _recv(b_rtp) == sent, f"RTP {seq} A -> B"
            reply = rtp(seq, 0xB0B0B0B0)
            b_rtp.sendto(reply, ("127.0.0.1", to_ours))
            assert _recv(a_rtp) == reply, f"RTP {seq} B -> A"
        report = rtcp(0xA0A0A0A0, 1)
        a_rtcp.sendto(report, ("127.0.0.1", to_reference + 1))
        assert _recv(b_rtcp) == report, "RTCP A -> B"
        report = rtcp(0xB0B0B0B0, 2)
        b_rtcp.sendto(report, ("127.0.0.1", to_ours + 1))
        assert _recv(a_rtcp) == report, "RTCP B -> A"
        # Both count an SRTP leg's packets decrypted (5 RTP packets of 172 bytes in on the
        # leg facing the other daemon, one 28-byte report on its RTCP port), no errors.
        for daemon, srtp_leg in ((ours, "a"), (reference, "b")):
            stats = daemon.request({"command": "query", "call-id": call})
            streams = stats["tags"][srtp_leg]["medias"][0]["streams"]
            assert [(s["stats"]["packets"], s["stats"]["bytes"], s["stats"]["errors"])
                    for s in streams] == [(5, 5 * 172, 0), (1, 28, 0)], daemon
        for daemon in (reference, ours):
            daemon.request({"command": "delete", "call-id": call})


def test_aes_192_is_negotiated_but_dropped(chain):
    """libsrtp's AES-192 does not decrypt what rtpengine (or the Perl harness) encrypts:
    the suite is answered as 10.5 answers it, and its packets are dropped and counted as
    errors rather than relayed wrong."""
    reference, ours = chain
    call = "chain-aes-192"
    with ExitStack() as cleanup:
        a_rtp, _a_rtcp, a_port = _pair(cleanup)
        b_rtp, _b_rtcp, b_port = _pair(cleanup)
        ids = {"call-id": call, "from-tag": "a"}
        others = [f"no-{s.name}" for s in sdes.SUITES if s.name != "AES_192_CM_HMAC_SHA1_80"]
        first = reference.request({"command": "offer", **ids, "transport-protocol": "RTP/SAVP",
                                   "SDES": others, "DTLS": "off", "sdp": body(a_port)})
        second = ours.request({"command": "offer", **ids, "transport-protocol": "RTP/AVP",
                               "sdp": first["sdp"]})
        back = ours.request({"command": "answer", **ids, "to-tag": "b", "sdp": body(b_port)})
        assert [c.suite.name for c in cryptos(back["sdp"])] == ["AES_192_CM_HMAC_SHA1_80"]
        last = reference.request({"command": "answer", **ids, "to-tag": "b",
                                  "sdp": back["sdp"]})
        a_rtp.sendto(rtp(1, 0xA0A0A0A0), ("127.0.0.1", port_of(last["sdp"])))
        assert _recv(b_rtp) is None
        b_rtp.sendto(rtp(1, 0xB0B0B0B0), ("127.0.0.1", port_of(second["sdp"])))
        assert _recv(a_rtp) is None
        for daemon in (reference, ours):
            daemon.request({"command": "delete", "call-id": call})


# -- rtpengine's Perl test harness as the SRTP party -------------------------------------

PERL_MODULES = ("NGCP::Rtpengine::Test",)


def _perl_ready() -> str | None:
    if shutil.which("perl") is None:
        return "perl is not installed"
    done = subprocess.run(["perl", "-MNGCP::Rtpengine::Test", "-e", "1"], capture_output=True)
    return None if done.returncode == 0 else "NGCP::Rtpengine::Test is not installed"


# Both clients on IPv4: the harness otherwise picks a family per client at random, and a
# call whose parties use different families has no media (with rtpengine as well).
PERL_CALL = r"""
use strict; use warnings;
use Socket;
use NGCP::Rtpengine::Test;
my ($a_args, $b_args, $offer_args, $trim) = @ARGV;
my %a = eval $a_args; my %b = eval $b_args; my @offer = eval $offer_args;
my $t = NGCP::Rtpengine::Test->new();
my ($a, $b) = $t->client_pair({%a, sockdomain => AF_INET}, {%b, sockdomain => AF_INET});
$t->timer_once(2, sub { $t->stop(); });
$a->offer($b, ICE => 'remove', @offer);
$b->{sdes}->trim() if $trim;
$b->answer($a, ICE => 'remove');
for my $side ([A => $a], [B => $b]) {
    my ($name, $c) = @$side;
    next unless $c->{sdes};
    print "$name SUITE $c->{sdes}->{suite}->{str}\n";
}
$a->start_rtp(); $a->start_rtcp(); $b->start_rtp(); $b->start_rtcp();
# The harness decrypts a stream whose first sequence number is 0 as of rollover counter 1
# (it counts a rollover at every 0; its random start is a fraction, packed whole) where the
# relay encrypted it as of 0: rtpengine 10.5 fails there as well. A party whose peer
# decrypts starts anywhere else (its own SRTP starting at 0, which it encrypts as of 1, is
# tests/test_diff_srtp_roc.py's).
for my $pair ([$a, $b], [$b, $a]) {
    my ($sender, $receiver) = @$pair;
    $sender->{rtp}->{seq} = int($sender->{rtp}->{seq}) || 1 if $receiver->{sdes};
}
$t->run();
$a->teardown();
print "A RECEIVED @{$a->{media_packets_received}}\n";
print "B RECEIVED @{$b->{media_packets_received}}\n";
"""

# (name, A's client arguments, B's, the offer's arguments, B trims to one suite)
PERL_CALLS = [
    *[(f"sdes-{suite}-to-plain", f"(sdes => 1, sdes_args => {{suites => ['{suite}']}})", "()",
       "('transport-protocol' => 'RTP/AVP')", 0)
      for suite in ("AES_256_CM_HMAC_SHA1_80", "AES_256_CM_HMAC_SHA1_32",
                    "AES_CM_128_HMAC_SHA1_32")],
    # the answerer keeps every suite it can do: its first is AES_256_CM_HMAC_SHA1_80
    ("plain-to-sdes-full-list", "()", "(sdes => 1)", "('transport-protocol' => 'RTP/SAVP')", 0),
    ("sdes-to-sdes-restricted", "(sdes => 1, sdes_args => {suites => [qw(AES_256_CM_HMAC_SHA1_80 "
     "AES_256_CM_HMAC_SHA1_32 AES_CM_128_HMAC_SHA1_80 AES_CM_128_HMAC_SHA1_32)]})",
     "(sdes => 1)",
     "(flags => [qw(SDES-no-AES_256_CM_HMAC_SHA1_80 SDES-no-AES_256_CM_HMAC_SHA1_32)])", 1),
]


@pytest.mark.skipif(_perl_ready() is not None, reason=_perl_ready() or "")
@pytest.mark.parametrize(("name", "a_args", "b_args", "offer_args", "trim"), PERL_CALLS,
                         ids=[c[0] for c in PERL_CALLS])
def test_perl_harness_sdes_media(daemon_process, tmp_path, name, a_args, b_args, offer_args,
                                 trim):
    proc = daemon_process("--config-file=none", "-i", "127.0.0.1", "-i", "::1",
                          "-m", "43000", "-M", "43999")
    script = tmp_path / "call.pl"
    script.write_text(PERL_CALL)
    env = dict(os.environ, RTPE_TEST_V4_ADDRS="127.0.0.1", RTPE_TEST_V6_ADDRS="::1",
               RTPENGINE_HOST="127.0.0.1", RTPENGINE_PORT=str(proc.ng_port),
               RTPE_TEST_MEDIA_PORT=str(free_udp_port_block(16)))
    done = subprocess.run(["perl", str(script), a_args, b_args, offer_args, str(trim)],
                          capture_output=True, text=True, env=env, timeout=30)
    assert done.returncode == 0, done.stderr  # the harness dies on a packet it did not expect
    received = dict(re.findall(r"^([AB]) RECEIVED (\d+) \d+$", done.stdout, re.M))
    # 2 s of 20 ms packets each way: every one sent while the call was up arrives
    assert int(received["A"]) >= 80 and int(received["B"]) >= 80, done.stdout
