"""Fax machines for the T.38 gateway's tests: spandsp's own fax terminals (``libspandsp``,
through ctypes, as the gateway is), and a small fax page made with libtiff.

``PcmFaxTerminal`` is a fax machine on an audio line (spandsp's ``fax`` on 8 kHz s16le),
``T38FaxTerminal`` one speaking T.38 IFP packets (spandsp's ``t38_terminal``), each
sending or receiving one TIFF file. Both report the end of the call (T.30 phase E) with
its result code in ``result`` (``T30_ERR_OK`` for a page sent or received in full). They
are set up as rtpengine's own gateway test sets up its fax programs: V.27ter, V.29 and
V.17, no ECM, T.38 version 0.

Time is the caller's: audio moves with ``tx``/``rx``, and a T.38 terminal's timers run
with ``advance``, so a whole fax call takes as long as the CPU needs, not as the line does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

from rtpengined.media import spandsp as spandsp_library

T30_ERR_OK = 0
T30_SUPPORT_V27TER = 0x01
T30_SUPPORT_V29 = 0x02
T30_SUPPORT_V17 = 0x04
FAX_MODEMS = T30_SUPPORT_V27TER | T30_SUPPORT_V29 | T30_SUPPORT_V17
SPAN_LOG_FLOW = 5
SPAN_LOG_SHOW_TAGS = 0x0400 | 0x0800 | 0x2000  # (severity, protocol, tag)

_PACKET_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                   ctypes.c_void_p, ctypes.c_int, ctypes.c_int)
_PHASE_E_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)

_spandsp = None
_libtiff = None


def _open(soname: str, name: str) -> ctypes.CDLL:
    try:
        return ctypes.CDLL(soname)
    except OSError:
        return ctypes.CDLL(ctypes.util.find_library(name) or soname)


def spandsp() -> ctypes.CDLL:
    """libspandsp with the signatures of what these terminals use (``OSError`` if absent)."""
    global _spandsp
    if _spandsp is not None:
        return _spandsp
    p, i = ctypes.c_void_p, ctypes.c_int
    signatures = {
        "fax_init": (p, [p, i]),
        "fax_free": (i, [p]),
        "fax_get_t30_state": (p, [p]),
        "fax_get_logging_state": (p, [p]),
        "fax_rx": (i, [p, p, i]),
        "fax_tx": (i, [p, p, i]),
        "fax_set_transmit_on_idle": (None, [p, i]),
        "fax_set_tep_mode": (None, [p, i]),
        "t38_terminal_init": (p, [p, i, _PACKET_HANDLER, p]),
        "t38_terminal_free": (i, [p]),
        "t38_terminal_get_t30_state": (p, [p]),
        "t38_terminal_get_t38_core_state": (p, [p]),
        "t38_terminal_get_logging_state": (p, [p]),
        "t38_terminal_send_timeout": (i, [p, i]),
        "t38_terminal_set_config": (None, [p, i]),
        "t38_terminal_set_tep_mode": (None, [p, i]),
        "t38_core_rx_ifp_packet": (i, [p, ctypes.c_char_p, i, ctypes.c_uint16]),
        "t38_set_t38_version": (None, [p, i]),
        "t30_set_tx_file": (None, [p, ctypes.c_char_p, i, i]),
        "t30_set_rx_file": (None, [p, ctypes.c_char_p, i]),
        "t30_set_tx_ident": (i, [p, ctypes.c_char_p]),
        "t30_set_supported_modems": (i, [p, i]),
        "t30_set_ecm_capability": (i, [p, i]),
        "t30_set_phase_e_handler": (None, [p, _PHASE_E_HANDLER, p]),
        "t30_get_logging_state": (p, [p]),
        "span_log_set_level": (i, [p, i]),
    }
    _spandsp = spandsp_library.bind(signatures)  # (opened as the relay opens it)
    return _spandsp


def spandsp_available() -> bool:
    try:
        spandsp()
        libtiff()
    except (OSError, AttributeError):
        return False
    return True


class _Terminal:
    """What both kinds share: the T.30 side (file, identity, modems, phase E result)."""

    _free_name = ""

    def __init__(self, state, t30, *, send_file: str | None, receive_file: str | None,
                 ident: str, verbose: bool) -> None:
        if (send_file is None) == (receive_file is None):
            raise ValueError("a terminal sends a file or receives one")
        library = spandsp()
        self._state = state
        self.result: int | None = None

        def phase_e(_t30, _user, completion_code):  # (called from within spandsp)
            self.result = completion_code

        self._phase_e = _PHASE_E_HANDLER(phase_e)  # (kept: spandsp holds the pointer)
        library.t30_set_tx_ident(t30, ident.encode())
        library.t30_set_supported_modems(t30, FAX_MODEMS)
        library.t30_set_ecm_capability(t30, 0)
        library.t30_set_phase_e_handler(t30, self._phase_e, None)
        if send_file is not None:
            library.t30_set_tx_file(t30, send_file.encode(), -1, -1)
        else:
            library.t30_set_rx_file(t30, receive_file.encode(), -1)
        if verbose:
            library.span_log_set_level(library.t30_get_logging_state(t30),
                                       SPAN_LOG_SHOW_TAGS | SPAN_LOG_FLOW)

    @property
    def done(self) -> bool:
        return self.result is not None

    def close(self) -> None:
        state, self._state = self._state, None
        if state:
            getattr(spandsp(), self._free_name)(state)


class PcmFaxTerminal(_Terminal):
    """A fax machine on an 8 kHz audio line (s16le samples in and out)."""

    _free_name = "fax_free"

    def __init__(self, *, calling: bool, send_file: str | None = None,
                 receive_file: str | None = None, ident: str = "11111111",
                 verbose: bool = False) -> None:
        library = spandsp()
        state = library.fax_init(None, int(calling))
        if not state:
            raise OSError("fax_init failed")
        library.fax_set_transmit_on_idle(state, 1)
        library.fax_set_tep_mode(state, 0)
        super().__init__(state, library.fax_get_t30_state(state), send_file=send_file,
                         receive_file=receive_file, ident=ident, verbose=verbose)

    def tx(self, samples: int) -> bytes:
        """The next ``samples`` samples the machine puts on the line."""
        buffer = (ctypes.c_int16 * samples)()
        produced = spandsp().fax_tx(self._state, buffer, samples)
        return bytes(buffer)[:2 * max(produced, 0)]

    def rx(self, pcm: bytes) -> None:
        """Audio from the line into the machine."""
        count = len(pcm) // 2
        if count:
            buffer = (ctypes.c_int16 * count).from_buffer_copy(pcm[:2 * count])
            spandsp().fax_rx(self._state, buffer, count)


class T38FaxTerminal(_Terminal):
    """A fax machine speaking T.38: ``send_ifp(ifp, count)`` gets each IFP packet it emits
    (to be sent ``count`` times), ``rx_ifp`` takes the packets from the far end."""

    _free_name = "t38_terminal_free"

    def __init__(self, send_ifp: Callable[[bytes, int], None], *, calling: bool,
                 send_file: str | None = None, receive_file: str | None = None,
                 ident: str = "22222222", verbose: bool = False) -> None:
        library = spandsp()

        def tx_packet(_core, _user, buffer, length, count):  # (called from within spandsp)
            try:
                send_ifp(ctypes.string_at(buffer, length) if length > 0 else b"", count)
            except Exception as error:  # noqa: BLE001  (never into C)
                self.errors.append(error)
                return -1
            return 0

        self.errors: list[BaseException] = []
        self._tx_packet = _PACKET_HANDLER(tx_packet)  # (kept: spandsp holds the pointer)
        state = library.t38_terminal_init(None, int(calling), self._tx_packet, None)
        if not state:
            raise OSError("t38_terminal_init failed")
        self._core = library.t38_terminal_get_t38_core_state(state)
        library.t38_set_t38_version(self._core, 0)
        library.t38_terminal_set_config(state, 0)
        library.t38_terminal_set_tep_mode(state, 0)
        super().__init__(state, library.t38_terminal_get_t30_state(state), send_file=send_file,
                         receive_file=receive_file, ident=ident, verbose=verbose)

    def advance(self, samples: int) -> bool:
        """Let ``samples`` sample times (8 kHz) pass; True once the terminal is finished."""
        return bool(spandsp().t38_terminal_send_timeout(self._state, samples))

    def rx_ifp(self, seq: int, ifp: bytes) -> None:
        spandsp().t38_core_rx_ifp_packet(self._core, ifp, len(ifp), seq & 0xFFFF)


# -- TIFF ----------------------------------------------------------------------------------

TIFFTAG_IMAGEWIDTH = 256
TIFFTAG_IMAGELENGTH = 257
TIFFTAG_BITSPERSAMPLE = 258
TIFFTAG_COMPRESSION = 259
TIFFTAG_PHOTOMETRIC = 262
TIFFTAG_FILLORDER = 266
TIFFTAG_SAMPLESPERPIXEL = 277
TIFFTAG_ROWSPERSTRIP = 278
TIFFTAG_XRESOLUTION = 282
TIFFTAG_YRESOLUTION = 283
TIFFTAG_PLANARCONFIG = 284
TIFFTAG_RESOLUTIONUNIT = 296
TIFFTAG_PAGENUMBER = 297
COMPRESSION_CCITTFAX4 = 4
PHOTOMETRIC_MINISWHITE = 0
FILLORDER_LSB2MSB = 2
PLANARCONFIG_CONTIG = 1
RESUNIT_INCH = 2
FAX_WIDTH = 1728  # (pixels of an A4 line at 8 dots/mm: the one width every fax machine takes)


def libtiff() -> ctypes.CDLL:
    global _libtiff
    if _libtiff is not None:
        return _libtiff
    library = _open("libtiff.so.6", "tiff")
    library.TIFFOpen.restype = ctypes.c_void_p
    library.TIFFOpen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    library.TIFFClose.restype = None
    library.TIFFClose.argtypes = [ctypes.c_void_p]
    library.TIFFWriteScanline.restype = ctypes.c_int
    library.TIFFWriteScanline.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32,
                                          ctypes.c_uint16]
    library.TIFFNumberOfDirectories.restype = ctypes.c_uint16
    library.TIFFNumberOfDirectories.argtypes = [ctypes.c_void_p]
    # (TIFFSetField and TIFFGetField take variable arguments: called with explicit types)
    library.TIFFSetField.restype = ctypes.c_int
    library.TIFFGetField.restype = ctypes.c_int
    _libtiff = library
    return library


def _set(tiff, tag: int, *values) -> None:
    if not libtiff().TIFFSetField(ctypes.c_void_p(tiff), ctypes.c_uint32(tag), *values):
        raise OSError(f"TIFFSetField({tag}) failed")


def row_pattern(row: int) -> bytes:
    """One row of the test page (1 = black with MINISWHITE): stripes whose position moves
    with the row, a black bar every 64 rows and a border, so that both the run lengths and
    the 2D coding have something to do."""
    line = bytearray(FAX_WIDTH // 8)
    if row % 64 < 4:
        line[16:200] = b"\xff" * 184
    else:
        shift = row % 48
        for start in range(24 + shift, FAX_WIDTH - 64, 96):
            for pixel in range(start, start + 8 + row % 5):
                line[pixel // 8] |= 0x80 >> (pixel % 8)
    line[0] |= 0xC0
    line[-1] |= 0x03
    return bytes(line)


def make_fax_tiff(path: str, rows: int = 300) -> None:
    """A one-page bilevel fax TIFF of ``rows`` rows of ``row_pattern``: 1728 pixels wide,
    204 x 98 dpi (R8 x standard resolution), 1 bit per pixel, min-is-white, T.6 coded, the
    shape spandsp's T.4 transmitter reads (it insists on 1 bit and 1 sample per pixel and
    picks the resolution codes from the resolution tags)."""
    library = libtiff()
    tiff = library.TIFFOpen(path.encode(), b"w")
    if not tiff:
        raise OSError(f"TIFFOpen({path}) failed")
    try:
        u32, u16, double = ctypes.c_uint32, ctypes.c_int, ctypes.c_double
        _set(tiff, TIFFTAG_IMAGEWIDTH, u32(FAX_WIDTH))
        _set(tiff, TIFFTAG_IMAGELENGTH, u32(rows))
        _set(tiff, TIFFTAG_BITSPERSAMPLE, u16(1))
        _set(tiff, TIFFTAG_SAMPLESPERPIXEL, u16(1))
        _set(tiff, TIFFTAG_COMPRESSION, u16(COMPRESSION_CCITTFAX4))
        _set(tiff, TIFFTAG_PHOTOMETRIC, u16(PHOTOMETRIC_MINISWHITE))
        _set(tiff, TIFFTAG_FILLORDER, u16(FILLORDER_LSB2MSB))
        _set(tiff, TIFFTAG_PLANARCONFIG, u16(PLANARCONFIG_CONTIG))
        _set(tiff, TIFFTAG_ROWSPERSTRIP, u32(rows))
        _set(tiff, TIFFTAG_RESOLUTIONUNIT, u16(RESUNIT_INCH))
        _set(tiff, TIFFTAG_XRESOLUTION, double(204.0))
        _set(tiff, TIFFTAG_YRESOLUTION, double(98.0))
        _set(tiff, TIFFTAG_PAGENUMBER, u16(0), u16(1))
        for row in range(rows):
            line = ctypes.create_string_buffer(row_pattern(row), FAX_WIDTH // 8)
            if library.TIFFWriteScanline(tiff, line, row, 0) < 0:
                raise OSError(f"TIFFWriteScanline({row}) failed")
    finally:
        library.TIFFClose(tiff)


def tiff_page_info(path: str) -> tuple[int, int, int]:
    """(pages, width and rows of the first page) of a TIFF file."""
    library = libtiff()
    tiff = library.TIFFOpen(path.encode(), b"r")
    if not tiff:
        raise OSError(f"TIFFOpen({path}) failed")
    try:
        width, length = ctypes.c_uint32(), ctypes.c_uint32()
        library.TIFFGetField(ctypes.c_void_p(tiff), ctypes.c_uint32(TIFFTAG_IMAGEWIDTH),
                             ctypes.byref(width))
        library.TIFFGetField(ctypes.c_void_p(tiff), ctypes.c_uint32(TIFFTAG_IMAGELENGTH),
                             ctypes.byref(length))
        return library.TIFFNumberOfDirectories(tiff), width.value, length.value
    finally:
        library.TIFFClose(tiff)
