"""STUN codec and ICE agent, checked against aioice: its STUN codec, and its real `Connection`
doing connectivity checks with ours over loopback UDP in both roles and through role conflicts."""

import asyncio
import struct

import aioice
import pytest
from aioice import stun as aiostun
from secure_helpers import loopback_connection

from rtpengined.secure import ice, stun

PWD = "VjWixAZ5oHvWKX1cntv1Mh65to"


@pytest.mark.parametrize(("first", "kind"), [
    (0, "stun"), (3, "stun"), (4, ""), (16, "zrtp"), (19, "zrtp"), (20, "dtls"), (63, "dtls"),
    (64, "turn"), (79, "turn"), (80, ""), (127, ""), (128, "rtp"), (191, "rtp"), (192, ""), (255, "")])
def test_rfc7983_demux(first, kind):
    assert stun.demux(bytes([first, 1, 2])) == kind
    assert stun.demux(b"") == ""


def test_rtcp_is_told_from_rtp_by_its_packet_type():
    assert [stun.is_rtcp(bytes([0x80, pt])) for pt in (0, 96, 127, 191, 192, 200, 223, 224)] == [
        False, False, False, False, True, True, True, False]
    assert not stun.is_rtcp(b"\x80")


def test_our_messages_parse_in_aioice_with_integrity_and_fingerprint():
    msg = stun.Message(stun.BINDING, stun.REQUEST)
    msg.add(stun.USERNAME, b"abc:def").add(stun.PRIORITY, struct.pack("!I", 12345))
    msg.add(stun.ICE_CONTROLLING, struct.pack("!Q", 99)).add(stun.USE_CANDIDATE)
    theirs = aiostun.parse_message(msg.encode(PWD.encode()))
    assert theirs.check_message_integrity(PWD.encode()) and not theirs.check_message_integrity(b"x")
    assert "FINGERPRINT" in theirs.attributes
    assert theirs.transaction_id == msg.transaction_id
    assert theirs.attributes["USERNAME"] == "abc:def" and theirs.attributes["PRIORITY"] == 12345
    assert theirs.attributes["ICE-CONTROLLING"] == 99 and "USE-CANDIDATE" in theirs.attributes
    ok = stun.Message(stun.BINDING, stun.SUCCESS, msg.transaction_id)
    ok.add(stun.XOR_MAPPED_ADDRESS, stun.xor_address("2001:db8::7", 4321, msg.transaction_id))
    parsed = aiostun.parse_message(ok.encode(b"k"))
    assert parsed.check_message_integrity(b"k")
    assert parsed.attributes["XOR-MAPPED-ADDRESS"] == ("2001:db8::7", 4321)


def test_aioice_messages_parse_here():
    m = aiostun.Message(aiostun.Method.BINDING, aiostun.Class.ERROR)
    m.attributes["ERROR-CODE"] = (487, "Role Conflict")
    m.attributes["XOR-MAPPED-ADDRESS"] = ("192.0.2.9", 5000)
    m.add_message_integrity(PWD.encode())
    m.add_fingerprint()
    ours = stun.parse(bytes(m))
    assert (ours.method, ours.cls) == (stun.BINDING, stun.ERROR)
    assert ours.check_integrity(PWD.encode()) and not ours.check_integrity(b"other")
    assert stun.parse_error_code(ours.get(stun.ERROR_CODE)) == 487
    assert stun.parse_xor_address(ours.get(stun.XOR_MAPPED_ADDRESS), ours.transaction_id) == ("192.0.2.9", 5000)
    bad = bytearray(bytes(m))
    bad[-1] ^= 1
    with pytest.raises(stun.StunError):
        stun.parse(bytes(bad))
    for junk in (b"", b"\x00\x01\x00\x00", b"\x00\x01\x00\x04" + bytes(16), b"\xc0" + bytes(19)):
        with pytest.raises(stun.StunError):
            stun.parse(junk)


def request(username, pwd, role=None, tb=0, use=False):
    m = stun.Message(stun.BINDING, stun.REQUEST)
    if username:
        m.add(stun.USERNAME, username.encode())
    if role:
        m.add(role, struct.pack("!Q", tb))
    if use:
        m.add(stun.USE_CANDIDATE)
    return m.encode(pwd.encode() if pwd else None)


def answer_code(out):
    reply = stun.parse(out[0][0])
    return stun.parse_error_code(reply.get(stun.ERROR_CODE)) if reply.cls == stun.ERROR else 200


def test_responder_checks_credentials_and_resolves_role_conflicts():
    src = ("127.0.0.1", 5000)
    agent = ice.IceAgent("ours", PWD, controlling=True, tie_breaker=100)
    assert answer_code(agent.receive(request("", PWD), src, 0)[0]) == 400
    assert answer_code(agent.receive(request("ours:t", None), src, 0)[0]) == 400
    assert answer_code(agent.receive(request("ours:t", "wrong"), src, 0)[0]) == 401
    assert answer_code(agent.receive(request("other:t", PWD), src, 0)[0]) == 401
    out, res = agent.receive(request("ours:t", PWD, stun.ICE_CONTROLLING, 50), src, 0)
    assert answer_code(out) == 487 and agent.controlling and res.reason == "487"
    out, res = agent.receive(request("ours:t", PWD, stun.ICE_CONTROLLING, 500, use=True), src, 0)
    assert answer_code(out) == 200 and not agent.controlling and res.nominated
    reply = stun.parse(out[0][0])
    assert reply.check_integrity(PWD.encode())
    assert stun.parse_xor_address(reply.get(stun.XOR_MAPPED_ADDRESS), reply.transaction_id) == src
    assert agent.receive(b"\x00\x01junk", src, 0)[1].kind == "ignored"



def test_controlled_side_role_conflict_follows_rfc8445():
    """Both sides controlled (RFC 8445 7.3.1.1): the larger tie-breaker switches to
    controlling and answers; the smaller one keeps its role and answers 487."""
    src = ("127.0.0.1", 5000)
    larger = ice.IceAgent("ours", PWD, controlling=False, tie_breaker=100)
    out, _ = larger.receive(request("ours:t", PWD, stun.ICE_CONTROLLED, 50), src, 0)
    assert answer_code(out) == 200 and larger.controlling
    smaller = ice.IceAgent("ours", PWD, controlling=False, tie_breaker=10)
    out, res = smaller.receive(request("ours:t", PWD, stun.ICE_CONTROLLED, 50), src, 0)
    assert answer_code(out) == 487 and not smaller.controlling and res.reason == "487"


def test_every_message_leads_with_software_in_rtpengines_attribute_order():
    """10.5 puts SOFTWARE first in checks, answers and errors, then USERNAME, the role with
    its tie-breaker, PRIORITY and USE-CANDIDATE (what tools tell its checks apart by)."""
    src = ("127.0.0.1", 5000)
    agent = ice.IceAgent("ours", PWD, controlling=True, tie_breaker=7)
    agent.set_remote("theirs", "theirpwd", [("192.0.2.1", 1000, 10)])
    (check, dest), = agent.poll(0.0)
    msg = stun.parse(check)
    assert dest == ("192.0.2.1", 1000)
    assert [t for t, _v in msg.attributes] == [
        stun.SOFTWARE, stun.USERNAME, stun.ICE_CONTROLLING, stun.PRIORITY,
        stun.MESSAGE_INTEGRITY, stun.FINGERPRINT]
    assert msg.get(stun.SOFTWARE).startswith(b"rtpengined-")
    assert msg.get(stun.USERNAME) == b"theirs:ours"
    assert struct.unpack("!I", msg.get(stun.PRIORITY))[0] == 0x6EFFFFFF
    # its success answer makes us nominate: the same order, USE-CANDIDATE after PRIORITY
    ok = stun.Message(stun.BINDING, stun.SUCCESS, msg.transaction_id)
    ok.add(stun.XOR_MAPPED_ADDRESS, stun.xor_address("203.0.113.1", 9, msg.transaction_id))
    (nomination, _), = agent.receive(ok.encode(b"theirpwd"), dest, 0.01)[0]
    assert [t for t, _v in stun.parse(nomination).attributes][:5] == [
        stun.SOFTWARE, stun.USERNAME, stun.ICE_CONTROLLING, stun.PRIORITY, stun.USE_CANDIDATE]
    for reply in (agent.receive(request("ours:t", PWD), src, 0)[0],
                  agent.receive(request("ours:t", PWD, stun.ICE_CONTROLLING, 1), src, 0)[0]):
        assert stun.parse(reply[0][0]).attributes[0][0] == stun.SOFTWARE

# -- against aioice's Connection over loopback UDP -----------------------------------------

class Shell(asyncio.DatagramProtocol):
    """Test-only I/O for an IceAgent: STUN to the agent, everything else queued as media."""

    def __init__(self, agent):
        self.agent = agent
        self.media = asyncio.Queue()

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        if stun.demux(data) == "stun":
            out, _ = self.agent.receive(data, addr, asyncio.get_running_loop().time())
            for d, a in out:
                self.transport.sendto(d, a)
        else:
            self.media.put_nowait((data, addr))

    async def tick(self):
        while True:
            for d, a in self.agent.poll(asyncio.get_running_loop().time()):
                self.transport.sendto(d, a)
            await asyncio.sleep(0.01)


async def converse(aioice_controlling, our_controlling, tie_breaker=None):
    loop = asyncio.get_running_loop()
    agent = ice.IceAgent("rtpeng", PWD, controlling=our_controlling)
    if tie_breaker is not None:
        agent.tie_breaker = tie_breaker
    transport, shell = await loop.create_datagram_endpoint(lambda: Shell(agent), local_addr=("127.0.0.1", 0))
    conn = await loopback_connection(aioice_controlling)
    ticker = asyncio.ensure_future(shell.tick())
    try:
        local = conn.local_candidates[0]
        agent.set_remote(conn.local_username, conn.local_password, [(local.host, local.port, local.priority)])
        conn.remote_username, conn.remote_password = agent.local_ufrag, agent.local_pwd
        port = transport.get_extra_info("sockname")[1]
        await conn.add_remote_candidate(aioice.Candidate(
            foundation="1", component=1, transport="udp", priority=ice.candidate_priority(126),
            host="127.0.0.1", port=port, type="host"))
        await conn.add_remote_candidate(None)
        await asyncio.wait_for(conn.connect(), 10)
        for _ in range(200):  # our side sees the nomination (or its own check succeed) a moment later
            if agent.selected:
                break
            await asyncio.sleep(0.01)
        assert agent.selected == (local.host, local.port)
        await conn.send(b"\x80media from aioice")
        data, addr = await asyncio.wait_for(shell.media.get(), 5)
        assert (data, addr) == (b"\x80media from aioice", agent.selected)
        transport.sendto(b"\x80media to aioice", agent.selected)
        assert await asyncio.wait_for(conn.recv(), 5) == b"\x80media to aioice"
        return agent, conn
    finally:
        ticker.cancel()
        await conn.close()
        transport.close()


def test_aioice_controlling_nominates_us():
    agent, conn = asyncio.run(converse(aioice_controlling=True, our_controlling=False))
    assert not agent.controlling and any(p.nominated for p in agent.pairs)


def test_we_control_and_nominate_aioice():
    agent, conn = asyncio.run(converse(aioice_controlling=False, our_controlling=True))
    assert agent.controlling and not conn.ice_controlling


def test_both_controlling_the_larger_tie_breaker_keeps_the_role():
    agent, conn = asyncio.run(converse(True, True, tie_breaker=2**64 - 1))
    assert agent.controlling and not conn.ice_controlling


def test_both_controlled_the_smaller_tie_breaker_stays_controlled():
    agent, conn = asyncio.run(converse(False, False, tie_breaker=0))
    assert not agent.controlling and conn.ice_controlling


def test_unanswered_checks_are_paced_retransmitted_then_fail():
    agent = ice.IceAgent("ours", PWD, controlling=True)
    agent.set_remote("theirs", "theirpwd", [("192.0.2.1", 1000, 10), ("192.0.2.2", 1000, 20)])
    assert [a for _, a in agent.poll(0.0)] == [("192.0.2.2", 1000)]  # highest priority first
    assert agent.poll(0.01) == []  # Ta not yet passed
    assert [a for _, a in agent.poll(ice.TA)] == [("192.0.2.1", 1000)]
    first = agent.pairs[0].request
    sent, now = [], ice.TA
    while agent.deadline() is not None:
        now = agent.deadline()
        sent += [d for d, a in agent.poll(now) if a == ("192.0.2.2", 1000)]
    assert sent and set(sent) == {first} and len(sent) == ice.MAX_TRANSMISSIONS - 1
    assert [p.state for p in agent.pairs] == ["failed", "failed"] and agent.selected is None
    req = stun.parse(first)
    assert req.get(stun.USERNAME) == b"theirs:ours" and req.check_integrity(b"theirpwd")
    assert req.has(stun.ICE_CONTROLLING) and not req.has(stun.USE_CANDIDATE)
    assert struct.unpack("!I", req.get(stun.PRIORITY))[0] == ice.candidate_priority(110)
    rtcp = ice.IceAgent("ours", PWD, controlling=True, component=2)
    rtcp.set_remote("theirs", "theirpwd", [("192.0.2.1", 1001, 10)])
    rtcp.set_remote("theirs", "theirpwd", [("192.0.2.1", 1001, 10)])  # trickled again: one pair
    assert rtcp.poll(0.0) == [] and rtcp.deadline() == ice.TA  # after component 1's (10.5)
    check = stun.parse(rtcp.poll(ice.TA)[0][0])
    assert len(rtcp.pairs) == 1 and struct.unpack("!I", check.get(stun.PRIORITY))[0] & 0xFF == 254


def test_component_2_checks_a_new_pair_one_ta_after_component_1():
    """10.5's one agent checks pairs in priority order, one per tick: an address pair's
    component 1 before its component 2. Our two agents get the pairs of one SDP at once;
    component 2 holds each new pair back by Ta so the wire order stays 10.5's (a peer that
    learns peer-reflexive candidates from our checks may rely on component 1 first)."""
    rtp = ice.IceAgent("ours", PWD, controlling=False, component=1)
    rtcp = ice.IceAgent("ours", PWD, controlling=False, component=2)
    rtp.set_remote("theirs", "theirpwd", [("192.0.2.1", 1000, 10)])
    rtcp.set_remote("theirs", "theirpwd", [("192.0.2.1", 1001, 10)])
    assert [a for _, a in rtp.poll(5.0)] == [("192.0.2.1", 1000)]
    assert rtcp.poll(5.0) == [] and rtcp.deadline() == 5.0 + ice.TA
    assert [a for _, a in rtcp.poll(5.0 + ice.TA)] == [("192.0.2.1", 1001)]


def _answer(agent, datagram, now):
    """The peer's success for one of ``agent``'s checks (datagram, address[, local])."""
    data, address = datagram[0], datagram[1]
    check = stun.parse(data)
    reply = stun.Message(stun.BINDING, stun.SUCCESS, check.transaction_id)
    reply.add(stun.XOR_MAPPED_ADDRESS, stun.xor_address("192.0.2.99", 5000, check.transaction_id))
    return agent.receive(reply.encode(b"theirpwd"), address, now)


def _checked(agent, now):
    """Every check ``agent`` sends by ``now`` (one new pair per Ta), by address."""
    sent, t = {}, 0.0
    while t <= now:
        for datagram in agent.poll(t):
            sent.setdefault(datagram[1], datagram)
        t += ice.TA / 2
    return sent


@pytest.mark.parametrize("use", [True, False])
def test_controlled_uses_a_candidate_whose_components_all_succeeded(use):
    """10.5, controlled, uses the best pair whose candidate succeeded on every component
    before any nomination ("can use pair"); the relay's agents do (``use_before_nomination``),
    each told of the other component's (``partner``). Without the flag an agent selects
    only what the peer nominates (a test's peer agent keeps waiting for that)."""
    rtp = ice.IceAgent("ours", PWD, controlling=False, component=1, use_before_nomination=use)
    rtcp = ice.IceAgent("ours", PWD, controlling=False, component=2, use_before_nomination=use)
    rtp.partner, rtcp.partner = rtcp, rtp
    rtp.set_remote("theirs", "theirpwd", [("192.0.2.1", 2000, 30), ("192.0.2.8", 3000, 10)])
    rtcp.set_remote("theirs", "theirpwd", [("192.0.2.1", 2001, 29), ("192.0.2.8", 3001, 9)])
    rtp_checks, rtcp_checks = _checked(rtp, 1.0), _checked(rtcp, 1.0)
    _answer(rtp, rtp_checks[("192.0.2.1", 2000)], 1.0)  # (its RTCP never answers)
    assert rtp.selected is None
    _answer(rtp, rtp_checks[("192.0.2.8", 3000)], 1.0)
    assert rtp.selected is None  # (not RTCP's yet)
    _answer(rtcp, rtcp_checks[("192.0.2.8", 3001)], 1.0)
    if not use:
        assert rtp.selected is None and rtcp.selected is None
        return
    assert rtp.selected == ("192.0.2.8", 3000) and rtcp.selected == ("192.0.2.8", 3001)
    # the peer nominates the other candidate: that one is used from then on
    nominate = request("ours:theirs", PWD, role=stun.ICE_CONTROLLING, tb=5, use=True)
    rtp.receive(nominate, ("192.0.2.1", 2000), 1.1)
    assert rtp.selected == ("192.0.2.1", 2000)


def test_one_component_uses_its_first_succeeded_pair():
    agent = ice.IceAgent("ours", PWD, controlling=False, use_before_nomination=True)
    agent.set_remote("theirs", "theirpwd", [("192.0.2.1", 2000, 30), ("192.0.2.8", 3000, 10)])
    checks = _checked(agent, 1.0)
    _answer(agent, checks[("192.0.2.8", 3000)], 1.0)
    assert agent.selected == ("192.0.2.8", 3000)
