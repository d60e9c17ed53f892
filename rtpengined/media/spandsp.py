"""libspandsp (the DSP library 10.5 uses for DTMF detection and its T.38 gateway), opened
with ctypes by the relay workers that need it.

``bind`` opens the library and declares the functions a caller uses; each caller gets its
own ``CDLL`` object, so their declarations never meet.
"""

from __future__ import annotations

import ctypes
import ctypes.util

# name -> (return type, argument types), as ctypes takes them
Signatures = dict[str, tuple[object, list]]


def bind(signatures: Signatures) -> ctypes.CDLL:
    """libspandsp with ``signatures`` declared; ``OSError`` when it is not installed (or
    lacks one of the functions)."""
    try:
        library = ctypes.CDLL("libspandsp.so.2")  # (Debian's libspandsp2)
    except OSError:  # (another soname: ask the linker cache, which runs ldconfig)
        library = ctypes.CDLL(ctypes.util.find_library("spandsp") or "libspandsp.so")
    try:
        for name, (restype, argtypes) in signatures.items():
            function = getattr(library, name)
            function.restype = restype
            function.argtypes = argtypes
    except AttributeError as error:
        raise OSError(f"libspandsp lacks {error}") from None
    return library
