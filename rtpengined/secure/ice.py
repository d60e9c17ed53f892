"""ICE connectivity checks (RFC 8445) for one component, without I/O.

`IceAgent` answers the peer's binding requests (USERNAME `ours:theirs`, MESSAGE-INTEGRITY keyed
with our ice-pwd, FINGERPRINT; XOR-MAPPED-ADDRESS of the source in the success response;
487 Role Conflict by the tie-breaker rules of 7.3.1.1), and sends its own checks to the remote
candidates, nominating (USE-CANDIDATE, regular nomination) when controlling. A relay worker
feeds it every datagram `stun.demux` classes as 'stun', calls `poll` when `deadline` passes and
sends what both return; `selected` is the address media goes to once a pair is nominated.
With `lite` (we declared a=ice-lite) it only answers checks and takes the nominated pair.
A full agent keeps checking the selected pair for consent (RFC 7675) and sets
`consent_expired` when 30 s pass without an answer: media to that peer must stop.

Several local sockets (the stream's port on each address of its logical interface, all
offered as host candidates, as 10.5 does): a pair is a local socket (``local``, 0 the
stream's own, 1.. its alternates) and a remote address; checks arriving on a socket are
answered from it, peer-reflexive candidates are learned per socket, our checks go out of
every socket to the remote candidates given for it, and ``selected_local`` is the socket of
the selected pair. A datagram to send is ``(bytes, address)`` from socket 0 and
``(bytes, address, local)`` from another (so single-socket callers never see the third
element).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

from .. import __version__
from . import stun

Address = tuple[str, int]

TA = 0.05  # pacing between new checks (RFC 8445 14.2, 50 ms)
RTO = 0.5  # first retransmission; doubled each time
MAX_TRANSMISSIONS = 7
# Consent freshness (RFC 7675): a full agent checks the selected pair every 4-6 s (5 s
# randomised by +-20 %) once media may flow, and stops sending when no check of its own has
# been answered for 30 s.
CONSENT_INTERVAL = 5.0
CONSENT_TIMEOUT = 30.0
CONSENT_PENDING = 8  # outstanding consent transactions still accepted (each sent once)
# SOFTWARE (RFC 5389 15.10) leads every message we send, as 10.5 puts its own first: peers and
# test tools tell our checks from anything else on the port by it.
SOFTWARE = f"rtpengined-{__version__}".encode()


def _message(cls: int, software: bytes, transaction_id: bytes | None = None) -> stun.Message:
    """A binding message of ours: SOFTWARE first, the rest added in 10.5's order."""
    msg = (stun.Message(stun.BINDING, cls) if transaction_id is None
           else stun.Message(stun.BINDING, cls, transaction_id))
    return msg.add(stun.SOFTWARE, software)


def software_value(software_id: str | None) -> bytes:
    """The SOFTWARE attribute's value: ``--software-id`` (at most 127 bytes, what 10.5's
    buffer holds), else ours."""
    return SOFTWARE if software_id is None else software_id.encode()[:127]


def via(data: bytes, address: Address, local: int) -> tuple:
    """A datagram to send: from local socket 0 as ``(bytes, address)``, else with the socket."""
    return (data, address) if not local else (data, address, local)


def candidate_priority(type_pref: int, local_pref: int = 65535, component: int = 1) -> int:
    """RFC 8445 5.1.2.1: 126 host, 110 prflx, 100 srflx, 0 relay."""
    return (type_pref << 24) | (local_pref << 8) | (256 - component)


@dataclass
class Pair:
    remote: Address
    priority: int
    local: int = 0  # which local socket (0: the stream's own, 1..: its other addresses)
    state: str = "waiting"  # waiting, in-progress, succeeded, failed
    nominated: bool = False
    transaction_id: bytes | None = None
    sent_nomination: bool = False
    transmissions: int = 0
    next_send: float = 0.0
    mapped: Address | None = None
    request: bytes = b""  # the check as sent, for retransmission


@dataclass
class CheckResult:
    """What one incoming STUN datagram meant (for the caller's logs and media learning)."""

    kind: str  # 'request', 'response', 'error', 'ignored'
    valid: bool = False
    nominated: bool = False
    reason: str = ""


@dataclass
class IceAgent:
    local_ufrag: str
    local_pwd: str
    controlling: bool
    tie_breaker: int = field(default_factory=lambda: int.from_bytes(os.urandom(8), "big"))
    component: int = 1  # 1 RTP (or RTP+RTCP with rtcp-mux), 2 RTCP: one agent per media socket
    remote_ufrag: str = ""
    remote_pwd: str = ""
    pairs: list[Pair] = field(default_factory=list)
    selected: Address | None = None
    selected_local: int = 0  # the local socket of the selected pair
    # ICE-lite (RFC 8445 2.5): we declared a=ice-lite, so we only answer checks (always the
    # controlled side, no checks of our own) and take the pair the peer nominates.
    lite: bool = False
    _last_new_check: float = -1.0
    # Consent freshness (full agents, once a pair is selected): when the next check is due,
    # until when the peer's consent holds, and the transactions of checks not answered yet.
    consent_due: float | None = None
    consent_until: float | None = None
    consent_expired: bool = False
    _consent_ids: list[bytes] = field(default_factory=list)
    # The agent of the media's other component (RTP's for RTCP on a port of its own, and
    # back), set by the relay: a pair is usable before a nomination once every component
    # has one from the same candidate (``_usable``).
    partner: IceAgent | None = field(default=None, repr=False, compare=False)
    # Controlled, use a pair whose checks succeeded before the peer nominates one, as 10.5
    # does (``_usable``; the relay's legs). Off, ``selected`` is the nominated pair only.
    use_before_nomination: bool = False
    software: bytes = SOFTWARE  # (``software_value``: what our messages name us)

    def set_remote(self, ufrag: str, pwd: str, candidates: list[tuple[str, int, int]]) -> None:
        """Remote credentials and this component's candidates (host, port, priority) from SDP.

        Callable again for trickled candidates; known addresses keep their pair.
        """
        self.remote_ufrag, self.remote_pwd = ufrag, pwd
        for host, port, priority in candidates:
            self._pair((host, port), priority)

    def add_remote(self, address: Address, priority: int, local: int = 0) -> None:
        """One remote candidate given as the socket address its packets come from (a relay
        worker's IPv6 socket sees IPv4 peers as 4-tuples of IPv4-mapped addresses), paired
        with local socket ``local``."""
        self._pair(address, priority, local)

    def _pair(self, remote: Address, priority: int, local: int = 0) -> Pair:
        for pair in self.pairs:
            if pair.remote == remote and pair.local == local:
                return pair
        pair = Pair(remote, priority, local)
        self.pairs.append(pair)
        self.pairs.sort(key=lambda p: -p.priority)
        return pair

    # -- incoming --------------------------------------------------------------------------
    def receive(self, data: bytes, source: Address, now: float,
                local: int = 0) -> tuple[list[tuple], CheckResult]:
        """Handle one STUN datagram from `source` on local socket `local`; returns
        (datagrams to send, what it was)."""
        try:
            msg = stun.parse(data)
        except stun.StunError as exc:
            return [], CheckResult("ignored", reason=str(exc))
        if msg.method != stun.BINDING:
            return [], CheckResult("ignored", reason="not a binding")
        if msg.cls == stun.REQUEST:
            return self._request(msg, source, now, local)
        if msg.cls in (stun.SUCCESS, stun.ERROR):
            return self._response(msg, source, now, local)
        return [], CheckResult("ignored", reason="indication")

    def _error(self, msg: stun.Message, code: int, reason: str, key: bytes | None) -> bytes:
        reply = _message(stun.ERROR, self.software, msg.transaction_id)
        reply.add(stun.ERROR_CODE, stun.error_code(code, reason))
        return reply.encode(key)

    def _request(self, msg: stun.Message, source: Address, now: float, local: int):
        key = self.local_pwd.encode()
        username = msg.get(stun.USERNAME)
        if username is None or msg.integrity_offset is None:
            return [via(self._error(msg, 400, "Bad Request", None), source, local)], \
                CheckResult("request", reason="400")
        if not username.decode("utf-8", "replace").startswith(self.local_ufrag + ":") \
                or not msg.check_integrity(key):
            return [via(self._error(msg, 401, "Unauthorized", None), source, local)], \
                CheckResult("request", reason="401")
        if self.lite:
            return self._lite_request(msg, source, key, local)
        # Role conflict, RFC 8445 7.3.1.1: the larger tie-breaker ends up controlling; the
        # agent that keeps its role answers 487, the other switches and goes on.
        theirs = msg.get(stun.ICE_CONTROLLING if self.controlling else stun.ICE_CONTROLLED)
        if theirs is not None and len(theirs) == 8:
            their_tb = struct.unpack("!Q", theirs)[0]
            if (self.tie_breaker >= their_tb) == self.controlling:
                return [via(self._error(msg, 487, "Role Conflict", key), source, local)], \
                    CheckResult("request", reason="487")
            self._switch_role()
        reply = _message(stun.SUCCESS, self.software, msg.transaction_id)
        reply.add(stun.XOR_MAPPED_ADDRESS, stun.xor_address(source[0], source[1], msg.transaction_id))
        out = [via(reply.encode(key), source, local)]
        prio = msg.get(stun.PRIORITY)
        pair = self._pair(source, struct.unpack("!I", prio)[0] if prio and len(prio) == 4 else 0,
                          local)
        nominated = False
        if msg.has(stun.USE_CANDIDATE) and not self.controlling:
            pair.nominated = nominated = True
            if pair.state == "succeeded":
                self._select(pair, now)
        if pair.state in ("waiting", "failed") and self.remote_pwd:
            # triggered check (7.3.1.4): lets the peer's check confirm our path too
            out += self._send(pair, now)
        return out, CheckResult("request", valid=True, nominated=nominated)

    def _switch_role(self) -> None:
        """RFC 8445 7.3.1.1/7.2.5.1: a nomination sent in the old role means nothing now."""
        self.controlling = not self.controlling
        for pair in self.pairs:
            pair.sent_nomination = False

    def _lite_request(self, msg: stun.Message, source: Address, key: bytes, local: int):
        reply = _message(stun.SUCCESS, self.software, msg.transaction_id)
        reply.add(stun.XOR_MAPPED_ADDRESS, stun.xor_address(source[0], source[1], msg.transaction_id))
        prio = msg.get(stun.PRIORITY)
        pair = self._pair(source, struct.unpack("!I", prio)[0] if prio and len(prio) == 4 else 0,
                          local)
        nominated = msg.has(stun.USE_CANDIDATE)
        if nominated:  # a lite agent's valid pair is the one the full peer nominates
            pair.nominated = True
            pair.state = "succeeded"
            self.selected, self.selected_local = pair.remote, pair.local
        return [via(reply.encode(key), source, local)], \
            CheckResult("request", valid=True, nominated=nominated)

    def _response(self, msg: stun.Message, source: Address, now: float, local: int):
        if msg.transaction_id in self._consent_ids:
            return self._consent_response(msg, source, now, local)
        pair = next((p for p in self.pairs if p.transaction_id == msg.transaction_id), None)
        if pair is None or pair.remote != source or pair.local != local:
            return [], CheckResult("ignored", reason="unknown transaction")
        if not msg.check_integrity(self.remote_pwd.encode()):
            return [], CheckResult("ignored", reason="bad integrity")
        pair.transaction_id = None
        if msg.cls == stun.ERROR:
            code = stun.parse_error_code(msg.get(stun.ERROR_CODE) or b"")
            if code == 487:  # switch role and check again (7.2.5.1)
                self._switch_role()
                pair.state = "waiting"
                return self._send(pair, now), CheckResult("error", reason="487")
            pair.state = "failed"
            return [], CheckResult("error", reason=str(code))
        mapped = msg.get(stun.XOR_MAPPED_ADDRESS)
        if mapped:
            pair.mapped = stun.parse_xor_address(mapped, msg.transaction_id)
        pair.state = "succeeded"
        out: list[tuple] = []
        if pair.sent_nomination or pair.nominated:
            pair.nominated = True
            self._select(pair, now)
        elif self.controlling and self.selected is None:
            pair.sent_nomination = True  # regular nomination: repeat the check with USE-CANDIDATE
            out = self._send(pair, now)
        elif not self.controlling and self.selected is None and self.use_before_nomination:
            self._usable(now)
        return out, CheckResult("response", valid=True, nominated=pair.nominated)

    def _usable(self, now: float) -> None:
        """Controlled, nothing nominated yet: the best succeeded pair whose candidate has a
        succeeded pair on every component too (the partner agent's, to the same host) is
        used until the peer nominates one, on both components. 10.5 does so ("ICE not
        completed yet, but can use pair"): media, and a DTLS handshake we start, go there
        as soon as our checks of one candidate all succeeded (rtpengine's suite, "ICE offer
        with DTLS"); a peer that nominates later moves them (``_select``). The partner
        stands for 10.5's foundation by the candidate's address."""
        partner = self.partner
        if partner is not None and partner.selected is not None:
            return  # (the partner's pair was nominated: this component's comes the same way)
        for pair in self.pairs:  # (highest priority first)
            if pair.state != "succeeded":
                continue
            other = None
            if partner is not None:
                other = next((p for p in partner.pairs if p.state == "succeeded"
                              and p.remote[0] == pair.remote[0] and p.local == pair.local),
                             None)
                if other is None:
                    continue
            self._select(pair, now)
            if other is not None:
                partner._select(other, now)
            return

    # -- consent freshness (RFC 7675) ------------------------------------------------------
    def _select(self, pair: Pair, now: float) -> None:
        """Media goes to the pair's remote, from its local socket, from now on; consent is
        fresh for the next 30 s."""
        if (pair.remote, pair.local) != (self.selected, self.selected_local) \
                or self.consent_until is None:
            self.consent_until = now + CONSENT_TIMEOUT
            self.consent_due = now + self._consent_interval()
        self.selected, self.selected_local = pair.remote, pair.local

    @staticmethod
    def _consent_interval() -> float:
        return CONSENT_INTERVAL * (0.8 + 0.4 * int.from_bytes(os.urandom(2), "big") / 65535)

    def _consent_response(self, msg: stun.Message, source: Address, now: float, local: int):
        if source != self.selected or local != self.selected_local \
                or not msg.check_integrity(self.remote_pwd.encode()):
            return [], CheckResult("ignored", reason="consent: wrong source or integrity")
        self._consent_ids.remove(msg.transaction_id)
        if msg.cls != stun.SUCCESS:
            return [], CheckResult("error", reason="consent refused")
        if not self.consent_expired:
            self.consent_until = now + CONSENT_TIMEOUT
        return [], CheckResult("response", valid=True)

    def _consent_poll(self, now: float) -> list[tuple]:
        """The consent check due now (a binding request on the selected pair, sent once:
        the next one is its retry), or expiry after 30 s without an answer."""
        if self.consent_expired or self.consent_due is None or self.selected is None:
            return []
        if self.consent_until is not None and now >= self.consent_until:
            self.consent_expired = True  # RFC 7675 5.1: stop sending; only an ICE restart helps
            self.consent_due = None
            return []
        if now < self.consent_due:
            return []
        self.consent_due = now + self._consent_interval()
        req = self._check(False)
        self._consent_ids.append(req.transaction_id)
        del self._consent_ids[:-CONSENT_PENDING]
        return [via(req.encode(self.remote_pwd.encode()), self.selected, self.selected_local)]

    # -- outgoing --------------------------------------------------------------------------
    def _check(self, nominate: bool) -> stun.Message:
        """A binding request of ours, attributes in 10.5's order: SOFTWARE, USERNAME, our
        role with the tie-breaker, PRIORITY (as a peer-reflexive candidate), USE-CANDIDATE."""
        req = _message(stun.REQUEST, self.software)
        req.add(stun.USERNAME, f"{self.remote_ufrag}:{self.local_ufrag}".encode())
        req.add(stun.ICE_CONTROLLING if self.controlling else stun.ICE_CONTROLLED,
                struct.pack("!Q", self.tie_breaker))
        req.add(stun.PRIORITY, struct.pack("!I", candidate_priority(110, component=self.component)))
        if nominate:
            req.add(stun.USE_CANDIDATE)
        return req

    def _send(self, pair: Pair, now: float) -> list[tuple]:
        req = self._check(self.controlling and pair.sent_nomination)
        pair.transaction_id = req.transaction_id
        pair.state = "in-progress"
        pair.transmissions = 1
        pair.next_send = now + RTO
        pair.request = req.encode(self.remote_pwd.encode())  # kept for retransmission
        self._last_new_check = now
        return [via(pair.request, pair.remote, pair.local)]

    def poll(self, now: float) -> list[tuple]:
        """Retransmit due checks and start the next waiting one (one new check per Ta)."""
        out: list[tuple] = []
        if not self.remote_pwd or self.lite:
            return out
        out += self._consent_poll(now)
        for pair in self.pairs:
            if pair.state == "in-progress" and now >= pair.next_send:
                if pair.transmissions >= MAX_TRANSMISSIONS:
                    pair.state, pair.transaction_id = "failed", None
                    continue
                pair.transmissions += 1
                pair.next_send = now + RTO * 2 ** (pair.transmissions - 1)
                out.append(via(pair.request, pair.remote, pair.local))
        if self.selected is None and now >= self._last_new_check + TA:
            waiting = next((p for p in self.pairs if p.state == "waiting"), None)
            if waiting is not None:
                if self.component > 1 and not waiting.next_send:
                    # 10.5 checks both components with one agent, one pair per tick in
                    # priority order: component 1's check of an address pair goes out
                    # before component 2's. Our component 2 is an agent of its own, so
                    # its new pair waits one Ta after it shows up (pairs both agents get
                    # at once, from one SDP, keep 10.5's order on the wire).
                    waiting.next_send = now + TA
                if now >= waiting.next_send:
                    out += self._send(waiting, now)
        return out

    def deadline(self) -> float | None:
        if self.lite:
            return None
        times = [p.next_send for p in self.pairs if p.state == "in-progress"]
        if self.consent_due is not None and not self.consent_expired and self.remote_pwd:
            times.append(min(self.consent_due, self.consent_until or self.consent_due))
        if self.selected is None and self.remote_pwd:
            waiting = next((p for p in self.pairs if p.state == "waiting"), None)
            if waiting is not None:
                times.append(max(self._last_new_check + TA, waiting.next_send))
        return min(times) if times else None
