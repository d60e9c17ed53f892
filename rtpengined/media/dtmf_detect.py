"""DTMF tone detection with spandsp's receiver (``libspandsp``), the detector rtpengine 10.5
itself uses; bound with ctypes, loaded by a relay worker only when a call needs it.

spandsp works in blocks of 102 samples (8 kHz) and declares a key on (or off) once two
blocks in a row agree; its real-time callback then gives the key (0 for "no key"), the
level in dBm0 and how many samples were fed since the previous report. ``Detector.feed``
returns those reports for the samples given. Without the library a ``Detector`` cannot be
made (``OSError``): nothing is detected and the audio passes as it is.
"""

from __future__ import annotations

import array
import ctypes
import logging

from . import spandsp

log = logging.getLogger("rtpengined.relay")

_REPORT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int)
_library = None
_loaded = False


def _load():
    global _library, _loaded
    if _loaded:
        return _library
    _loaded = True
    pointer, integer = ctypes.c_void_p, ctypes.c_int
    try:
        library = spandsp.bind({
            "dtmf_rx_init": (pointer, [pointer, pointer, pointer]),
            "dtmf_rx_set_realtime_callback": (None, [pointer, _REPORT, pointer]),
            "dtmf_rx": (integer, [pointer, pointer, integer]),
            "dtmf_rx_fillin": (integer, [pointer, integer]),
            "dtmf_rx_free": (integer, [pointer]),
        })
    except OSError:
        log.warning("libspandsp not found: DTMF tones are not detected")
        return None
    _library = library
    return library


class Detector:
    """One audio stream's DTMF receiver (8 kHz, 16-bit samples)."""

    __slots__ = ("_state", "_callback", "_reports", "__weakref__")

    def __init__(self) -> None:
        library = _load()
        if library is None:
            raise OSError("libspandsp not available")
        self._reports: list[tuple[int, int, int]] = []
        reports = self._reports

        def report(_user, code, level, delay):  # (called from within dtmf_rx)
            reports.append((code, level, delay))

        self._callback = _REPORT(report)  # (kept: C holds the pointer)
        self._state = library.dtmf_rx_init(None, None, None)
        if not self._state:
            raise OSError("dtmf_rx_init failed")
        library.dtmf_rx_set_realtime_callback(self._state, self._callback, None)

    def feed(self, samples: array.array) -> list[tuple[int, int, int]]:
        """Run ``samples`` (array of 'h') through the receiver: its reports, (key as a
        character code or 0, level in dBm0, samples since the previous report)."""
        count = len(samples)
        if count:
            address, _ = samples.buffer_info()
            _library.dtmf_rx(self._state, address, count)
        reports = self._reports[:]
        self._reports.clear()
        return reports

    def fill_in(self, count: int) -> None:
        """``count`` samples are missing (a gap): restart the block in progress."""
        _library.dtmf_rx_fillin(self._state, count)

    def close(self) -> None:
        if self._state:
            _library.dtmf_rx_free(self._state)
            self._state = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001  (interpreter shutdown)
            pass
