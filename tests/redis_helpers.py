"""A real ``redis-server`` per test, calls with real media parties, and daemons using Redis.

Every server is started on a free loopback port with persistence off and keyspace
notifications on (as rtpengine's standby needs), and ``stop`` ends it whatever state it
is in. Daemons are ``differential.NgProcess`` children (rtpengined or rtpengine 10.5).
"""

from __future__ import annotations

import json
import os
import re
import socket
import struct
import subprocess
import time

import hiredis

from tests.conftest import free_port
from tests.differential import NgProcess, start_ours, start_reference

REDIS_SERVER = "/usr/bin/redis-server"


class RedisServer:
    """``redis-server`` on 127.0.0.1:<free port>; ``kill``/``start`` keep the port."""

    def __init__(self, password: str | None = None) -> None:
        self.port = free_port()
        self.password = password
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        auth = ["--requirepass", self.password] if self.password else []
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--notify-keyspace-events", "KEA", "--daemonize", "no",
             *auth], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.command(0, "PING") == b"PONG":
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    stop = kill

    def address(self, db: int) -> str:
        auth = f"{self.password}@" if self.password else ""
        return f"{auth}127.0.0.1:{self.port}/{db}"

    def command(self, db: int, *args) -> object:
        """One command on ``db`` over a fresh connection (blocking, 5 s timeout)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            setup = [("AUTH", self.password)] if self.password else []
            setup.append(("SELECT", db))
            sock.sendall(b"".join(hiredis.pack_command(c) for c in [*setup, args]))
            reader = hiredis.Reader()
            replies: list[object] = []
            while len(replies) < len(setup) + 1:
                data = sock.recv(1 << 20)
                if not data:
                    raise OSError("redis closed the connection")
                reader.feed(data)
                while (reply := reader.gets()) is not False:
                    replies.append(reply)
            return replies[-1]

    def keys(self, db: int) -> set[str]:
        return {k.decode() for k in self.command(db, "KEYS", "*")}  # type: ignore[union-attr]

    def document(self, db: int, call_id: str) -> dict | None:
        raw = self.command(db, "GET", call_id)
        return None if raw is None else json.loads(raw)  # type: ignore[arg-type]

    def wait_for(self, db: int, predicate, timeout: float = 10.0) -> set[str]:
        deadline = time.monotonic() + timeout
        while True:
            keys = self.keys(db)
            if predicate(keys):
                return keys
            if time.monotonic() > deadline:
                raise AssertionError(f"Redis db {db} never matched; keys: {sorted(keys)}")
            time.sleep(0.05)


class HungRedis:
    """A TCP port that accepts connections and never answers (a hung Redis)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


def rtp(seq: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x1234) + bytes(160)


class MediaCall:
    """Two parties with real UDP sockets, set up through a daemon with offer/answer."""

    def __init__(self, daemon: NgProcess, call_id: str, address: str = "127.0.0.1") -> None:
        self.call_id = call_id
        self.a = _udp(address)
        self.b = _udp(address)
        self.address = address
        offer = daemon.request({"command": "offer", "call-id": call_id, "from-tag": "A",
                                "sdp": sdp(address, self.a.getsockname()[1])})
        assert offer["result"] == "ok", offer
        self.port_b = _audio_port(offer["sdp"])  # where B sends
        answer = daemon.request({"command": "answer", "call-id": call_id, "from-tag": "A",
                                 "to-tag": "B", "sdp": sdp(address, self.b.getsockname()[1])})
        assert answer["result"] == "ok", answer
        self.port_a = _audio_port(answer["sdp"])  # where A sends

    def relays(self, relay_address: str | None = None, tries: int = 50) -> bool:
        """RTP from A reaches B and back (retried: a restarted relay may need a moment)."""
        host = relay_address or self.address
        for seq in range(tries):
            self.a.sendto(rtp(seq), (host, self.port_a))
            self.b.sendto(rtp(seq + 1000), (host, self.port_b))
            if _received(self.b, rtp(seq)) and _received(self.a, rtp(seq + 1000)):
                return True
        return False

    def close(self) -> None:
        self.a.close()
        self.b.close()


def _udp(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, 0))
    sock.settimeout(0.1)
    return sock


def _received(sock: socket.socket, wanted: bytes) -> bool:
    try:
        while True:
            if sock.recv(2048) == wanted:
                return True
    except OSError:
        return False


def sdp(address: str, port: int) -> str:
    return (f"v=0\r\no=- 1 1 IN IP4 {address}\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0 8\r\na=sendrecv\r\n")


def _audio_port(sdp: str) -> int:
    match = re.search(r"^m=audio (\d+)", sdp, re.M)
    assert match, sdp
    return int(match.group(1))


def local_ports(query: dict) -> dict[str, list[int]]:
    """tag → the local ports of its streams, from a query reply."""
    return {tag: [s["local port"] for m in info["medias"] for s in m["streams"]]
            for tag, info in query["tags"].items()}


def ours(redis: RedisServer, db: int, port_min: int, port_max: int, *extra: str,
         interface: str = "127.0.0.1") -> NgProcess:
    return start_ours(port_min, port_max, [f"--redis={redis.address(db)}", *extra],
                      interfaces=(interface,))


def reference(redis: RedisServer, db: int, port_min: int, port_max: int, *extra: str
              ) -> NgProcess:
    return start_reference(port_min, port_max, [f"--redis={redis.address(db)}", *extra])


def kill9(daemon: NgProcess) -> None:
    """``kill -9`` a daemon; wait (bounded) until its relay workers have exited too, so
    the next daemon can bind the same media ports."""
    children = _children(daemon.proc.pid)
    daemon.proc.kill()
    daemon.proc.wait()
    daemon.sock.close()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.02)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(p) for p in handle.read().split()]
        except OSError:
            pass
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cli(port: int, line: str) -> str:
    """One CLI command over the CLI port (the daemon closes after its answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(line.encode() + b"\n")
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks).decode()
