"""`WebrtcLeg` (ICE + DTLS-SRTP of one stream, sans-I/O): two legs against each other in
memory, the way a relay worker and a browser meet on a media port, without sockets."""

import struct
import time

import pytest
from OpenSSL import SSL

from rtpengined.secure import dtls, stun
from rtpengined.secure.webrtc import DtlsSpec, IceSpec, WebrtcLeg

A = ("192.0.2.1", 30000)
B = ("192.0.2.2", 40000)


@pytest.fixture(scope="module")
def certs():
    return dtls.Certificate(), dtls.Certificate()


def pair(certs, with_ice=True, fingerprint_b=None):
    cert_a, cert_b = certs
    ice_a = IceSpec("ufa", "a" * 22, "ufb", "b" * 22, True, ((B, 1000),)) if with_ice else None
    ice_b = IceSpec("ufb", "b" * 22, "ufa", "a" * 22, False, ((A, 1000),)) if with_ice else None
    a = WebrtcLeg(cert_a, DtlsSpec(True, fingerprint_b or cert_b.fingerprint(), "x"), ice_a,
                  default_peer=B)
    b = WebrtcLeg(cert_b, DtlsSpec(False, cert_a.fingerprint(), "y"), ice_b)
    return a, b


def run(a, b, rounds=200):
    """Deliver what each leg sends to the other (by address) until both settle."""
    queue = []
    for _ in range(rounds):
        now = time.monotonic()
        for leg, own in ((a, A), (b, B)):
            deadline = leg.deadline()
            if deadline is not None and now >= deadline:
                queue += [(d, own, dest) for d, dest in leg.poll(now)]
        if not queue:
            if a.inbound and b.inbound:
                return
            time.sleep(0.01)
            continue
        data, source, dest = queue.pop(0)
        target = a if dest == A else b
        queue += [(d, dest, to) for d, to in target.receive(data, source, time.monotonic())]
    raise AssertionError("legs did not connect")


@pytest.mark.parametrize("with_ice", [True, False])
def test_two_legs_connect_and_their_srtp_contexts_match(certs, with_ice):
    a, b = pair(certs, with_ice)
    run(a, b)
    assert a.peer == B and b.peer == A
    assert a.status().verified and b.status().verified and a.suite == b.suite
    assert a.suite in ("AEAD_AES_256_GCM", "AEAD_AES_128_GCM", "AES_CM_128_HMAC_SHA1_80")
    rtp = struct.pack("!BBHII", 0x80, 0, 7, 160, 0x1234) + b"\x11" * 160
    assert b.inbound.unprotect(a.outbound.protect(rtp)) == rtp
    assert a.inbound.unprotect(b.outbound.protect(rtp)) == rtp
    if not with_ice:
        assert a.deadline() is None and b.deadline() is None  # nothing to time any more
    else:  # only the consent freshness checks (RFC 7675), 4-6 s ahead
        now = time.monotonic()
        for leg in (a, b):
            assert leg.deadline() <= now + 6.0
            assert leg.agent.consent_due == leg.deadline()


def test_dtls_waits_for_a_nominated_pair(certs):
    a, b = pair(certs)
    now = time.monotonic()
    assert a.peer is None and not a.started  # the client does not start before ICE
    first = a.poll(now)
    assert first and all(stun.demux(d) == "stun" for d, _ in first)
    # DTLS from an address no check came from is ignored
    assert b.receive(b"\x16\xfe\xfd" + bytes(20), ("192.0.2.66", 1), now) == []


def test_fingerprint_mismatch_fails_the_leg_without_keys(certs):
    a, b = pair(certs, fingerprint_b=certs[0].fingerprint())  # a expects the wrong certificate
    with pytest.raises(AssertionError):
        run(a, b, rounds=100)
    assert a.failed and a.inbound is None and not a.status().verified


def test_new_fingerprint_on_a_nominated_pair_is_a_new_handshake_without_new_checks(certs):
    a, b = pair(certs)
    run(a, b)
    old = a.outbound
    cert_c = dtls.Certificate()
    # b's side is a new browser session on the same ICE path: a re-INVITE with a new fingerprint
    a2 = WebrtcLeg(certs[0], DtlsSpec(True, cert_c.fingerprint(), "x"), a.ice_spec, agent=a.agent)
    b2 = WebrtcLeg(cert_c, DtlsSpec(False, certs[0].fingerprint(), "z"), b.ice_spec, agent=b.agent)
    assert a2.peer == B and a2.deadline() == 0.0  # the client starts at once
    first = a2.poll(time.monotonic())
    assert first and all(stun.demux(d) == "dtls" for d, _ in first)  # no ICE check first
    for data, _ in first:
        for reply, to in b2.receive(data, A, time.monotonic()):
            assert to == A
            a2.receive(reply, B, time.monotonic())
    run(a2, b2)
    assert a2.outbound is not old and a2.status().verified
    rtp = struct.pack("!BBHII", 0x80, 0, 9, 160, 0x99) + b"\x22" * 160
    assert b2.inbound.unprotect(a2.outbound.protect(rtp)) == rtp


def test_a_terminated_dtls_leg_never_moves_to_the_kernel(certs):
    """The control plane marks the leg's stream as SRTP, so kernel forwarding (which would
    pass the browser's SRTP on undecrypted) leaves it, and its sink, in userspace."""
    from rtpengined.media.kernel import why_userspace
    from rtpengined.model import CallMedia, Endpoint, Interface, Stream
    from rtpengined.offer_answer import webrtc

    interface = Interface("default", "192.0.2.1", "192.0.2.1")
    media = CallMedia(index=1, type="audio", protocol="UDP/TLS/RTP/SAVPF")
    browser = Stream(interface=interface, port=30000, endpoint=Endpoint("192.0.2.9", 5000),
                     confirmed=True)
    phone = Stream(interface=interface, port=30002, endpoint=Endpoint("192.0.2.10", 6000),
                   confirmed=True)
    browser.sink, phone.sink = phone, browser
    media.streams.append(browser)
    media.remote_webrtc = webrtc.RemoteParams("sha-256 AA:BB", "actpass", None, None, ())
    assert why_userspace(browser) is None
    assert webrtc.set_leg(media, webrtc.leg_spec(media, True, certs[0], None), "active") == [browser]
    assert why_userspace(browser) == "SRTP" and why_userspace(phone) == "SRTP"
    assert webrtc.set_leg(media, None, None) == [browser]
    assert why_userspace(browser) is None


def test_ice_lite_leg_answers_only_and_takes_the_nominated_pair(certs):
    """We declared a=ice-lite: no checks of our own, the full peer (controlling) nominates,
    and the handshake starts on that pair."""
    cert_a, cert_b = certs
    lite = WebrtcLeg(cert_a, DtlsSpec(True, cert_b.fingerprint(), "x"),
                     IceSpec("ufa", "a" * 22, "ufb", "b" * 22, True, ((B, 1000),), lite=True))
    full = WebrtcLeg(cert_b, DtlsSpec(False, cert_a.fingerprint(), "y"),
                     IceSpec("ufb", "b" * 22, "ufa", "a" * 22, True, ((A, 1000),)))
    assert not lite.agent.controlling and lite.deadline() is None
    assert lite.poll(time.monotonic()) == []
    run(lite, full)
    assert lite.peer == B and lite.status().verified and full.status().verified


def test_ice_only_legs_select_a_pair_without_any_handshake():
    """A leg that speaks ICE without DTLS (a plain or SDES party whose SDP had ICE): the
    agent runs, the nominated pair is the peer, no DTLS is sent or taken, no keys exist."""
    a = WebrtcLeg(None, None, IceSpec("ufa", "a" * 22, "ufb", "b" * 22, True, ((B, 1000),)))
    b = WebrtcLeg(None, None, IceSpec("ufb", "b" * 22, "ufa", "a" * 22, False, ((A, 1000),)))
    queue = []
    for _ in range(200):
        now = time.monotonic()
        for leg, own in ((a, A), (b, B)):
            deadline = leg.deadline()
            if deadline is not None and now >= deadline:
                queue += [(d, own, dest) for d, dest in leg.poll(now)]
        if a.peer == B and b.peer == A and not queue:
            break
        if not queue:
            time.sleep(0.01)
            continue
        data, source, dest = queue.pop(0)
        assert stun.demux(data) == "stun"  # never a DTLS record
        target = a if dest == A else b
        queue += [(d, dest, to) for d, to in target.receive(data, source, time.monotonic())]
    assert a.peer == B and b.peer == A
    assert not a.terminates_dtls and a.inbound is None and a.suite is None
    assert a.status() == (B, False, None, False, False)
    assert a.receive(b"\x16\xfe\xfd" + bytes(10), B, time.monotonic()) == []  # DTLS: ignored
    assert a.close() == []


class _GivenUp:
    """A DTLS connection OpenSSL has given up on: its 12 retransmissions (about 7 minutes)
    went unanswered, and pyOpenSSL raises from the next timeout call."""

    def DTLSv1_get_timeout(self):
        return 0.0

    def DTLSv1_handle_timeout(self):
        raise SSL.Error([("SSL routines", "", "read timeout expired")])

    def bio_read(self, size):
        raise SSL.WantReadError()


def test_a_hello_nobody_answers_fails_the_leg_without_raising():
    """A handshake towards a peer that never answers (an offer that rings for minutes, a
    blackholed address) ends as a failed leg; the relay worker's loop must not see the
    exception (it would take every call on the worker down with it)."""
    cert = dtls.Certificate()
    leg = WebrtcLeg(cert, DtlsSpec(True, cert.fingerprint(), "x"), None,
                    default_peer=("127.0.0.1", 9))
    assert leg.poll(time.monotonic())  # the ClientHello
    leg.endpoint._conn = _GivenUp()
    assert leg.poll(time.monotonic()) == [] and leg.failed
    assert leg.endpoint.closed and leg.repeat_hello() == []
