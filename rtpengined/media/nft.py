"""The effect layer of kernel forwarding: our nftables table, through libnftables and netlink.

``NftKernel`` installs and removes the elements ``kernel.elements`` describes, one
libnftables transaction per batch (never a forked ``nft``), reads the counting set over a
raw nf_tables netlink socket (by key, or one dump) and deletes conntrack entries over a
raw ctnetlink socket. ``open_kernel`` picks it or, saying why once, ``NullKernel``.
The table's layout and the reasons for it are in ``rtpengined.media.kernel``.

It is longer than our other modules because it holds three small wire formats of its own
(libnftables calls, nf_tables and ctnetlink netlink messages) that belong together: split,
each part would be meaningless without the others.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import ipaddress
import logging
import os
import re
import socket
import struct

from .kernel import Kernel, KernelUnavailable, NullKernel, Pair, ct_mark, elements, flows

log = logging.getLogger("rtpengined")

UDP_OVERHEAD = {4: 28, 6: 48}  # the set counters count IP packets; the relay counts UDP payload
FAMILY = {4: "ip", 6: "ip6"}  # nftables family (and match prefix) per address family
ADDRESS_TYPE = {4: "ipv4_addr", 6: "ipv6_addr"}


def table_name(table: int) -> str:
    return f"rtpengined_{table}"


def ruleset(table: int, family: int = 4, tos: int = 0) -> str:
    """The whole table of one address family (created empty of elements), as one nft
    script. IPv4 and IPv6 get a table each, the same name in families ``ip`` and ``ip6``,
    with the same maps, set and rules. With ``tos`` (``--tos``) what the kernel forwards
    leaves with that whole TOS byte (DSCP and ECN bits), as the relay's sockets send it (a
    call with a TOS of its own stays in userspace: ``kernel.why_userspace``)."""
    name = table_name(table)
    mark = ct_mark(table)
    ip, addr = FAMILY[family], ADDRESS_TYPE[family]
    marking = (f"  chain tos_out {{ type filter hook postrouting priority 0; ct mark {mark:#x} "
               f"ct status dnat {ip} dscp set {tos >> 2} {ip} ecn set {tos & 3}; }}\n"
               if tos else "")
    return f"""
table {ip} {name} {{
  map dnat_to {{ type {addr} . inet_service . {addr} . inet_service : {addr} . inet_service; }}
  map snat_to {{ typeof ct original {ip} daddr . udp dport : {ip} saddr . udp sport; }}
  set rx_ports {{ type {addr} . inet_service; counter; }}
  chain count_in {{ type filter hook prerouting priority -150; meta iiftype != loopback {ip} daddr . udp dport @rx_ports ct mark set {mark:#x}; }}
  chain count_local {{ type filter hook output priority -150; {ip} daddr . udp dport @rx_ports ct mark set {mark:#x}; }}
  chain dnat_in {{ type nat hook prerouting priority -100; meta l4proto udp dnat {ip} to {ip} saddr . udp sport . {ip} daddr . udp dport map @dnat_to; }}
  chain dnat_local {{ type nat hook output priority -100; meta l4proto udp dnat {ip} to {ip} saddr . udp sport . {ip} daddr . udp dport map @dnat_to; }}
  chain snat_out {{ type nat hook postrouting priority 100; meta l4proto udp ct status dnat snat {ip} to ct original {ip} daddr . ct original proto-dst map @snat_to; }}
{marking}}}
"""


class NftError(OSError):
    pass


class _Nft:
    """libnftables through ctypes (our Python is not the system one, so no python3-nftables)."""

    JSON = 1 << 4

    def __init__(self) -> None:
        path = ctypes.util.find_library("nftables") or "libnftables.so.1"
        lib = ctypes.CDLL(path)
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
        self.lib = lib
        self.ctx = lib.nft_ctx_new(0)
        if not self.ctx:
            raise NftError("nft_ctx_new failed")
        lib.nft_ctx_buffer_output(self.ctx)
        lib.nft_ctx_buffer_error(self.ctx)
        lib.nft_ctx_output_set_flags(self.ctx, self.JSON)

    def run(self, commands: str) -> str:
        rc = self.lib.nft_run_cmd_from_buffer(self.ctx, commands.encode())
        output = (self.lib.nft_ctx_get_output_buffer(self.ctx) or b"").decode()
        error = (self.lib.nft_ctx_get_error_buffer(self.ctx) or b"").decode()
        if rc != 0:
            raise NftError(error.strip() or f"nft failed ({rc})")
        return output

    def close(self) -> None:
        if self.ctx:
            self.lib.nft_ctx_free(self.ctx)
            self.ctx = None


# ctnetlink (linux/netfilter/nfnetlink_conntrack.h)
_NFNL_SUBSYS_CTNETLINK = 1
_IPCTNL_MSG_CT_DELETE = 2
_NLM_F_REQUEST, _NLM_F_ACK = 1, 4
_NLA_F_NESTED = 0x8000
_CTA_TUPLE_ORIG, _CTA_MARK, _CTA_MARK_MASK = 1, 8, 21
_CTA_TUPLE_IP, _CTA_TUPLE_PROTO = 1, 2
_CTA_IP_V4_SRC, _CTA_IP_V4_DST, _CTA_IP_V6_SRC, _CTA_IP_V6_DST = 1, 2, 3, 4
_CTA_PROTO_NUM, _CTA_PROTO_SRC_PORT, _CTA_PROTO_DST_PORT = 1, 2, 3
_NETLINK_NETFILTER = 12


def _attr(kind: int, payload: bytes) -> bytes:
    data = struct.pack("=HH", 4 + len(payload), kind) + payload
    return data + b"\0" * (-len(data) % 4)


def ct_delete_message(seq: int, flow: tuple[str, int, str, int] | None, mark: int = 0) -> bytes:
    """An IPCTNL_MSG_CT_DELETE for one flow's original tuple (IPv4 or IPv6), or (``flow``
    None) a flush of every entry carrying ``mark``, of either family."""
    family = socket.AF_UNSPEC  # a flush by mark: every family
    if flow is not None:
        src, sport, dst, dport = flow
        if ":" in src:
            family = socket.AF_INET6
            ip = (_attr(_CTA_IP_V6_SRC, socket.inet_pton(family, src))
                  + _attr(_CTA_IP_V6_DST, socket.inet_pton(family, dst)))
        else:
            family = socket.AF_INET
            ip = _attr(_CTA_IP_V4_SRC, socket.inet_aton(src)) + _attr(_CTA_IP_V4_DST, socket.inet_aton(dst))
        proto = (_attr(_CTA_PROTO_NUM, bytes([socket.IPPROTO_UDP]))
                 + _attr(_CTA_PROTO_SRC_PORT, struct.pack("!H", sport))
                 + _attr(_CTA_PROTO_DST_PORT, struct.pack("!H", dport)))
        body = _attr(_CTA_TUPLE_ORIG | _NLA_F_NESTED,
                     _attr(_CTA_TUPLE_IP | _NLA_F_NESTED, ip)
                     + _attr(_CTA_TUPLE_PROTO | _NLA_F_NESTED, proto))
    else:
        body = _attr(_CTA_MARK, struct.pack("!I", mark)) + _attr(_CTA_MARK_MASK, struct.pack("!I", 0xFFFFFFFF))
    payload = struct.pack("=BBH", family, 0, 0) + body
    kind = (_NFNL_SUBSYS_CTNETLINK << 8) | _IPCTNL_MSG_CT_DELETE
    return struct.pack("=IHHII", 16 + len(payload), kind, _NLM_F_REQUEST | _NLM_F_ACK, seq, 0) + payload


class _Conntrack:
    """Deletes conntrack entries over a raw ctnetlink socket (no fork, no library)."""

    CHUNK = 32

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_NETFILTER)
        self.sock.bind((0, 0))
        self.sock.settimeout(1.0)
        self.seq = 0

    def delete(self, flows: list[tuple[str, int, str, int] | None], mark: int = 0) -> int:
        """Delete entries, ``CHUNK`` requests per send, reading each chunk's acknowledgements
        before the next (the kernel drops acks that overrun the socket buffer). Returns
        how many existed. Never waits long: the caller is the event loop."""
        deleted = 0
        for i in range(0, len(flows), self.CHUNK):
            chunk = flows[i:i + self.CHUNK]
            messages = []
            for flow in chunk:
                self.seq += 1
                messages.append(ct_delete_message(self.seq, flow, mark))
            self.sock.send(b"".join(messages))
            acked = 0
            while acked < len(chunk):
                try:
                    data = self.sock.recv(65536)
                except (TimeoutError, BlockingIOError):
                    log.warning("conntrack: %d deletes unacknowledged", len(chunk) - acked)
                    break
                except OSError as error:  # ENOBUFS: acknowledgements lost, the deletes happened
                    log.debug("conntrack acknowledgements: %s", error)
                    break
                offset = 0
                while offset + 20 <= len(data):
                    length, kind = struct.unpack_from("=IH", data, offset)
                    if kind == 2:  # NLMSG_ERROR: the acknowledgement, error 0 or -errno
                        acked += 1
                        deleted += struct.unpack_from("=i", data, offset + 16)[0] == 0
                    offset += max(length + (-length % 4), 16)
        return deleted

    def close(self) -> None:
        self.sock.close()


# nf_tables netlink (linux/netfilter/nf_tables.h): reading set element counters directly.
# libnftables fills its cache with the whole set for any read (even ``get element``),
# which costs ~0.2 s at 20k elements; one GETSETELEM for a few keys costs microseconds.
_NFNL_SUBSYS_NFTABLES = 10
_NFT_MSG_NEWSETELEM, _NFT_MSG_GETSETELEM = 12, 13
_NLM_F_DUMP = 0x300
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_NFTA_SET_ELEM_LIST_TABLE, _NFTA_SET_ELEM_LIST_SET, _NFTA_SET_ELEM_LIST_ELEMENTS = 1, 2, 3
_NFTA_LIST_ELEM = 1
_NFTA_SET_ELEM_KEY, _NFTA_SET_ELEM_EXPR, _NFTA_SET_ELEM_EXPRESSIONS = 1, 7, 10
_NFTA_DATA_VALUE = 1
_NFTA_EXPR_NAME, _NFTA_EXPR_DATA = 1, 2
_NFTA_COUNTER_BYTES, _NFTA_COUNTER_PACKETS = 1, 2


def _attributes(data: bytes, offset: int = 0, end: int | None = None) -> list[tuple[int, bytes]]:
    out = []
    end = len(data) if end is None else end
    while offset + 4 <= end:
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4:
            break
        out.append((kind & 0x3FFF, data[offset + 4: offset + length]))
        offset += length + (-length % 4)
    return out


def port_key(address: str, port: int) -> bytes:
    """``ipv4_addr . inet_service`` (or ``ipv6_addr . …``) as the kernel stores it (each
    field padded to 4 bytes)."""
    if ":" in address:
        return socket.inet_pton(socket.AF_INET6, address) + struct.pack("!H", port) + b"\0\0"
    return socket.inet_aton(address) + struct.pack("!H", port) + b"\0\0"


def getsetelem_message(seq: int, table: str, name: str, keys: list[tuple[str, int]] | None,
                       family: int = 4) -> bytes:
    """A GETSETELEM for ``keys`` of set ``name`` in the table of ``family`` (4 or 6), or
    (``keys`` None) a dump of all of it."""
    body = (_attr(_NFTA_SET_ELEM_LIST_TABLE, table.encode() + b"\0")
            + _attr(_NFTA_SET_ELEM_LIST_SET, name.encode() + b"\0"))
    flags = _NLM_F_REQUEST
    if keys is None:
        flags |= _NLM_F_DUMP
    else:
        items = b"".join(
            _attr(_NFTA_LIST_ELEM | _NLA_F_NESTED,
                  _attr(_NFTA_SET_ELEM_KEY | _NLA_F_NESTED, _attr(_NFTA_DATA_VALUE, port_key(*key))))
            for key in keys)
        body += _attr(_NFTA_SET_ELEM_LIST_ELEMENTS | _NLA_F_NESTED, items)
    payload = struct.pack("=BBH", socket.AF_INET6 if family == 6 else socket.AF_INET, 0, 0) + body
    kind = (_NFNL_SUBSYS_NFTABLES << 8) | _NFT_MSG_GETSETELEM
    return struct.pack("=IHHII", 16 + len(payload), kind, flags, seq, 0) + payload


def _counter_of(expr: bytes) -> tuple[int, int] | None:
    attrs = dict(_attributes(expr))
    if attrs.get(_NFTA_EXPR_NAME, b"").rstrip(b"\0") != b"counter":
        return None
    data = dict(_attributes(attrs.get(_NFTA_EXPR_DATA, b"")))
    packets = struct.unpack("!Q", data[_NFTA_COUNTER_PACKETS])[0] if _NFTA_COUNTER_PACKETS in data else 0
    nbytes = struct.unpack("!Q", data[_NFTA_COUNTER_BYTES])[0] if _NFTA_COUNTER_BYTES in data else 0
    return packets, nbytes


# One ``rx_ports`` element as the kernel dumps it: key (address, port, padding), then the
# counter expression (bytes, packets). Matching the whole fixed layout at once is ~10x
# faster than walking the attributes in Python (20k elements: 9 ms instead of 94 ms).
_ELEMENT = re.compile(
    rb"\x10\x00\x01[\x00\x80]\x0c\x00\x01\x00(.{4})(.{2})\x00\x00"
    rb"\x2c\x00\x07[\x00\x80]\x0c\x00\x01\x00counter\x00\x1c\x00\x02[\x00\x80]"
    rb"\x0c\x00\x01\x00(.{8})\x0c\x00\x02\x00(.{8})", re.S)
_ELEMENT6 = re.compile(  # the same with a 16-byte address (key attribute 28 bytes, value 24)
    rb"\x1c\x00\x01[\x00\x80]\x18\x00\x01\x00(.{16})(.{2})\x00\x00"
    rb"\x2c\x00\x07[\x00\x80]\x0c\x00\x01\x00counter\x00\x1c\x00\x02[\x00\x80]"
    rb"\x0c\x00\x01\x00(.{8})\x0c\x00\x02\x00(.{8})", re.S)
_U64 = struct.Struct("!Q")
_U16 = struct.Struct("!H")


def _address_text(packed: bytes) -> str:
    if len(packed) == 16:
        return str(ipaddress.IPv6Address(packed))  # the form kernel.Leg keys use
    return socket.inet_ntoa(packed[:4])


def parse_setelems(data: bytes, out: dict[tuple[str, int], tuple[int, int]], family: int = 4) -> bool:
    """Add the counters of the elements in a buffer of NEWSETELEM messages (from the table
    of ``family``) to ``out``; True when the buffer ends the reply (NLMSG_DONE or an error)."""
    offset = 0
    finished = False
    found = 0
    u16, u64 = _U16.unpack, _U64.unpack
    overhead = UDP_OVERHEAD[family]
    text = socket.inet_ntoa if family == 4 else _address_text
    for address, port, nbytes, packets in (_ELEMENT if family == 4 else _ELEMENT6).findall(data):
        count = u64(packets)[0]
        out[(text(address), u16(port)[0])] = (count, u64(nbytes)[0] - overhead * count)
        found += 1
    while offset + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, offset)
        if length < 16:
            break
        if kind in (_NLMSG_DONE, _NLMSG_ERROR):
            finished = True
        elif kind & 0xFF == _NFT_MSG_NEWSETELEM and not found:  # another layout: the slow way
            _parse_elements(data, offset, length, out, family)
        offset += length + (-length % 4)
    return finished


def _parse_elements(data: bytes, offset: int, length: int,
                    out: dict[tuple[str, int], tuple[int, int]], family: int = 4) -> None:
    """The elements of one NEWSETELEM message, attribute by attribute (any layout)."""
    for attr, value in _attributes(data, offset + 20, offset + length):
        if attr != _NFTA_SET_ELEM_LIST_ELEMENTS:
            continue
        for _, element in _attributes(value):
            fields = dict(_attributes(element))
            key = dict(_attributes(fields.get(_NFTA_SET_ELEM_KEY, b""))).get(_NFTA_DATA_VALUE)
            if key is None or len(key) < 6:
                continue
            counter = None
            if _NFTA_SET_ELEM_EXPR in fields:
                counter = _counter_of(fields[_NFTA_SET_ELEM_EXPR])
            for _, expr in _attributes(fields.get(_NFTA_SET_ELEM_EXPRESSIONS, b"")):
                counter = counter or _counter_of(expr)
            packets, nbytes = counter or (0, 0)
            size = 16 if family == 6 else 4
            if len(key) < size + 2:
                continue
            address = _address_text(key[:size])
            port = struct.unpack_from("!H", key, size)[0]
            out[(address, port)] = (packets, nbytes - UDP_OVERHEAD[family] * packets)


class _SetReader:
    """Reads ``rx_ports`` counters over a raw nf_tables netlink socket."""

    CHUNK = 64  # keys per request

    def __init__(self, table: str, family: int = 4) -> None:
        self.table = table
        self.family = family
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_NETFILTER)
        self.sock.bind((0, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.sock.settimeout(1.0)
        self.seq = 0

    def _read(self, message: bytes, replies: int | None) -> dict[tuple[str, int], tuple[int, int]]:
        """Send a request, collect elements until DONE (dump) or ``replies`` messages."""
        out: dict[tuple[str, int], tuple[int, int]] = {}
        self.sock.send(message)
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except (TimeoutError, BlockingIOError):
                log.warning("kernel counters: no reply")
                return out
            if parse_setelems(data, out, self.family) or (replies is not None and len(out) >= replies):
                return out

    def all(self) -> dict[tuple[str, int], tuple[int, int]]:
        self.seq += 1
        return self._read(getsetelem_message(self.seq, self.table, "rx_ports", None, self.family),
                          None)

    def some(self, keys: list[tuple[str, int]]) -> dict[tuple[str, int], tuple[int, int]]:
        out: dict[tuple[str, int], tuple[int, int]] = {}
        for i in range(0, len(keys), self.CHUNK):
            chunk = keys[i:i + self.CHUNK]
            self.seq += 1
            out.update(self._read(getsetelem_message(self.seq, self.table, "rx_ports", chunk,
                                                     self.family), len(chunk)))
        return out

    def close(self) -> None:
        self.sock.close()


class NftKernel:
    """Kernel forwarding through our nftables tables (``ip``, and ``ip6`` when the host
    forwards IPv6); one transaction per batch of changes, whatever the families."""

    def __init__(self, table: int, tos: int = 0) -> None:
        if not _forwarding(4):
            # DNAT to a peer on another host sends the packet down the forward path.
            raise NftError("net.ipv4.ip_forward is 0: packets for peers on other hosts "
                           "would be dropped")
        self.table = table
        self.name = table_name(table)
        self.active = True
        self.nft = _Nft()
        self.conntrack = _Conntrack()
        self.discard()  # a killed predecessor's tables and NAT bindings
        self.nft.run(ruleset(table, 4, tos))
        families = {4}
        if not _forwarding(6):
            log.warning("kernel forwarding: net.ipv6.conf.all.forwarding is 0: IPv6 media is "
                        "relayed in userspace")
        else:
            try:
                self.nft.run(ruleset(table, 6, tos))
                families.add(6)
            except NftError as error:
                log.warning("kernel forwarding of IPv6 unavailable (%s): relayed in userspace", error)
        self.families = frozenset(families)
        self.readers = {family: _SetReader(self.name, family) for family in self.families}

    def discard(self) -> None:
        for family in (4, 6):
            try:
                self.nft.run(f"delete table {FAMILY[family]} {self.name}")
            except NftError:
                pass  # none there
        self.conntrack.delete([None], ct_mark(self.table))

    def _elements(self, verb: str, pairs: list[Pair]) -> str:
        """The commands for ``pairs``: per family with pairs, its two maps and the set."""
        script = []
        for family in (4, 6):
            dnat: list[str] = []
            snat: list[str] = []
            rx: list[str] = []
            for pair in pairs:
                if pair.family != family:
                    continue
                e = elements(pair)
                dnat += e.dnat
                snat += e.snat
                rx += e.rx
            if not rx:
                continue
            if verb == "delete":  # a map's element is deleted by its key
                dnat = [d.split(" : ")[0] for d in dnat]
                snat = [s.split(" : ")[0] for s in snat]
            head = f"{verb} element {FAMILY[family]} {self.name}"
            script.append(f"{head} dnat_to {{ {', '.join(dnat)} }}\n"
                          f"{head} snat_to {{ {', '.join(snat)} }}\n"
                          f"{head} rx_ports {{ {', '.join(rx)} }}\n")
        return "".join(script)

    def install(self, pairs: list[Pair]) -> list[Pair]:
        pairs = [pair for pair in pairs if pair.family in self.families]
        if not pairs:
            return []
        try:
            self.nft.run(self._elements("add", pairs))
        except NftError as error:
            if len(pairs) == 1:
                log.warning("kernel forwarding of streams %d/%d failed: %s",
                            pairs[0].a.stream_id, pairs[0].b.stream_id, error)
                return []
            return [p for pair in pairs for p in self.install([pair])]  # find the bad one
        # Flows the userspace relay started do not see the new NAT until they are gone.
        self.conntrack.delete([f for pair in pairs for f in flows(pair)])
        return pairs

    def remove(self, pairs: list[Pair]) -> dict[tuple[str, int], tuple[int, int]]:
        if not pairs:
            return {}
        last = self.counters([(leg.our_address, leg.our_port)
                              for pair in pairs for leg in pair.legs()])
        try:
            self.nft.run(self._elements("delete", pairs))
        except NftError:
            for pair in pairs if len(pairs) > 1 else ():
                try:
                    self.nft.run(self._elements("delete", [pair]))
                except NftError:
                    pass
        self.conntrack.delete([f for pair in pairs for f in flows(pair)])
        return last

    def counters(self, keys: list[tuple[str, int]] | None = None
                 ) -> dict[tuple[str, int], tuple[int, int]]:
        out: dict[tuple[str, int], tuple[int, int]] = {}
        for family, reader in self.readers.items():
            if keys is None:
                out.update(reader.all())
                continue
            wanted = [key for key in keys if (":" in key[0]) == (family == 6)]
            if wanted:
                out.update(reader.some(wanted))
        return out

    def close(self) -> None:
        if not self.active:
            return
        self.active = False
        try:
            self.discard()
        finally:
            self.nft.close()
            self.conntrack.close()
            for reader in self.readers.values():
                reader.close()


def open_kernel(table: int, no_fallback: bool = False, tos: int = 0) -> Kernel:
    """``NftKernel`` for ``--table`` >= 0 when this process may use it; otherwise (said
    once, in the log) ``NullKernel`` and userspace relaying for everything, or with
    ``no_fallback`` (``--no-fallback``, as rtpengine's) ``KernelUnavailable``."""
    if table < 0:
        return NullKernel()
    if os.geteuid() != 0 and not _has_net_admin():
        why = "no CAP_NET_ADMIN"
    else:
        try:
            return NftKernel(table, tos)
        except (OSError, AttributeError) as error:
            why = str(error)
    if no_fallback:
        raise KernelUnavailable(f"kernel forwarding with table {table} unavailable ({why}) "
                                "and --no-fallback is set: not relaying in userspace")
    log.warning("kernel forwarding disabled (%s); relaying media in userspace", why)
    return NullKernel()


def _forwarding(family: int) -> bool:
    """Whether the host forwards ``family`` (4 or 6): DNAT to another host needs it."""
    path = ("/proc/sys/net/ipv4/ip_forward" if family == 4
            else "/proc/sys/net/ipv6/conf/all/forwarding")
    try:
        with open(path) as handle:
            return handle.read().strip() == "1"
    except OSError:
        return False


def _has_net_admin() -> bool:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) & (1 << 12))
    except OSError:
        pass
    return False
