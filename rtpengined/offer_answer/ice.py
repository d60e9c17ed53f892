"""ICE on a leg we speak it on: credentials per party, foundations, candidates on the
interface's other addresses.
"""

from __future__ import annotations

import hashlib
import secrets
import string

from ..model import CallMedia, Interface, Monologue
from ..protocol.ngcodec import NgError
from ..sdp import IceCredentials

_ALNUM = string.ascii_letters + string.digits


class IceCandidates:
    """ICE credentials and alternate candidates of one transaction (mixed into ``_Session``)."""

    def _ice(self, mono: Monologue, interface: Interface) -> IceCredentials:
        creds = mono.ice_credentials
        if creds is None:
            creds = ("".join(secrets.choice(_ALNUM) for _ in range(8)),
                     "".join(secrets.choice(_ALNUM) for _ in range(26)))
            mono.ice_credentials = creds
        return IceCredentials(creds[0], creds[1], _foundation(interface))

    def _ice_alternates(self, media: CallMedia) -> list[tuple[Interface, int, int | None]]:
        """Ports on the logical interface's other addresses, offered as ICE candidates.

        10.5 binds a port pair on every address of the interface (IPv4 and IPv6 under one
        name) and lists them all. Ours are bound (reserved) for the call's lifetime but not
        relayed: a peer that picks one gets no media (documented deviation).
        """
        rtp = media.rtp
        assert rtp is not None
        cached = media.ice_alternates
        if cached is not None and cached[0] == rtp.id:
            return cached[1]
        count = 2 if media.rtcp is not None else 1
        alternates: list[tuple[Interface, int, int | None]] = []
        for pool in self.manager.port_pools:
            if pool.interface.name != rtp.interface.name or pool.interface == rtp.interface:
                continue
            try:
                ports = pool.allocate(count)
            except NgError:
                continue
            self.call.retired_ports.extend((pool.interface, port, sock) for port, sock in ports)
            rtcp_port = ports[1][0] if count == 2 else None
            alternates.append((pool.interface, ports[0][0], rtcp_port))
        media.ice_alternates = (rtp.id, alternates)
        return alternates


def _foundation(interface: Interface) -> str:
    """A stable ICE foundation per local address (16 characters, like 10.5's)."""
    digest = hashlib.sha256(interface.address.encode()).digest()
    return "".join(_ALNUM[b % len(_ALNUM)] for b in digest[:16])
