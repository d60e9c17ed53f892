"""One WebRTC leg of a stream: ICE and DTLS-SRTP on the stream's own port, without I/O.

A relay worker keeps one `WebrtcLeg` per stream whose party speaks DTLS-SRTP (with ICE, or
without it for a DTLS-SRTP SIP phone) or ICE alone (a plain RTP or SDES-SRTP party whose SDP
had ICE: 10.5 runs ICE with it too, so the leg is an ICE agent without a handshake), feeds it every STUN and DTLS datagram the RFC 7983
demultiplexer finds on the port, calls `poll` when `deadline` passes, and sends what both
return from the same socket. The leg decides where media goes: with ICE the address of the
nominated pair (never the first packet's source), without ICE the source of the peer's DTLS
(or the SDP address we start the handshake towards). Once the handshake is done and the
peer's certificate matched the SDP fingerprint, `inbound`/`outbound` hold the SRTP contexts
the relay decrypts and encrypts the leg's media with (an ICE-only leg has none: its media is
plain RTP, or SDES-SRTP with the keys signalling gave, sent to the nominated pair once there
is one).

Why a module of its own: the worker must stay a thin shell (sockets and timers), and the
ordering rules (no DTLS before a valid ICE pair, the client starts once a pair is nominated,
keys only after the fingerprint matched) are easier to test here, two legs against each
other, than through sockets.

A stream with ICE may have several local sockets (its port on each address of its logical
interface, ``IceSpec.alternates``): the leg takes datagrams with the socket they arrived
on (``local``), and ``local`` is the socket of the peer (the selected ICE pair's), which
everything for the peer leaves from. Datagrams to send follow ``secure.ice``: a third
element names the local socket when it is not the stream's own.
"""

from __future__ import annotations

import base64
import logging
from typing import NamedTuple

from . import dtls, ice, stun
from .srtp import SrtpContext

Address = tuple
log = logging.getLogger("rtpengined.crypto")  # (10.5: DTLS and SRTP set-up is "crypto")

# DTLS-SRTP profile (OpenSSL's name) -> the suite name rtpengine shows as "crypto suite".
SUITE_NAMES = {
    "SRTP_AES128_CM_SHA1_80": "AES_CM_128_HMAC_SHA1_80",
    "SRTP_AES128_CM_SHA1_32": "AES_CM_128_HMAC_SHA1_32",
    "SRTP_AEAD_AES_128_GCM": "AEAD_AES_128_GCM",
    "SRTP_AEAD_AES_256_GCM": "AEAD_AES_256_GCM",
}


class IceSpec(NamedTuple):
    """ICE on the leg, as the control plane negotiated it (plain values: picklable)."""

    local_ufrag: str
    local_pwd: str
    remote_ufrag: str
    remote_pwd: str
    controlling: bool
    candidates: tuple  # ((address, priority), ...): the peer's component-1 candidates, each
    # address as the socket's recvfrom gives sources (what checks and media are matched to)
    lite: bool = False  # we declared a=ice-lite on the leg: answer checks only
    component: int = 1  # 2: the RTCP port of a leg without rtcp-mux
    # The peer's candidates again for each of the stream's sockets on the interface's other
    # addresses (local socket 1, 2, ...), as that socket's recvfrom gives sources.
    alternates: tuple = ()


class DtlsSpec(NamedTuple):
    """DTLS-SRTP on the leg: our role and the fingerprint the peer's certificate must have."""

    client: bool  # a=setup:active on our side: we start the handshake
    remote_fingerprint: str  # 'sha-256 AB:CD:...'
    certificate: str  # which daemon certificate (its sha-256 fingerprint): loaded once per worker


class Status(NamedTuple):
    """What the control plane shows of a leg (query): reported when it changes."""

    peer: Address | None
    verified: bool  # DTLS done, the peer's certificate matched the SDP fingerprint
    suite: str | None  # SRTP suite the handshake chose
    failed: bool  # DTLS failed (bad fingerprint, no SRTP profile, alert)
    expired: bool = False  # ICE consent (RFC 7675) expired: no media either way any more


class WebrtcLeg:
    """ICE (optional) and a DTLS-SRTP endpoint for one component (RTP, or RTP+RTCP muxed;
    or RTCP on its own port: ICE component 2 and a handshake of its own)."""

    def __init__(self, certificate: dtls.Certificate | None, spec: DtlsSpec | None,
                 ice_spec: IceSpec | None, default_peer: Address | None = None,
                 agent: ice.IceAgent | None = None, srtp_context=SrtpContext,
                 software: bytes = ice.SOFTWARE, log_keys: bool = False) -> None:
        """``agent``: the ICE agent of the leg this one replaces when only DTLS changed (a
        re-INVITE with a new fingerprint): its nominated pair stays, the handshake is new.
        ``spec`` None: an ICE-only leg (``ice_spec`` required), no handshake, no keys.
        ``srtp_context``: builds the leg's contexts, ``(profile, key_salt, outbound)``; the
        relay worker passes its C helper's when it has one, so that its C loop and its
        Python drain share one context (one replay window) per direction. ``software``:
        the STUN SOFTWARE of the leg's ICE agents (``ice.software_value``); ``log_keys``:
        the keys the handshake yields are logged (``--log-srtp-keys``)."""
        assert spec is not None or ice_spec is not None
        self.srtp_context = srtp_context
        self.software = software
        self.log_keys = log_keys
        self.spec = spec
        self.ice_spec = ice_spec
        self.endpoint = (dtls.DtlsEndpoint(certificate, spec.client, spec.remote_fingerprint)
                         if spec is not None and certificate is not None else None)
        self.agent: ice.IceAgent | None = None
        self.local = 0  # the local socket of the peer (ICE's selected pair)
        if agent is not None and ice_spec is not None:
            self.agent = agent
            self._remote(ice_spec)
            self.peer = agent.selected
            self.local = agent.selected_local
        elif ice_spec is not None:
            self.agent = _agent(ice_spec, self.software)
            self._remote(ice_spec)
            self.peer: Address | None = None
        else:
            self.peer = default_peer
        self.started = False
        self.failed = False
        self._heard = False  # DTLS came from the peer (without ICE, ``peer`` starts as the SDP's)
        self.inbound: SrtpContext | None = None
        self.outbound: SrtpContext | None = None

    # -- state ------------------------------------------------------------------------------
    @property
    def terminates_dtls(self) -> bool:
        """The leg's media is DTLS-SRTP keyed here (else plain or SDES, keyed by signalling)."""
        return self.endpoint is not None

    @property
    def suite(self) -> str | None:
        if self.endpoint is None:
            return None
        keys = self.endpoint.keys
        return SUITE_NAMES.get(keys.profile, keys.profile) if keys is not None else None

    @property
    def heard_peer(self) -> Address | None:
        """The peer once the network named it: ICE selected it, or its DTLS came from it.
        Without ICE ``peer`` starts as the SDP's address (where our handshake goes), and that
        alone confirms nothing: 10.5 waits for a packet too, and a stream confirmed on the
        SDP's word would no longer learn a peer behind NAT from its first packets."""
        return self.peer if self.agent is not None or self._heard else None

    def status(self) -> Status:
        verified = self.endpoint is not None and self.endpoint.keys is not None
        return Status(self.peer, verified and not self.failed,
                      self.suite, self.failed, self.expired)

    @property
    def expired(self) -> bool:
        return self.agent is not None and self.agent.consent_expired

    def update_ice(self, ice_spec: IceSpec | None) -> None:
        """New remote candidates (or credentials) from a re-INVITE for the same DTLS session."""
        if ice_spec is None or self.agent is None or ice_spec == self.ice_spec:
            return
        self.ice_spec = ice_spec
        self._remote(ice_spec)

    def repeat_hello(self) -> list[tuple]:
        """Our ClientHello again, to the peer, while the handshake we started has had no
        answer at all (``DtlsEndpoint.repeat_first_flight``); nothing otherwise."""
        if self.endpoint is None or not self.started or self.failed or self.peer is None:
            return []
        return [self._to_peer(d) for d in self.endpoint.repeat_first_flight()]

    def restart_ice(self, ice_spec: IceSpec) -> None:
        """New ICE credentials with the same DTLS parameters (an ICE restart, RFC 8445 9):
        a new agent, and the DTLS association and its keys stay. A browser keeps its DTLS
        transport across ``restartIce()`` and would answer no new handshake (10.5 keeps
        its own too). Media stays on the old pair until the new agent selects one; keys
        dropped when consent expired come back (the restart renews consent)."""
        assert self.agent is not None
        self.ice_spec = ice_spec
        self.agent = _agent(ice_spec, self.software)
        self._remote(ice_spec)
        if self.endpoint is not None and not self.failed:
            self._keys()

    def _remote(self, ice_spec: IceSpec) -> None:
        agent = self.agent
        assert agent is not None
        agent.set_remote(ice_spec.remote_ufrag, ice_spec.remote_pwd, [])
        for address, priority in ice_spec.candidates:
            agent.add_remote(tuple(address), priority)
        for local, candidates in enumerate(ice_spec.alternates, 1):
            for address, priority in candidates:
                agent.add_remote(tuple(address), priority, local)

    # -- input ------------------------------------------------------------------------------
    def receive(self, data: bytes, source: Address, now: float,
                local: int = 0) -> list[tuple]:
        """A STUN or DTLS datagram from `source` on local socket `local`; returns what to
        send, and to where."""
        kind = stun.demux(data)
        if kind == "stun":
            if self.agent is None:
                return []
            out, _result = self.agent.receive(data, source, now, local)
            return out + self._follow_ice(now)
        if kind != "dtls" or self.failed or self.endpoint is None:
            return []
        if self.agent is not None:
            if source != self.peer:
                # Before nomination, DTLS from an address with a valid check is taken (the
                # peer may start the handshake as soon as its own check succeeded).
                if not any(p.remote == source and p.state == "succeeded" for p in self.agent.pairs):
                    return []
                if self.peer is None:
                    self.peer, self.local = source, local
        elif source != self.peer:
            self.peer = source  # no ICE: the peer is where its DTLS comes from
        self._heard = True
        try:
            out = self.endpoint.receive(data, now)
        except dtls.DtlsError:
            return self._fail()
        self._keys()
        return [ice.via(d, source, local) for d in out]

    def poll(self, now: float) -> list[tuple]:
        """Timers: ICE checks and retransmissions, DTLS retransmissions."""
        out: list[tuple] = []
        if self.agent is not None:
            out += self.agent.poll(now)
            if self.agent.consent_expired:
                # RFC 7675 5.1: the peer no longer consents: its keys go, media stops.
                self.inbound = self.outbound = None
                return out
            out += self._follow_ice(now)
        elif not self.started and self._client and self.peer is not None:
            out += self._start(now)
        if self.endpoint is None:
            return out
        deadline = self.endpoint.deadline()
        if deadline is not None and now >= deadline and self.peer is not None and not self.failed:
            try:
                out += [self._to_peer(d) for d in self.endpoint.handle_timeout(now)]
            except dtls.DtlsError:
                out += self._fail()
        return out

    def deadline(self) -> float | None:
        times = []
        if self.agent is not None:
            agent_deadline = self.agent.deadline()
            if agent_deadline is not None:
                times.append(agent_deadline)
        if not self.started and self._client and self.peer is not None and (
                self.agent is None or self.agent.selected is not None):
            return 0.0  # start the handshake now
        if self.agent is not None and self.agent.selected is not None and (
                self.agent.selected, self.agent.selected_local) != (self.peer, self.local):
            return 0.0  # the partner agent chose our pair (ice.IceAgent._usable): follow it
        if not self.failed and self.peer is not None and self.endpoint is not None:
            dtls_deadline = self.endpoint.deadline()
            if dtls_deadline is not None:
                times.append(dtls_deadline)
        return min(times) if times else None

    def close(self) -> list[tuple]:
        """close_notify for the peer (the stream goes away)."""
        if self.peer is None or self.failed or self.endpoint is None:
            return []
        return [self._to_peer(d) for d in self.endpoint.close()]

    # -- internals --------------------------------------------------------------------------
    @property
    def _client(self) -> bool:
        """We start a DTLS handshake (an ICE-only leg has none to start)."""
        return self.endpoint is not None and self.spec is not None and self.spec.client

    def _follow_ice(self, now: float) -> list[tuple]:
        agent = self.agent
        assert agent is not None
        if agent.selected is not None and (agent.selected, agent.selected_local) != (
                self.peer, self.local):
            self.peer, self.local = agent.selected, agent.selected_local
        if not self.started and self._client and self.peer is not None and agent.selected:
            return self._start(now)
        return []

    def _start(self, now: float) -> list[tuple]:
        self.started = True
        assert self.endpoint is not None
        try:
            return [self._to_peer(d) for d in self.endpoint.start(now)]
        except dtls.DtlsError:
            return self._fail()

    def _fail(self) -> list[tuple]:
        self.failed = True
        peer = self.peer
        if peer is None or self.endpoint is None:
            return []
        return [self._to_peer(d) for d in self.endpoint.alert]

    def _to_peer(self, data: bytes) -> tuple:
        """A datagram for the peer, from the local socket of its pair."""
        return ice.via(data, self.peer, self.local)

    def _keys(self) -> None:
        assert self.endpoint is not None
        keys = self.endpoint.keys
        if keys is not None and self.inbound is None and not self.expired:
            self.inbound = self.srtp_context(keys.profile, keys.remote, False)
            self.outbound = self.srtp_context(keys.profile, keys.local, True)
            if self.log_keys:
                for line in key_lines(keys):
                    log.error("%s", line)


def key_lines(keys: dtls.SrtpKeys) -> list[str]:
    """A handshake's SRTP keys as 10.5 logs them with ``--log-srtp-keys`` (at error level,
    so that they show whatever the log level), each as its suite, master key and master
    salt in base64; under 10.5's labels, which are the other way round: ``incoming`` is the
    key we protect with, ``outgoing`` the peer's."""
    suite = SUITE_NAMES.get(keys.profile, keys.profile)
    key_length = dtls.SRTP_PROFILES.get(keys.profile, (16, 14))[0]
    lines = []
    for direction, material in (("incoming", keys.local), ("outgoing", keys.remote)):
        key, salt = (base64.b64encode(part).decode()
                     for part in (material[:key_length], material[key_length:]))
        lines += [f"SRTP keys, {direction}:", f"--- {suite} key {key} salt {salt}"]
    return lines


def _agent(ice_spec: IceSpec, software: bytes) -> ice.IceAgent:
    """A fresh ICE agent for the leg's credentials and role (a lite agent never controls)."""
    return ice.IceAgent(ice_spec.local_ufrag, ice_spec.local_pwd,
                        controlling=ice_spec.controlling and not ice_spec.lite,
                        lite=ice_spec.lite, component=ice_spec.component,
                        use_before_nomination=True, software=software)
