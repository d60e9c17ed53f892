"""rtpengined: a SIP media proxy daemon, wire-compatible with rtpengine, on trio."""

__version__ = "0.1.0"
