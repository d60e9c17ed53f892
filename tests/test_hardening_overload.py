"""Overload: media far above what the relay can carry for a few seconds, then normal load.

rtpengine 10.5 stops reading a stream for good once it was flooded; here every stream must
carry media again afterwards, and control requests must keep getting answers during the
flood. (Latency figures: ``bench/overload.py``; this test only asserts replies and recovery.)
"""

from __future__ import annotations

import sys

import trio
from hardening_helpers import call_shape, cookie, daemon_process, live_call, ng

from rtpengined.protocol import bencode

from conftest import udp_request

BLASTER = r"""
import os, socket, sys, time
# each argument is FD:PORT: send from the party's own socket (fd passed in) to PORT
pairs = [arg.split(":") for arg in sys.argv[2:]]
targets = [("127.0.0.1", int(port)) for _, port in pairs]
socks = [socket.socket(fileno=os.dup(int(fd))) for fd, _ in pairs]
for s in socks:
    s.setblocking(False)
packet = bytes([0x80, 0]) + bytes(170)
end = time.monotonic() + float(sys.argv[1])
sent = 0
while time.monotonic() < end:
    for s, t in zip(socks, targets):
        for _ in range(20):
            try:
                s.sendto(packet, t)
                sent += 1
            except OSError:
                pass
print(sent)
"""
BURST_SECONDS = 3.0


async def ng_with_retries(address, message: dict, attempts: int = 3) -> dict:
    """What a SIP proxy does over UDP: resend with the same cookie until a reply comes."""
    tag = cookie()
    data = tag + b" " + bencode.encode(message)
    for _ in range(attempts):
        reply = await udp_request(address, data, timeout=2.0)
        if reply is not None:
            return bencode.decode(reply[len(tag) + 1 :])
    raise AssertionError(f"no reply to {message['command']} during the burst")


async def test_media_burst_then_every_stream_recovers_and_control_answers():
    proc = daemon_process("-m", "43400", "-M", "43499", "--relay-workers=1")
    address = ("127.0.0.1", proc.ng_port)
    try:
        calls = [await live_call(address, f"burst-{i}") for i in range(6)]
        for call in calls:
            await call.relays(seq=1)
        shapes = {c.call_id: call_shape(await ng(address, {"command": "query", "call-id": c.call_id}))
                  for c in calls}
        # The parties themselves flood (a broken phone, a loop): from their own sockets.
        sources = [(party.sock.fileno(), target.port) for c in calls
                   for party, target in ((c.alice, c.alice_target), (c.bob, c.bob_target))]
        targets = [f"{fd}:{port}" for fd, port in sources]
        fds = [fd for fd, _ in sources]
        replies = 0
        async with trio.open_nursery() as nursery:
            blasters = []
            for _ in range(2):
                blasters.append(await nursery.start(lambda task_status: trio.run_process(
                    [sys.executable, "-c", BLASTER, str(BURST_SECONDS), *targets],
                    capture_stdout=True, pass_fds=fds, task_status=task_status)))
            while any(b.returncode is None for b in blasters):
                reply = await ng_with_retries(address, {"command": "ping"})
                assert reply == {"result": "pong"}
                query = await ng_with_retries(address, {"command": "query", "call-id": calls[replies % 6].call_id})
                assert query["result"] == "ok"
                replies += 1
                await trio.sleep(0.05)
        assert replies > 0
        assert proc.proc.poll() is None
        for call in calls:  # normal load again: each stream carries media both ways
            await call.relays(seq=50_000)
            assert call_shape(await ng(address, {"command": "query", "call-id": call.call_id})) \
                == shapes[call.call_id]
        for call in calls:
            call.close()
    finally:
        code, err = proc.stop()
    assert code == 0 and "Traceback" not in err, err
