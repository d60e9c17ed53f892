"""ICE on a leg we speak it on: credentials per party, foundations, candidates on the
interface's other addresses, and which ICE an offer/answer writes (the ``ICE`` option).

``ICE: optional`` and ``force-relay`` keep a party's own ICE attributes. When that party's
SDP has ICE (an ``a=ice-ufrag``), both legs of the media become an ICE *passthrough* (10.5's
term, shown by query): the parties do ICE end to end through us, we are merely one more
candidate. Its credentials and candidates stay where they are, ours follow without
credentials of our own, at priorities below the party's host candidates as 10.5 walks them
(``passthrough_preference``; its 32-bit arithmetic included), and neither party's DTLS/SDES
is terminated. It
lasts for the call, whatever later ``ICE`` options say. ``force-relay`` also leaves m=, c=,
o= and the a=rtcp lines as they were and writes our candidates as ``relay`` (type
preference 0, with raddr/rport), dropping the party's own relay candidates.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
import string
from typing import TYPE_CHECKING

from ..model import Call, CallMedia, Interface, Monologue
from ..ngoptions import Options
from ..protocol.ngcodec import NgError
from ..sdp import Connection, IceCredentials, MediaPlan, SessionDescription, ice_hosts, ice_priority

if TYPE_CHECKING:
    from ..calls import CallManager

_ALNUM = string.ascii_letters + string.digits


def new_credentials() -> tuple[str, str]:
    """A party's ICE ufrag and pwd as 10.5 makes them (8 and 26 characters)."""
    return ("".join(secrets.choice(_ALNUM) for _ in range(8)),
            "".join(secrets.choice(_ALNUM) for _ in range(26)))


def credentials(mono: Monologue) -> tuple[str, str]:
    """The party's ICE ufrag and pwd, made on first use (kept until an ICE restart)."""
    if mono.ice_credentials is None:
        mono.ice_credentials = new_credentials()
    return mono.ice_credentials


class IceCandidates:
    """ICE credentials and alternate candidates of one transaction (mixed into ``_Session``)."""

    manager: CallManager  # (``_Session`` sets both)
    call: Call

    def _ice(self, mono: Monologue, interface: Interface) -> IceCredentials:
        creds = credentials(mono)
        return IceCredentials(creds[0], creds[1], foundation(interface))

    def _plan_ice(self, plan: MediaPlan, parsed: SessionDescription, index: int,
                  sender_media: CallMedia, out_media: CallMedia, receiver: Monologue,
                  opts: Options, is_offer: bool, rtcp_port: int,
                  roles_kept: bool = False) -> bool:
        """The ICE of one media sent on (``plan``), from the ``ICE`` option and the legs'
        state; whether the media is an ICE passthrough (see the module's docstring).
        ``roles_kept``: a re-offer to a leg that answered before, without an ICE restart,
        where 10.5 leaves the ICE roles as they were (none, after a passthrough)."""
        section = parsed.medias[index]
        rtp = out_media.rtp
        assert rtp is not None
        relay = opts.ice == "force-relay"
        keeps = opts.ice in ("optional", "force-relay")
        offers_ice = bool(section.attributes("ice-ufrag") or parsed.session_attributes("ice-ufrag"))
        if keeps and offers_ice:
            out_media.ice_passthrough = sender_media.ice_passthrough = True
        # The passthrough flags and key set and clear it for both legs whatever else holds
        # (10.5).
        if opts.passthrough is not None:
            out_media.ice_passthrough = sender_media.ice_passthrough = opts.passthrough
        passthrough = out_media.ice_passthrough
        if passthrough and (out_media.ice_agent or sender_media.ice_agent):
            out_media.ice_agent = sender_media.ice_agent = False  # (10.5 shuts them down)
        plan.keep_ice = keeps or passthrough
        plan.keep_extmap = passthrough
        plan.strip_relay_candidates = relay
        if relay:
            plan.keep_media_line = True
            # Our a=rtcp only for rtcp-mux in an answer, or offered on one port (required,
            # or kept on a leg that uses it: 10.5): the rest stays.
            if not (plan.rtcp_mux and (not is_offer or "require" in opts.rtcp_mux
                                       or rtcp_port == rtp.port)):
                plan.rtcp_port, plan.rtcp_mux = None, False
        # An answer speaks ICE to the offerer if the offerer's leg uses it (10.5).
        ice_known = parsed.has_ice(index) if is_offer else out_media.ice_out
        ice_mode = opts.ice
        if is_offer and not opts.ice_given and out_media.initialized:
            # A re-offer without an ICE option speaks ICE to the party iff its leg last
            # did (10.5: its own last SDP, or our offer since), whatever the offerer's has.
            ice_mode = "force" if out_media.ice_out else "remove"
        if is_offer:
            speak = ice_mode in ("force", "optional", "force-relay") or (
                ice_mode == "default" and ice_known)
        elif keeps:
            # Answered with ICE beside the answerer's own, or towards an offerer whose leg
            # has an agent of ours (not one passed through: ours has no agent there), also
            # one its last SDP spoke no ICE on (10.5 keeps the agent).
            speak = offers_ice or ((ice_known or out_media.ice_agent) and not passthrough)
        else:
            speak = ice_mode == "force" or (ice_mode == "default" and ice_known)
        # 10.5 leaves the ICE roles alone when this request sets up a passthrough or
        # declines ICE towards a passed-through offerer: a party whose roles no request
        # settled yet is not controlling.
        # (nor with the passthrough flags, which 10.5 applies before it sets any roles)
        settles = ((not keeps or (not offers_ice and speak)) and not roles_kept
                   and opts.passthrough is None)
        # (an answer with an ICE option other than force, from a party without ICE, to an
        # offerer's leg without an agent of ours: 10.5 drops ICE there and stops)
        if (not is_offer and opts.ice not in ("force", "default", "force-relay", "optional")
                and not offers_ice and not out_media.ice_agent):
            settles = False
        settle_roles(out_media, sender_media, settles, is_offer)
        # Trickle towards a party whose own media said a=ice-options:trickle (or with the
        # flag in an offer: 10.5 reads it in offers only), as 10.5: a=ice-options:trickle
        # and a=end-of-candidates (not passed through: no agent). 10.5 writes them for no
        # party that only sits on 0.0.0.0:9.
        remote = out_media.remote_webrtc
        trickle = not passthrough and (("trickle-ICE" in opts.flags and is_offer)
                                       or (remote is not None and remote.trickle_option))
        if not speak:
            out_media.ice_out = False
            # (a leg without ICE now that keeps the agent an earlier request gave it still
            # gets the trickle lines, as 10.5 writes them for any leg with an agent)
            plan.trickle_only = trickle and out_media.ice_agent
            return passthrough
        restarting = receiver.ice_credentials is None  # (new credentials: a new agent)
        ice = plan.ice = self._ice(receiver, rtp.interface)
        ice.trickle = trickle
        plan.ice_rtcp_port = rtcp_port if rtcp_port != rtp.port else None
        # (With force-relay 10.5 replaces no address, so it never reads the media address:
        # the candidates name the interface's own.)
        media_address = None if relay else opts.media_address
        ice.alternates = alternate_candidates(
            ice_alternates(self.manager, self.call, out_media), plan.ice_rtcp_port is not None,
            media_address)
        if relay:
            ice.kind, ice.type_pref = "relay", 0
            address = rtp.interface.advertised
            plan.address = Connection("IP6" if ":" in address else "IP4", address)
        if not (relay or passthrough or restarting):
            _narrow_to_selected(plan, ice, out_media)
        if passthrough:
            ice.credentials = False
            ice.type_pref, ice.local_pref = passthrough_preference(
                section.attributes("candidate"), ice.kind, ice.type_pref)
        out_media.ice_out = True
        if not (passthrough or out_media.ice_agent):
            out_media.ice_agent = True
        out_media.ice_lite = out_media.lite_self
        return passthrough


def settle_roles(out_media: CallMedia, sender_media: CallMedia, settles: bool,
                 is_offer: bool) -> None:
    """The ICE roles of a media's two legs after a request: ``settles``, 10.5 sets the roles
    of a leg not set before as on a first offer or answer (we control towards the party
    offered to); a leg whose roles no request set yet is not controlling."""
    for media, ours in ((out_media, is_offer), (sender_media, not is_offer)):
        if settles and not media.ice_roles_settled:
            media.ice_roles_settled = True
            if not (media.lite_self or media.lite_controlled or media.ice_lite):
                media.ice_controlling = ours
        if not media.ice_roles_settled:
            media.ice_controlling = False


def ice_alternates(manager: CallManager, call: Call,
                   media: CallMedia) -> list[tuple[Interface, int, int | None]]:
    """Ports on the logical interface's other addresses, offered as ICE candidates.

    10.5 binds a port pair on every address of the interface (IPv4 and IPv6 under one
    name) and lists them all; so do we. (Each address has its own pool, walked on its own:
    the numbers agree between addresses only while their pools stay in step, in 10.5 as
    here.) They belong to the media's
    streams (``Stream.alternates``, RTP and RTCP component): once the leg has an ICE
    agent the relay worker receives on them too, answers checks arriving there and, when
    the peer's pair uses one, sends the peer its media from it. The call owns the
    sockets (``retired_ports``: closed with it). Offers and subscriptions (``pubsub``) share it.
    With ``--save-interface-ports`` there are none, as in 10.5.
    """
    rtp = media.rtp
    assert rtp is not None
    cached = media.ice_alternates
    if cached is not None and cached[0] == rtp.id:
        return cached[1]
    rtcp = media.rtcp
    count = 2 if rtcp is not None else 1
    alternates: list[tuple[Interface, int, int | None]] = []
    # (--save-interface-ports: the first address's ports alone, as 10.5 binds then)
    for pool in () if manager.config.save_interface_ports else manager.port_pools:
        if pool.interface.name != rtp.interface.name or pool.interface == rtp.interface:
            continue
        try:
            ports = pool.allocate(count, call.tos)
        except NgError:
            continue
        call.retired_ports += tuple((pool.interface, port, sock) for port, sock in ports)
        rtp.alternates += ((pool.interface, *ports[0]),)
        rtcp_port = None
        if count == 2:
            assert rtcp is not None
            rtcp_port = ports[1][0]
            rtcp.alternates += ((pool.interface, *ports[1]),)
        alternates.append((pool.interface, ports[0][0], rtcp_port))
    media.ice_alternates = (rtp.id, alternates)
    return alternates


def alternate_candidates(alternates: list[tuple[Interface, int, int | None]], with_rtcp: bool,
                         address: str | None = None) -> list[tuple[str, str, int, int | None]]:
    """The candidates (foundation, address, RTP port, RTCP port or None) of the ports
    ``ice_alternates`` bound; ``address`` (``media address``) replaces each interface's."""
    return [(foundation(interface), address or interface.advertised, rtp_port,
             rtcp_port if with_rtcp else None) for interface, rtp_port, rtcp_port in alternates]


def _narrow_to_selected(plan: MediaPlan, ice: IceCredentials, media: CallMedia) -> None:
    """Once ICE selected a pair on the leg (the worker reported its peer), 10.5 offers and
    answers the party only each component's selected local socket: its candidate (rank and
    foundation of its address, as before) and, for the RTP component, c= and the m= port;
    a component without a selection of its own keeps its stream's own socket."""
    rtp, rtcp = media.rtp, media.rtcp
    assert rtp is not None
    if rtp.selected is None:
        return
    hosts = ice_hosts(ice, plan)
    first = rtp.selected if rtp.selected < len(hosts) else 0
    second = rtcp.selected if rtcp is not None and rtcp.selected is not None \
        and rtcp.selected < len(hosts) else 0
    foundation, host, port, _ = hosts[first]
    ice.selected = [(1, first, foundation, host, port)]
    rtcp_port = hosts[second][3]
    if rtcp_port is not None:
        ice.selected.append((2, second, hosts[second][0], hosts[second][1], rtcp_port))
    if first:
        plan.address = Connection("IP6" if ":" in host else "IP4", host)
        plan.port = port


def passthrough_preference(candidates: list[str], kind: str,
                           type_pref: int) -> tuple[int, int]:
    """(type preference, local preference of our first address) for our candidates beside a
    party's own, as 10.5 picks them: walking the party's component-1 candidates of our type
    in SDP order, each one at or below the priority found so far lowers it to one local
    preference under that candidate (one type preference under, local preference 65535,
    when the candidate's was already 0). Like 10.5, only candidates it parses count: UDP
    (``udp``/``UDP``), an IP address (not an mDNS name), the type in lower case."""
    local_pref = 0
    found = ice_priority(type_pref, local_pref, 1)
    for value in candidates:
        parts = value.split()
        if (len(parts) < 8 or parts[2] not in ("udp", "UDP") or parts[7] != kind
                or parts[6] != "typ"):
            continue
        try:
            component, priority = int(parts[1]), int(parts[3])
            ipaddress.ip_address(parts[4])
        except ValueError:
            continue
        if component != 1:
            continue
        if not 0 <= priority <= found:
            continue
        type_pref = priority >> 24 & 0xFF
        local_pref = 65535 - ((priority & 0xFFFF00) >> 8)
        if local_pref:
            local_pref -= 1
        else:
            type_pref, local_pref = max(type_pref - 1, 0), 65535
        found = ice_priority(type_pref, local_pref, 1)
    return type_pref, local_pref


def foundation(interface: Interface) -> str:
    """A stable ICE foundation per local address (16 characters, like 10.5's)."""
    digest = hashlib.sha256(interface.address.encode()).digest()
    return "".join(_ALNUM[b % len(_ALNUM)] for b in digest[:16])
