"""``--redis`` addresses as rtpengine spells them (plain data, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RedisAddress:
    """``[PASSWORD@]IP:PORT[/DB]`` as rtpengine's ``--redis`` spells it."""

    host: str
    port: int
    db: int = 0
    password: str | None = None

    @classmethod
    def parse(cls, text: str) -> RedisAddress:
        password = None
        rest = text.strip()
        if "@" in rest:
            password, _, rest = rest.rpartition("@")
        addr, slash, db_text = rest.partition("/")
        if addr.startswith("["):
            host, _, port_text = addr[1:].partition("]:")
        else:
            host, _, port_text = addr.rpartition(":")
        try:
            port = int(port_text)
            db = int(db_text) if slash else 0
        except ValueError:
            raise ValueError(f"{text!r} is not [PASSWORD@]IP:PORT/DB") from None
        if not host or not 0 < port < 65536 or db < 0:
            raise ValueError(f"{text!r} is not [PASSWORD@]IP:PORT/DB")
        return cls(host, port, db, password or None)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}/{self.db}"
