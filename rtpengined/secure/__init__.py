"""WebRTC/SRTP groundwork: SDES, SRTP contexts, DTLS-SRTP and STUN/ICE as sans-I/O pieces.

Nothing here opens a socket or is called by the call model yet; the offer/answer code and the
relay workers are meant to drive these objects with the datagrams and SDP attributes they own.
"""
