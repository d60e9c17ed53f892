"""DTLS-SRTP (and ICE) on a leg the relay terminates: what the peer's SDP said, what we answer,
and what the relay worker gets per stream (``Stream.dtls``/``Stream.ice``).

The SDP side is rtpengine 10.5's: an answer to a DTLS offerer sent on as plain RTP carries
``a=setup:active`` and our fingerprint; a DTLS answer (``a=setup`` + ``a=fingerprint``, no
``a=crypto``) to our RTP/SAVP(F) offer for a plain offerer is taken as DTLS-SRTP with the role
it leaves us. Once an answer settles a leg, its RTP stream (RTP and RTCP with rtcp-mux: one
ICE component) is given the DTLS role, the fingerprint the peer's certificate must have and,
when ICE is spoken on the leg, both parties' credentials, our role and the peer's candidates;
the worker does the handshake and the checks (``secure.webrtc``). Without rtcp-mux the RTCP
stream gets the same DTLS parameters and ICE component 2: a handshake of its own on its port.

A leg that speaks ICE without DTLS (a plain RTP/AVP or SDES-SRTP party whose SDP had ICE, which
we answered or offered with ICE of our own) gets the ICE part alone: 10.5 runs a full ICE agent
there too (checks to the party's candidates, peer-reflexive candidates learned from its checks,
nomination, media to the selected pair), so the worker does the same without a handshake; its
SRTP, if any, stays the SDES keys signalling gave (``Stream.srtp_in``/``srtp_out``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from ..model import CallMedia, Stream
from ..sdp import SessionDescription
from ..secure import dtls, trickle
from .ice import credentials


class RemoteParams(NamedTuple):
    """A party's DTLS and ICE parameters from its SDP, for one media section."""

    fingerprint: str | None  # 'sha-256 AB:..' (media level, else session level)
    setup: str | None
    ufrag: str | None
    pwd: str | None
    candidates: tuple  # ((address, port, priority), ...) of component 1, UDP
    candidates_rtcp: tuple = ()  # the same for component 2 (RTCP on its own port)
    # The party trickles (a=ice-options:trickle on the media, or without ice-options
    # 10.5's trickle address: c=0.0.0.0 with port 9): candidates it gathers later come as SDP fragments (secure.trickle).
    trickle: bool = False
    # The media's own a=ice-options has trickle: what 10.5's query flags as "trickle ICE"
    # on a leg speaking ICE (not for the session level or the 0.0.0.0/9 address).
    trickle_option: bool = False


# The attributes ``remote_params`` reads, at media and at session level. A media without
# any of them (a plain RTP party: most calls) gets one of the two constants below without
# the lookups, the fingerprint parse and the candidate split.
_MEDIA_ATTRIBUTES = frozenset({"fingerprint", "setup", "ice-ufrag", "ice-pwd", "candidate",
                               "ice-options"})
_SESSION_ATTRIBUTES = frozenset({"fingerprint", "setup", "ice-ufrag", "ice-pwd"})
_PLAIN = RemoteParams(None, None, None, None, (), (), False)
_PLAIN_TRICKLE = RemoteParams(None, None, None, None, (), (), True)


def remote_params(parsed: SessionDescription, index: int) -> RemoteParams:
    section = parsed.medias[index]
    if (_MEDIA_ATTRIBUTES.isdisjoint(section.attribute_index())
            and _SESSION_ATTRIBUTES.isdisjoint(parsed.session_attribute_index())):
        # (no ice-options: 10.5's trickle address says whether the party trickles)
        return _PLAIN_TRICKLE if _trickle_address(parsed, index) else _PLAIN

    def first(name: str) -> str | None:
        values = section.attributes(name) or parsed.session_attributes(name)
        return values[0].strip() if values else None

    fingerprint = first("fingerprint")
    if fingerprint is not None:
        try:
            hash_name, value = dtls.parse_fingerprint(fingerprint)
            fingerprint = f"{hash_name} {value}"
        except ValueError:
            fingerprint = None
    rtp, rtcp = trickle.candidates(section.attributes("candidate"))
    options = section.attributes("ice-options")  # (10.5 reads the media level only)
    trickle_option = any("trickle" in value for value in options)
    trickles = trickle_option if options else _trickle_address(parsed, index)
    setup = first("setup")
    return RemoteParams(fingerprint, setup.lower() if setup else None, first("ice-ufrag"),
                        first("ice-pwd"), rtp, rtcp, trickles, trickle_option)


def _trickle_address(parsed: SessionDescription, index: int) -> bool:
    """10.5's sign of a party that will trickle, when its media has no a=ice-options:
    c=0.0.0.0 with port 9."""
    conn = parsed.media_connection(index)
    return conn is not None and conn.is_zero and parsed.medias[index].port == 9


def ice_restarted(old: RemoteParams | None, new: RemoteParams) -> bool:
    """A party's SDP restarts ICE: new ufrag or pwd where its last SDP had credentials."""
    return (old is not None and bool(old.ufrag) and bool(new.ufrag)
            and (old.ufrag, old.pwd) != (new.ufrag, new.pwd))


def is_dtls(params: RemoteParams | None) -> bool:
    """The party offers or answers DTLS-SRTP: a fingerprint and a setup that is not holdconn."""
    return params is not None and params.fingerprint is not None and params.setup != "holdconn"


def leg_spec(media: CallMedia, client: bool, certificate: dtls.Certificate,
             local_ice: tuple[str, str] | None) -> tuple[tuple | None, tuple | None]:
    """(ice, dtls) for the leg's RTP stream; ``local_ice``: our (ufrag, pwd) on this leg when
    ICE is spoken on it (the party's SDP had ICE and ours did too)."""
    params = media.remote_webrtc
    assert params is not None and params.fingerprint is not None
    dtls_spec = (client, params.fingerprint, certificate)
    return ice_spec(media, local_ice), dtls_spec


def ice_spec(media: CallMedia, local_ice: tuple[str, str] | None) -> tuple | None:
    """The ICE agent's spec for the leg's RTP stream (component 1), or None when ICE is not
    spoken on it or the party gave no credentials."""
    params = media.remote_webrtc
    if local_ice is None or params is None or not (params.ufrag and params.pwd):
        return None
    return (local_ice[0], local_ice[1], params.ufrag, params.pwd,
            media.ice_controlling, params.candidates, media.ice_lite, 1)


def refresh_leg(media: CallMedia, mono, certificate: Callable[[], dtls.Certificate]
                ) -> list[Stream]:
    """Give the party's leg (``media`` of monologue ``mono``) the spec its negotiated state
    calls for: DTLS-SRTP terminated (ICE too when spoken there) where it has a DTLS role, an
    ICE agent alone where ICE is spoken without DTLS, none elsewhere (a passthrough has no
    agent of ours); the streams that changed (for the relay worker). ``certificate`` gives
    the daemon's DTLS certificate, called only for a DTLS role."""
    spec = None
    creds = (mono.ice_credentials if media.ice_out and not media.ice_passthrough
             else None)
    if media.dtls_role is not None:
        spec = leg_spec(media, media.dtls_role == "active", certificate(), creds)
    else:
        agent = ice_spec(media, creds)
        spec = (agent, None) if agent is not None else None
    return set_leg(media, spec, media.dtls_role, rtcp_separate=not media.mux_in_use)


def await_answer(media: CallMedia, mono) -> list[Stream]:
    """An ICE agent on a leg we have just offered ICE to (``media`` of the answering party
    ``mono``), before its answer: a party that got our offer may send checks at once (a
    browser starts as soon as it has our candidates, before its answer reaches us). 10.5
    answers them from the offer on (USERNAME and MESSAGE-INTEGRITY need our credentials
    only); without an agent they would be relayed to the other party as media. The agent
    knows no remote credentials yet: it answers checks but sends none and selects no pair
    (so nothing is sent to the party before its answer says how: no DTLS yet), with the
    role our offer gives it (component 2 on the RTCP port we offer beside rtcp-mux) and
    never as ICE-lite (a lite agent selects what the peer nominates). The answer's spec
    replaces it (``refresh_leg``): a new agent, and the party's retransmitted checks find
    it. Only for a leg with no SDP of the party yet: a re-offer leaves a negotiated leg's
    spec alone until the answer."""
    if (not media.ice_out or media.ice_passthrough or media.remote_webrtc is not None
            or media.dtls_role is not None or mono.ice_credentials is None or not media.streams):
        return []
    creds = mono.ice_credentials
    agent = (creds[0], creds[1], "", "", media.ice_controlling and not media.ice_lite, (), False, 1)
    return set_leg(media, (agent, None), None, rtcp_separate=True)


def offerer_ice(media: CallMedia, mono, certificate: Callable[[], dtls.Certificate],
                alternates: Callable[[], object]) -> list[Stream]:
    """The offering party's leg (``media`` of the offerer ``mono``) when its offer has ICE
    (credentials and candidates) and we speak ICE with it: 10.5 starts the leg's agent at
    the offer, so its checks to the party's candidates go out at once, with the
    credentials our answer will carry (made now), in the controlled role, and the pairs
    have succeeded before the party has our answer (a client that cancels its own check
    when ours arrives first, as rtpengine's Perl test client does, needs that order). The
    spec is the one the answer gives the leg (``refresh_leg``: same credentials, so the
    relay keeps the agent and its pairs); a DTLS offerer that leaves us the client role gets the leg ``early_dtls``
    would give it, its handshake waiting for the nominated pair as after an answer. Not
    for a passed-through leg, one we are ICE-lite on, or one that already has a role.
    ``alternates`` binds the leg's ports on the interface's other addresses now (10.5 has
    them from the offer on; our answer lists them as candidates): the relay gets them
    with the spec, so checks from and to every address start at once."""
    params = media.remote_webrtc
    if (params is None or not (params.ufrag and params.pwd) or not media.ice_out
            or media.ice_passthrough or media.lite_self or media.ice_lite
            or media.dtls_role is not None or not media.streams):
        return []
    if is_dtls(params) and params.setup not in ("actpass", "passive"):
        return []  # (we would be the DTLS server: left to the answer)
    creds = credentials(mono)
    alternates()
    if is_dtls(params):
        spec = leg_spec(media, True, certificate(), creds)
    else:
        spec = (ice_spec(media, creds), None)
    return set_leg(media, spec, None, rtcp_separate=not media.mux_in_use)


def early_dtls(media: CallMedia, certificate: Callable[[], dtls.Certificate]) -> list[Stream]:
    """The offering party's leg (``media``) when its offer has DTLS-SRTP without ICE and
    leaves us the client role (``a=setup:actpass`` or ``passive``; not without an a=setup):
    10.5 starts the handshake at once, from the offer on, on the RTP port and (without
    rtcp-mux) the RTCP port, whatever the offer's ``DTLS`` flag or protocol says. Starting
    it early saves the party a round trip after its answer arrives. The spec is the one the
    answer gives a leg it terminates with that role, so such an answer keeps the
    association (the relay keeps a leg whose spec is unchanged); any other answer replaces
    it (SDES keys, plain RTP) and the handshake stops. With ICE the checks come first, and
    a leg that already has a DTLS role keeps its association. Unlike 10.5, a re-offer on a
    leg keyed by SDES starts nothing: the relay would have to drop the keys the party is
    still using until its answer (10.5 keeps them beside the new handshake)."""
    params = media.remote_webrtc
    if (params is None or params.fingerprint is None  # (a plain offer: the first test)
            or media.dtls_role is not None or not media.streams
            or params.setup not in ("actpass", "passive") or params.ufrag
            or params.candidates or params.trickle):
        return []
    for stream in media.streams:
        if stream.srtp_in is not None and stream.srtp_in != DTLS_KEYS:
            return []  # keyed by SDES
    return set_leg(media, leg_spec(media, True, certificate(), None), None,
                   rtcp_separate=not media.mux_in_use)


def _rtcp_spec(media: CallMedia, spec: tuple[tuple | None, tuple | None]) -> tuple:
    """(ice, dtls) of the leg's RTCP stream when RTCP has a port of its own: a DTLS
    association of its own (same role and fingerprint, RFC 5764 4.1: every component does
    its handshake, as 10.5 does per socket) and ICE component 2 with the peer's component-2
    candidates."""
    agent_spec, dtls_spec = spec
    if agent_spec is not None:
        params = media.remote_webrtc
        agent_spec = (*agent_spec[:5], params.candidates_rtcp if params is not None else (),
                      agent_spec[6], 2)
    return agent_spec, dtls_spec


# What a terminated DTLS leg's stream carries as its SRTP keys on the control plane: the
# relay takes the real ones from the handshake, but everything that asks "is this stream
# encrypted?" (the kernel forwarding planner, which must leave it in userspace) sees SRTP.
DTLS_KEYS = ("DTLS-SRTP", b"")


def set_leg(media: CallMedia, spec: tuple[tuple | None, tuple | None] | None,
            role: str | None, rtcp_separate: bool = False) -> list[Stream]:
    """Give the media's RTP stream its WebRTC spec (None: none), and its RTCP stream one of
    its own when ``rtcp_separate`` (no rtcp-mux on the leg); the streams that changed."""
    agent_spec, dtls_spec = spec if spec is not None else (None, None)
    rtcp_want = (_rtcp_spec(media, (agent_spec, dtls_spec))
                 if rtcp_separate and (dtls_spec is not None or agent_spec is not None)
                 else (None, None))
    media.dtls_role = role
    changed = []
    for stream in media.streams:
        want = (agent_spec, dtls_spec) if not stream.rtcp else rtcp_want
        if stream.rare is None and want == (None, None):
            continue  # no agent, no DTLS, no keys: nothing to take away
        terminated = want[1] is not None
        marked = stream.srtp_in == DTLS_KEYS
        if (stream.ice, stream.dtls) != want or terminated != marked:
            stream.ice, stream.dtls = want
            if terminated:
                stream.srtp_in = stream.srtp_out = DTLS_KEYS
            else:
                stream.fingerprint_verified = False
                if marked:  # (SDES keys set_keys just gave it stay)
                    stream.srtp_in = stream.srtp_out = None
            changed.append(stream)
    return changed
