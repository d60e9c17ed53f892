"""Peer input never raises anything but the module's own error (the worker logs it and goes on)."""

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from rtpengined.secure import dtls, ice, sdes, stun

CERT = dtls.Certificate()


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=120))
def test_stun_parse_and_agent_on_random_bytes(data):
    try:
        stun.parse(data)
    except stun.StunError:
        pass
    agent = ice.IceAgent("u", "p" * 22, controlling=True)
    agent.set_remote("r", "q" * 22, [("127.0.0.1", 9, 1)])
    agent.receive(data, ("127.0.0.1", 9), 0.0)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80), st.integers(0, 0xFFFF))
def test_stun_with_a_valid_header_and_random_attributes(body, attr_type):
    body = struct.pack("!HH", attr_type, len(body)) + body + b"\0" * (-len(body) % 4)
    data = struct.pack("!HHI12s", 0x0001, len(body), stun.MAGIC_COOKIE, bytes(12)) + body
    try:
        msg = stun.parse(data)
        msg.check_integrity(b"k")
    except stun.StunError:
        pass


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=120))
def test_sdes_parse_on_random_text(text):
    for value in (text, "crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + text):
        try:
            sdes.parse(value)
        except sdes.SdesError:
            pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_dtls_endpoint_on_random_datagrams(data):
    server = dtls.DtlsEndpoint(CERT, False, CERT.fingerprint())
    try:
        server.receive(data, 0.0)
    except dtls.DtlsError:
        pass
