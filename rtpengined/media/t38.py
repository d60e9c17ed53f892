"""The T.38 fax gateway: spandsp's ``t38_gateway`` (``libspandsp``, bound with ctypes), the
engine rtpengine 10.5 uses to translate between a fax party speaking T.30 over audio and
one speaking T.38 over UDPTL.

spandsp does the fax work: it demodulates the audio side's V.21/V.27ter/V.29/V.17 signals
into T.38 IFP packets and modulates the IFP packets it receives back into audio. This
module feeds it and frames its output: each IFP packet it emits becomes one UDPTL packet
(``rtpengined.udptl``), sent as many times as spandsp asks (it repeats control packets
for safety), and received UDPTL packets are put back in order before spandsp sees them.

A ``Gateway`` is driven by its owner's clock: audio from the fax party goes in with
``feed_pcm``, the audio to play to it comes out of ``pull_pcm`` (10.5 pulls 80 samples,
10 ms, at a time), and UDPTL from the T.38 party goes in with ``feed_udptl``. Without the
library no ``Gateway`` can be made (``OSError``); ``available`` tells beforehand.
"""

from __future__ import annotations

import array
import contextlib
import ctypes
import logging
import sys
import weakref
from collections.abc import Callable

from ..udptl import T38Options, UdptlDecoder, UdptlEncoder
from . import spandsp

log = logging.getLogger("rtpengined.relay")

# spandsp 0.0.6's T30_SUPPORT_* modem bits (t30.h).
T30_SUPPORT_V27TER = 0x01
T30_SUPPORT_V29 = 0x02
T30_SUPPORT_V17 = 0x04
T30_SUPPORT_V34HDX = 0x08
T30_SUPPORT_IAF = 0x10
# t38_set_data_rate_management_method: 1 local TCF, 2 transferred TCF.
_RATE_MANAGEMENT_LOCAL_TCF = 1
_RATE_MANAGEMENT_TRANSFERRED_TCF = 2

# int (*)(t38_core_state_t *s, void *user_data, const uint8_t *buf, int len, int count)
_TX_PACKET_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                      ctypes.c_void_p, ctypes.c_int, ctypes.c_int)
_library = None
_loaded = False


def _load():
    global _library, _loaded
    if _loaded:
        return _library
    _loaded = True
    pointer, integer = ctypes.c_void_p, ctypes.c_int
    signatures = {
        "t38_gateway_init": (pointer, [pointer, _TX_PACKET_HANDLER, pointer]),
        "t38_gateway_free": (integer, [pointer]),
        "t38_gateway_rx": (integer, [pointer, pointer, integer]),
        "t38_gateway_tx": (integer, [pointer, pointer, integer]),
        "t38_gateway_get_t38_core_state": (pointer, [pointer]),
        "t38_gateway_set_ecm_capability": (None, [pointer, integer]),
        "t38_gateway_set_transmit_on_idle": (None, [pointer, integer]),
        "t38_gateway_set_supported_modems": (None, [pointer, integer]),
        "t38_core_rx_ifp_packet": (integer, [pointer, ctypes.c_char_p, integer, ctypes.c_uint16]),
        "t38_set_t38_version": (None, [pointer, integer]),
        "t38_set_data_rate_management_method": (None, [pointer, integer]),
        "t38_set_fill_bit_removal": (None, [pointer, integer]),
        "t38_set_mmr_transcoding": (None, [pointer, integer]),
        "t38_set_jbig_transcoding": (None, [pointer, integer]),
        "t38_set_max_datagram_size": (None, [pointer, integer]),
    }
    try:
        library = spandsp.bind(signatures)
    except OSError:
        log.warning("libspandsp not found: no T.38 gateway")
        return None
    _library = library
    return library


def available() -> bool:
    """Whether spandsp's T.38 gateway can be had here."""
    return _load() is not None


def supported_modems(options: T38Options) -> int:
    """The modems the gateway may use: all that spandsp has, less those the options rule out."""
    modems = 0
    for excluded, bit in ((options.no_v17, T30_SUPPORT_V17), (options.no_v27ter, T30_SUPPORT_V27TER),
                          (options.no_v29, T30_SUPPORT_V29), (options.no_v34, T30_SUPPORT_V34HDX),
                          (options.no_iaf, T30_SUPPORT_IAF)):
        if not excluded:
            modems |= bit
    return modems


def _samples_in(pcm: bytes) -> array.array:
    samples = array.array("h")
    samples.frombytes(pcm)
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def _samples_out(samples: array.array) -> bytes:
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


class Gateway:
    """One call's T.38 gateway between a fax party on 8 kHz audio (s16le PCM here) and
    one on UDPTL, set up with the (normalised) options as 10.5 sets up its own: ECM unless
    ``no_ecm``, silence played while idle, the modems not excluded, and the peer's T.38
    version, rate management, fill bit removal, MMR/JBIG transcoding and IFP size.

    ``send_udptl`` is called with each UDPTL packet for the T.38 party, from within
    ``feed_pcm``/``pull_pcm``/``feed_udptl``; an exception it raises is logged (the first
    one, then counted) and kept in ``callback_error`` rather than thrown into spandsp.
    """

    def __init__(self, options: T38Options, send_udptl: Callable[[bytes], None]) -> None:
        library = _load()
        if library is None:
            raise OSError("libspandsp not available")
        self.options = options.normalised()
        self.encoder = UdptlEncoder(self.options)
        self.decoder = UdptlDecoder(self.options)
        self.callback_error: BaseException | None = None
        self.callback_errors = 0
        self.unprocessed_samples = 0
        self._send_udptl = send_udptl
        self._state = None
        self._core = None
        self._calls_into_c = 0  # (close() from a callback must not free under spandsp's feet)
        self._free_later = None

        owner = weakref.ref(self)

        def tx_packet(_core, _user, buffer, length, count):  # (called from within spandsp)
            gateway = owner()
            if gateway is None:
                return -1
            return gateway._emit(buffer, length, count)

        self._tx_packet = _TX_PACKET_HANDLER(tx_packet)  # (kept: spandsp holds the pointer)
        self._state = library.t38_gateway_init(None, self._tx_packet, None)
        if not self._state:
            raise OSError("t38_gateway_init failed")
        self._core = library.t38_gateway_get_t38_core_state(self._state)

        opts = self.options
        library.t38_gateway_set_ecm_capability(self._state, 0 if opts.no_ecm else 1)
        library.t38_gateway_set_transmit_on_idle(self._state, 1)
        library.t38_gateway_set_supported_modems(self._state, supported_modems(opts))
        library.t38_set_t38_version(self._core, opts.version)
        library.t38_set_data_rate_management_method(
            self._core, _RATE_MANAGEMENT_LOCAL_TCF if opts.local_tcf else _RATE_MANAGEMENT_TRANSFERRED_TCF)
        library.t38_set_fill_bit_removal(self._core, int(opts.fill_bit_removal))
        library.t38_set_mmr_transcoding(self._core, int(opts.transcoding_mmr))
        library.t38_set_jbig_transcoding(self._core, int(opts.transcoding_jbig))
        library.t38_set_max_datagram_size(self._core, opts.max_ifp)

    @property
    def closed(self) -> bool:
        return not self._state

    def _emit(self, buffer, length: int, count: int) -> int:
        """An IFP packet from spandsp: frame it and send it ``count`` times."""
        try:
            if length < 0 or length >= 0x10000:
                log.error("T.38 gateway produced an IFP packet of %d bytes: discarded", length)
                return -1
            packet = self.encoder.encode(ctypes.string_at(buffer, length) if length else b"")
            for _ in range(count):
                self._send_udptl(packet)
        except Exception as error:  # noqa: BLE001  (never into C)
            self.callback_errors += 1
            if self.callback_error is None:
                self.callback_error = error
                log.exception("T.38 gateway: sending a UDPTL packet failed")
        # (as 10.5: a packet that could not be sent is spandsp's business no more than a
        # packet lost on the way)
        return 0

    def feed_pcm(self, samples: bytes) -> None:
        """Audio from the fax party: signed 16-bit little-endian samples at 8 kHz."""
        if len(samples) % 2:
            raise ValueError(f"PCM of {len(samples)} bytes is not whole 16-bit samples")
        if not self._state or not samples:
            return
        buffer = _samples_in(samples)
        address, count = buffer.buffer_info()
        with self._calling_c():
            left = _library.t38_gateway_rx(self._state, address, count)
        if left > 0:
            if not self.unprocessed_samples:
                log.warning("T.38 gateway left %d PCM samples unprocessed", left)
            self.unprocessed_samples += left

    def pull_pcm(self, max_samples: int) -> bytes:
        """Up to ``max_samples`` samples of audio for the fax party (s16le; may be empty)."""
        if not self._state or max_samples <= 0:
            return b""
        buffer = array.array("h", bytes(2 * max_samples))
        address, _ = buffer.buffer_info()
        with self._calling_c():
            produced = _library.t38_gateway_tx(self._state, address, max_samples)
        if produced <= 0:
            return b""
        return _samples_out(buffer[:min(produced, max_samples)])

    def feed_udptl(self, packet: bytes) -> None:
        """A UDPTL packet from the T.38 party: its IFP packets, put in order, go to spandsp.
        ``UdptlError`` (a ``ValueError``) for a packet that cannot be decoded."""
        if not self._state:
            return
        for seq, ifp in self.decoder.feed(packet):
            if not self._core:  # (closed from within a callback)
                return
            with self._calling_c():
                _library.t38_core_rx_ifp_packet(self._core, ifp, len(ifp), seq)

    @contextlib.contextmanager
    def _calling_c(self):
        self._calls_into_c += 1
        try:
            yield
        finally:
            self._calls_into_c -= 1
            if not self._calls_into_c and self._free_later:
                state, self._free_later = self._free_later, None
                _library.t38_gateway_free(state)

    def close(self) -> None:
        """Free spandsp's gateway (again: nothing). From within ``send_udptl`` the
        gateway stops at once and is freed when spandsp returns."""
        state, self._state, self._core = self._state, None, None
        if not state:
            return
        if self._calls_into_c:
            self._free_later = state
        else:
            _library.t38_gateway_free(state)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001  (interpreter shutdown)
            pass
