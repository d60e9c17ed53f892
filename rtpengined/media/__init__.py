"""The media plane's interface as the control plane sees it.

The control plane binds media sockets (``ports``) and tells a ``MediaPlane`` which
stream relays where. Implementations: ``NullMediaPlane`` (unit tests, no packets) and
the worker-process relay in ``rtpengined.media.plane``. Every method is synchronous and
non-blocking so the sans-I/O command code can call it directly.
"""

from __future__ import annotations

import _socket
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol

from ..model import Stream


class MediaPlane(Protocol):
    # What went into the relay's conversions since the start, by (codec in, codec out) as
    # the conversions name them: [packets, payload bytes, samples decoded] (``refresh``
    # brings it up to date; ``statistics``' transcoders).
    transcoded: dict[tuple[str, str], list[int]]

    def open_stream(self, stream: Stream) -> None:
        """Start receiving on ``stream.sock`` and relaying to ``stream.sink``."""

    def update_stream(self, stream: Stream) -> None:
        """``stream``'s sink, endpoints or flags changed."""

    def close_stream(self, stream: Stream, counted: bool = False) -> None:
        """Stop relaying and close ``stream.sock``; final counters stay in ``stream.stats``
        (``counted``: the caller ``refresh``ed them just now, for the call's final lines, and
        they are the final ones: not read again, so both say the same)."""

    def retire_stream(self, stream: Stream, successor: Stream) -> None:
        """A re-INVITE replaced ``stream`` by ``successor``: keep relaying what arrives on
        ``stream.sock`` as ``successor`` does (same sink, counters added into
        ``successor.stats``), as 10.5 does, until ``close_stream(stream)`` at call end."""

    def take_back(self, stream: Stream) -> _socket.socket | None:
        """Stop relaying what arrives on a retired ``stream`` and hand back its socket,
        still bound, for a new stream on the same port (its party came back to the far
        address the port was bound for); None if it is gone (the daemon shuts down)."""

    def inject_dtmf(self, stream: Stream, event: tuple) -> None:
        """Queue a DTMF event (``dtmf.Event``'s fields) into what ``stream`` receives and
        relays converted (``play DTMF``): the party its sink sends to hears it."""

    def probe_media(self, source: bytes | str) -> int:
        """Open a media file (its name) or blob as ``play media`` will: its duration in ms
        (0: unknown). Raises ``ValueError`` when it cannot be opened (``media.player``)."""

    def play_media(self, stream: Stream, playback: tuple) -> None:
        """Play a media to the party ``stream`` sends to us from: (source, codec name,
        payload type, frame in clock units, times played, SRTP keys of a leg whose keys
        pass end to end or None, the CNAME of the player's RTCP reports), see
        ``media.player``."""

    def stop_media(self, stream: Stream) -> None:
        """Stop what plays to ``stream``'s party (nothing when nothing does)."""

    def set_log_level(self, subsystem: str, level: int) -> None:
        """``subsystem``'s log level (syslog's numbers) in every relay worker too (the CLI's
        ``set loglevel``, SIGUSR1/2): they are processes of their own."""

    def refresh(self, streams: list[Stream] | None = None) -> None:
        """Copy the latest counters and learned endpoints into ``stream.stats``/``endpoint``.

        Cheap (reads shared memory); called before any view is rendered.
        """

    def batch(self) -> AbstractContextManager[None]:
        """Collect the changes made inside the block and hand them to the relay at its end."""


class NullMediaPlane:
    """A media plane that relays nothing: for unit tests of the call model."""

    def __init__(self) -> None:
        self.open: dict[int, Stream] = {}
        self.transcoded: dict[tuple[str, str], list[int]] = {}  # (nothing converts here)
        self.dtmf: list[tuple[int, tuple]] = []  # (stream id, event) injected, in order
        self.played: list[tuple[int, tuple | None]] = []  # (stream id, playback; None: stop)
        self.log_levels: list[tuple[str, int]] = []  # (subsystem, level) set, in order

    def open_stream(self, stream: Stream) -> None:
        self.open[stream.id] = stream

    def update_stream(self, stream: Stream) -> None:
        self.open[stream.id] = stream

    def close_stream(self, stream: Stream, counted: bool = False) -> None:
        self.open.pop(stream.id, None)
        if stream.sock is not None:
            stream.sock.close()

    def retire_stream(self, stream: Stream, successor: Stream) -> None:
        self.open[stream.id] = stream  # stays open (bound) until close_stream

    def take_back(self, stream: Stream) -> _socket.socket | None:
        self.open.pop(stream.id, None)
        sock, stream.sock = stream.sock, None
        return sock

    def inject_dtmf(self, stream: Stream, event: tuple) -> None:
        self.dtmf.append((stream.id, event))

    def probe_media(self, source: bytes | str) -> int:
        from .player import probe

        return probe(source)

    def play_media(self, stream: Stream, playback: tuple) -> None:
        self.played.append((stream.id, playback))

    def stop_media(self, stream: Stream) -> None:
        self.played.append((stream.id, None))

    def set_log_level(self, subsystem: str, level: int) -> None:
        self.log_levels.append((subsystem, level))

    def refresh(self, streams: list[Stream] | None = None) -> None:
        return None

    def batch(self) -> AbstractContextManager[None]:
        return nullcontext()
