"""Per-stream counters in shared memory: relay workers write, the control plane reads.

One ``memfd`` holds a fixed-size slot per open stream. It is sized for many slots but
sparse: pages are only backed by memory once a slot in them is used, and the control
plane hands out the lowest free slot first so the used part stays compact. A reader
never waits on a worker: each slot carries a sequence number that is odd while the
worker writes it (a seqlock), and the reader retries on a torn read.

Slot layout (80 bytes, little endian)::

    0  u64 seq           odd while being written
    8  u64 packets       received on the stream's socket (dropped ones included)
    16 u64 bytes         UDP payload bytes of those packets
    24 u64 errors        packets the worker dropped or failed to send
    32 f64 last_packet   wall-clock time of the last received packet (0: none)
    40 u32 ssrc          last seen RTP/RTCP SSRC
    44 u8  ssrc_seen     bit 0: an SSRC was seen; bit 1: an RTCP packet was seen
    45 u8  flags         bit 0 confirmed
    46 u16 port          learned endpoint port
    48 16s address       learned endpoint address (packed, IPv4 in the first 4 bytes)
    64 u32 kernel_drops  packets the kernel dropped on the socket (receive buffer full)
    68 u8  family        learned endpoint family: 0 none, 4, 6
    69 u8  payload_type  0x80 | payload type of the last RTP packet received (0: none yet)
    72 u64 generation    version of the stream's settings the worker has applied

Bytes 8-45 are the *traffic* part, which the relay rewrites after every drain
(``write_traffic``); the rest changes rarely and is written with the whole slot.
"""

from __future__ import annotations

import heapq
import mmap
import os
import socket
import struct
from dataclasses import dataclass

SLOT_SIZE = 80
_ZERO_SLOT = bytes(SLOT_SIZE)
DEFAULT_CAPACITY = 1 << 20  # slots; 80 MiB of address space, backed only where used

SEQ = struct.Struct("<Q")
BODY = struct.Struct("<QQQdIBBH16sIBB2xQ")  # everything after seq
TRAFFIC = struct.Struct("<QQQdIB")  # packets, bytes, errors, last_packet, ssrc, ssrc_seen
CONFIRMED = 1
SSRC_SEEN = 2
RTCP_SEEN = 4  # in read_raw's flags (bit 1 of the ssrc_seen byte): RTCP arrived here
PAYLOAD_TYPE_SEEN = 0x80  # in the payload_type byte: a type was seen


@dataclass(frozen=True)
class SlotValues:
    packets: int
    bytes: int
    errors: int
    last_packet: float
    ssrc: int | None
    endpoint: tuple[str, int] | None
    confirmed: bool
    kernel_drops: int
    generation: int
    written: bool  # False until a worker has written the slot
    payload_type: int | None = None  # of the last RTP packet received


def pack_address(family: int, address: str) -> bytes:
    """Packed 16-byte form of an IP text for the slot (IPv4 padded with zeros)."""
    af = socket.AF_INET6 if family == 6 else socket.AF_INET
    return socket.inet_pton(af, address).ljust(16, b"\0")


def unpack_address(family: int, packed: bytes) -> str:
    if family == 6:
        return socket.inet_ntop(socket.AF_INET6, packed)
    return socket.inet_ntop(socket.AF_INET, packed[:4])


class CounterTable:
    """The shared slots, mapped in this process (control plane or worker)."""

    def __init__(self, fd: int, capacity: int) -> None:
        self.fd = fd
        self.capacity = capacity
        self.map = mmap.mmap(fd, capacity * SLOT_SIZE, mmap.MAP_SHARED)

    @classmethod
    def create(cls, capacity: int = DEFAULT_CAPACITY) -> CounterTable:
        fd = os.memfd_create("rtpengined-counters", os.MFD_CLOEXEC)
        os.ftruncate(fd, capacity * SLOT_SIZE)
        return cls(fd, capacity)

    @classmethod
    def attach(cls, fd: int) -> CounterTable:
        """Map a table created by another process (``fd`` inherited or received)."""
        return cls(fd, os.fstat(fd).st_size // SLOT_SIZE)

    def close(self) -> None:
        self.map.close()
        os.close(self.fd)

    # -- writer side (one worker per slot) ----------------------------------------

    def write(
        self,
        slot: int,
        packets: int,
        nbytes: int,
        errors: int,
        last_packet: float,
        ssrc: int,
        port: int,
        family: int,
        flags: int,
        address: bytes,
        kernel_drops: int,
        generation: int,
        payload_type: int = 0,
    ) -> None:
        offset = slot * SLOT_SIZE
        seq = SEQ.unpack_from(self.map, offset)[0] | 1
        SEQ.pack_into(self.map, offset, seq)
        BODY.pack_into(
            self.map, offset + 8, packets, nbytes, errors, last_packet, ssrc,
            (1 if flags & SSRC_SEEN else 0) | (2 if flags & RTCP_SEEN else 0),
            flags & CONFIRMED, port, address,
            kernel_drops & 0xFFFFFFFF, family, payload_type, generation,
        )
        SEQ.pack_into(self.map, offset, seq + 1)

    def write_traffic(
        self, slot: int, packets: int, nbytes: int, errors: int, last_packet: float, ssrc: int,
        ssrc_seen: int,
    ) -> None:
        """Update only the traffic part (the relay's write after each drain; cheaper)."""
        offset = slot * SLOT_SIZE
        mapped = self.map
        seq = SEQ.unpack_from(mapped, offset)[0] | 1
        SEQ.pack_into(mapped, offset, seq)
        TRAFFIC.pack_into(mapped, offset + 8, packets, nbytes, errors, last_packet, ssrc, ssrc_seen)
        SEQ.pack_into(mapped, offset, seq + 1)

    def clear(self, slot: int) -> None:
        """Zero a slot before it is given to a new stream."""
        offset = slot * SLOT_SIZE
        self.map[offset : offset + SLOT_SIZE] = _ZERO_SLOT

    # -- reader side ----------------------------------------------------------------

    def read_raw(self, slot: int) -> tuple:
        """The slot as ``(packets, bytes, errors, last_packet, ssrc, port, family, flags,
        address, kernel_drops, generation, payload_type)``, consistent thanks to the seqlock.

        ``flags`` combines ``CONFIRMED``, ``SSRC_SEEN`` and ``RTCP_SEEN`` as ``write`` takes them;
        ``payload_type`` is the raw byte (``PAYLOAD_TYPE_SEEN`` set once one was seen).
        """
        offset = slot * SLOT_SIZE
        while True:
            before = SEQ.unpack_from(self.map, offset)[0]
            if before & 1:
                continue
            (packets, nbytes, errors, last, ssrc, seen, flags, port, address, drops, family,
             payload_type, generation) = BODY.unpack_from(self.map, offset + 8)
            if SEQ.unpack_from(self.map, offset)[0] == before:
                return (packets, nbytes, errors, last, ssrc, port, family,
                        flags | (SSRC_SEEN if seen & 1 else 0) | (RTCP_SEEN if seen & 2 else 0),
                        address, drops, generation,
                        payload_type)

    def read(self, slot: int) -> SlotValues:
        (packets, nbytes, errors, last, ssrc, port, family, flags, address, drops, gen,
         payload_type) = self.read_raw(slot)
        endpoint = (unpack_address(family, address), port) if family else None
        return SlotValues(
            packets, nbytes, errors, last, ssrc if flags & SSRC_SEEN else None, endpoint,
            bool(flags & CONFIRMED), drops, gen, self.written(slot),
            payload_type & 0x7F if payload_type & PAYLOAD_TYPE_SEEN else None,
        )

    def written(self, slot: int) -> bool:
        return SEQ.unpack_from(self.map, slot * SLOT_SIZE)[0] != 0

    def traffic_sums(self, stop: int, count_flowing: bool = True,
                     start: int = 0) -> tuple[int, int, int, int]:
        """``(packets, bytes, errors + kernel drops, slots with packets)`` summed over
        slots ``start .. stop-1``: strided sums in C over the shared map, no Python work per
        stream (free slots are zero, see ``SlotAllocator``). ``count_flowing=False``
        skips the last figure (0 then), which costs as much as the three sums.

        Not seqlocked: a slot being written may count a packet early or late, which a
        per-slot read taken a moment earlier or later would do too.
        """
        slots = stop - start
        if slots <= 0:
            return 0, 0, 0, 0
        words_per_slot, halves_per_slot = SLOT_SIZE // 8, SLOT_SIZE // 4
        with memoryview(self.map) as mapped, \
                mapped[start * SLOT_SIZE: stop * SLOT_SIZE] as used, \
                used.cast("Q") as words, used.cast("I") as halves, \
                words[1::words_per_slot] as packets:
            return (
                sum(packets),
                sum(words[2::words_per_slot]),
                sum(words[3::words_per_slot]) + sum(halves[16::halves_per_slot]),
                slots - packets.tolist().count(0) if count_flowing else 0,
            )


class SlotAllocator:
    """Hands out the lowest free slot, so the touched part of the table stays small.

    With ``table``, a released slot is zeroed at once (its worker has let go of it), so
    ``CounterTable.traffic_sums`` over the used part counts open streams only.
    """

    def __init__(self, capacity: int, table: CounterTable | None = None, base: int = 0) -> None:
        self.capacity = capacity
        self.base = base  # first slot of this allocator's region of the table
        self.next_unused = 0
        self.free: list[int] = []
        self.table = table

    def allocate(self) -> int:
        if self.free:
            return heapq.heappop(self.free)
        if self.next_unused >= self.capacity:
            raise RuntimeError("media counter table is full")
        self.next_unused += 1
        return self.base + self.next_unused - 1

    @property
    def end(self) -> int:
        """One past the highest slot handed out so far: the used part is ``base .. end-1``."""
        return self.base + self.next_unused

    def owns(self, slot: int) -> bool:
        return self.base <= slot < self.base + self.capacity

    def release(self, slot: int) -> None:
        if self.table is not None:
            self.table.clear(slot)
        heapq.heappush(self.free, slot)
