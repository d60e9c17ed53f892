"""G.729 (bcg729) and GSM 06.10 (libgsm) coders, opened with ctypes by the relay workers that
convert into or out of them.

rtpengine 10.5 links the same two libraries (Debian's libbcg729-0 and libgsm1) to encode
these codecs, which libavcodec only decodes. Each coder here turns one codec frame of
16-bit mono audio at 8 kHz into its bytes and back: G.729 10 ms (80 samples, 10 bytes; a
2-byte frame is Annex B's silence descriptor), GSM 20 ms (160 samples, 33 bytes). A packet
carries whole frames back to back. Without a library, ``available`` says so and the codec
is not offered for conversion (as 10.5 built without it); nothing here raises later.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass

_SONAMES = {"bcg729": ("libbcg729.so.0", "bcg729"), "libgsm": ("libgsm.so.1", "gsm")}
_libraries: dict[str, ctypes.CDLL | None] = {}


@dataclass(frozen=True, slots=True)
class Frame:
    samples: int  # 16-bit samples at 8 kHz per codec frame
    size: int  # bytes per codec frame


FRAMES = {"bcg729": Frame(80, 10), "libgsm": Frame(160, 33)}


def _open(name: str) -> ctypes.CDLL | None:
    if name in _libraries:
        return _libraries[name]
    soname, short = _SONAMES[name]
    library: ctypes.CDLL | None
    try:
        library = ctypes.CDLL(soname)
    except OSError:  # (another soname: ask the linker cache)
        found = ctypes.util.find_library(short)
        try:
            library = ctypes.CDLL(found) if found else None
        except OSError:
            library = None
    if library is not None:
        try:
            _declare(name, library)
        except AttributeError:
            library = None
    _libraries[name] = library
    return library


def _declare(name: str, library: ctypes.CDLL) -> None:
    pointer, u8, i16p, u8p = ctypes.c_void_p, ctypes.c_uint8, ctypes.c_void_p, ctypes.c_void_p
    if name == "bcg729":
        signatures = {
            "initBcg729EncoderChannel": (pointer, [u8]),
            "closeBcg729EncoderChannel": (None, [pointer]),
            "bcg729Encoder": (None, [pointer, i16p, u8p, ctypes.POINTER(u8)]),
            "initBcg729DecoderChannel": (pointer, []),
            "closeBcg729DecoderChannel": (None, [pointer]),
            "bcg729Decoder": (None, [pointer, u8p, u8, u8, u8, u8, i16p]),
        }
    else:
        signatures = {
            "gsm_create": (pointer, []),
            "gsm_destroy": (None, [pointer]),
            "gsm_encode": (None, [pointer, i16p, u8p]),
            "gsm_decode": (ctypes.c_int, [pointer, u8p, i16p]),
        }
    for function_name, (restype, argtypes) in signatures.items():
        function = getattr(library, function_name)
        function.restype = restype
        function.argtypes = argtypes


def available(name: str) -> bool:
    """Whether the coder ``name`` (``bcg729``, ``libgsm``) can be had here."""
    return name in _SONAMES and _open(name) is not None


class NativeCoder:
    """One direction of one codec's coder (its state kept between frames, as G.729's
    predictors need): ``encode`` turns whole frames of audio into bytes, ``decode`` bytes
    into audio."""

    state = None  # (the library's coder state; None once closed or never made)

    def __init__(self, name: str, encoding: bool) -> None:
        library = _open(name) if name in _SONAMES else None
        if library is None:
            raise OSError(f"{name} is not installed")
        self.name = name
        self.frame = FRAMES[name]
        self.library = library
        self.encoding = encoding
        if name == "bcg729":
            self.state = (library.initBcg729EncoderChannel(0) if encoding
                          else library.initBcg729DecoderChannel())
        else:
            self.state = library.gsm_create()
        if not self.state:
            raise OSError(f"{name} could not set up a coder")
        self._pcm = (ctypes.c_int16 * self.frame.samples)()
        self._bits = (ctypes.c_uint8 * max(self.frame.size, 10))()

    def encode(self, pcm: bytes) -> bytes:
        """The codec's bytes for ``pcm`` (16-bit native-endian samples, a whole number of
        frames; a short tail is left out)."""
        step = self.frame.samples * 2
        out = bytearray()
        pcm_buffer, bits = self._pcm, self._bits
        for start in range(0, len(pcm) - step + 1, step):
            ctypes.memmove(pcm_buffer, pcm[start:start + step], step)
            if self.name == "bcg729":
                length = ctypes.c_uint8(0)
                self.library.bcg729Encoder(self.state, pcm_buffer, bits, ctypes.byref(length))
                out += bytes(bits[:length.value])
            else:
                self.library.gsm_encode(self.state, pcm_buffer, bits)
                out += bytes(bits[:self.frame.size])
        return bytes(out)

    def decode(self, payload: bytes) -> bytes | None:
        """The audio (16-bit native-endian samples) of a payload of whole frames; None if
        it is no whole number of frames (a G.729 payload may end with a 2-byte silence
        descriptor, decoded as comfort noise)."""
        size = self.frame.size
        pcm_buffer, bits = self._pcm, self._bits
        out = bytearray()
        at = 0
        while at < len(payload):
            left = len(payload) - at
            if self.name == "bcg729":
                if left >= size:
                    chunk, sid = payload[at:at + size], 0
                elif left == 2:
                    chunk, sid = payload[at:at + 2], 1
                else:
                    return None
                ctypes.memmove(bits, chunk, len(chunk))
                self.library.bcg729Decoder(self.state, bits, len(chunk), 0, sid, 0, pcm_buffer)
                at += len(chunk)
            else:
                if left < size:
                    return None
                ctypes.memmove(bits, payload[at:at + size], size)
                if self.library.gsm_decode(self.state, bits, pcm_buffer) < 0:
                    return None
                at += size
            out += bytes(pcm_buffer)
        return bytes(out)

    def close(self) -> None:
        state, self.state = self.state, None
        if not state:
            return
        if self.name == "bcg729":
            if self.encoding:
                self.library.closeBcg729EncoderChannel(state)
            else:
                self.library.closeBcg729DecoderChannel(state)
        else:
            self.library.gsm_destroy(state)

    def __del__(self) -> None:
        self.close()
