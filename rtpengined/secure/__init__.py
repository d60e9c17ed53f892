"""Media security as sans-I/O pieces: SDES, SRTP contexts, DTLS-SRTP, STUN/ICE, and `webrtc`
(one stream's ICE agent and DTLS endpoint together).

Nothing here opens a socket: offer/answer drives the SDP side, the relay workers feed these
objects the datagrams of their streams and send what they return.
"""
