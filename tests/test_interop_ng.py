"""Interop with rtpengine's own clients against a subprocess daemon.

``rtpengine-ng-client`` (offer/answer/delete with the SDP files the 10.5 fixtures were
made with: the produced SDP must equal the captured one with ports masked) and the Perl
``NGCP::Rtpengine::Test`` harness from rtpengine-utils (a client pair doing
offer/answer/query/delete). The Perl harness needs IO::Multiplex, Net::Interface,
Crypt::OpenSSL::RSA and Digest::CRC (Debian: libio-multiplex-perl libnet-interface-perl
libcrypt-openssl-rsa-perl libdigest-crc-perl); the test is skipped without them.
"""

from __future__ import annotations

import os
import re
import subprocess

from tests.calls_helpers import PortTokens
from tests.conftest import FIXTURES, free_udp_port_block

DAEMON_ARGS = ("--config-file=none", "-i", "127.0.0.1", "-m", "19000", "-M", "19999")


def ng_client(port: int, *args: str) -> str:
    done = subprocess.run(
        ["rtpengine-ng-client", "--proxy-address=127.0.0.1", f"--proxy-port={port}", *args],
        capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr
    return done.stdout


def new_sdp(output: str) -> str:
    """The 'New SDP' block rtpengine-ng-client prints."""
    block = output.split("New SDP:\n", 1)[1]
    return block.split("-----8<-----8<-----8<-----8<-----8<-----\n", 1)[1].split(
        "----->8", 1)[0]


def test_ng_client_offer_answer_delete_match_fixtures(daemon_process):
    proc = daemon_process(*DAEMON_ARGS)
    captured, ours = PortTokens(40000, 40999), PortTokens(19000, 19999)
    sdp_dir = os.path.join(FIXTURES, "sdp")
    steps = [
        ("offer1", ["offer", "--call-id=fixture-call-1", "--from-tag=caller1"]),
        ("answer1", ["answer", "--call-id=fixture-call-1", "--from-tag=caller1",
                     "--to-tag=callee1"]),
    ]
    for name, args in steps:
        out = ng_client(proc.ng_port, *args, f"--sdp-file={os.path.join(sdp_dir, name + '.sdp')}")
        with open(os.path.join(FIXTURES, "ng", name + ".txt")) as handle:
            expected = handle.read()
        assert ours.text(new_sdp(out)) == captured.text(new_sdp(expected)), name
    out = ng_client(proc.ng_port, "delete", "--call-id=fixture-call-1", "--from-tag=caller1")
    assert "Result dictionary:" in out
    keys = re.findall(r"^  ('[^']+'|\w+) =>", out, re.M)
    assert keys == ["SSRC", "created", "created_us", "'last signal'", "tags", "totals"]
    assert "caller1 => {" in out and "callee1 => {" in out
    out = ng_client(proc.ng_port, "list")
    assert "fixture-call-1" in out  # default delete-delay keeps it listed
    out = ng_client(proc.ng_port, "delete", "--call-id=fixture-call-1", "--delete-delay=0")
    assert "fixture-call-1" not in ng_client(proc.ng_port, "list")


PERL_SCRIPT = r"""
use strict; use warnings;
use NGCP::Rtpengine::Test;
my $t = NGCP::Rtpengine::Test->new();
my ($a, $b) = $t->client_pair({}, {});
$a->offer($b, ICE => 'remove', label => 'caller');
print "OFFERED\n$b->{remote_sdp_raw}";
$b->answer($a, ICE => 'remove');
print "ANSWERED\n$a->{remote_sdp_raw}";
my $q = $t->{control}->req({command => 'query', 'call-id' => $t->{callid}});
print "QUERY $q->{result} ", scalar(keys %{$q->{tags}}), "\n";
my $out = $a->teardown();
print "DELETE $out->{result} ", scalar(keys %{$out->{tags} // {}}), "\n";
"""


def test_perl_rtpengine_test_harness(daemon_process, tmp_path):
    proc = daemon_process(*DAEMON_ARGS)
    script = tmp_path / "call.pl"
    script.write_text(PERL_SCRIPT)
    env = dict(os.environ, RTPE_TEST_V4_ADDRS="127.0.0.1", RTPE_TEST_V6_ADDRS="::1",
               RTPENGINE_HOST="127.0.0.1", RTPENGINE_PORT=str(proc.ng_port),
               RTPE_TEST_MEDIA_PORT=str(free_udp_port_block(16)))
    done = subprocess.run(["perl", str(script)], capture_output=True, text=True, env=env,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    offered = out.split("OFFERED\n")[1].split("ANSWERED\n")[0]
    answered = out.split("ANSWERED\n")[1].split("QUERY")[0]
    for body in (offered, answered):
        port = int(re.search(r"^m=audio (\d+) RTP/AVP 0$", body, re.M).group(1))
        assert 19000 <= port <= 19999 and port % 2 == 0
        assert f"a=rtcp:{port + 1}" in body and "c=IN IP4 127.0.0.1" in body
        assert "a=ice-" not in body
    assert "QUERY ok 2" in out and "DELETE ok 2" in out
