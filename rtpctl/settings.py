"""What rtpctl's global options decide, resolved once per run.

Its own module because both the commands (``main``) and the shell completion's live
look-ups (``complete``) build it, and ``main`` imports ``complete``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import click

from . import transport
from .target import Target, TargetError, read_listen_config, resolve


class OneLineUsageError(click.UsageError):
    """A usage error that is about the target or the input, not the syntax: one line."""

    def show(self, file: Any = None) -> None:
        click.echo(f"rtpctl: {self.message}", err=True)


@dataclass
class Settings:
    """Everything the global options decide, resolved once per run."""

    url: str | None
    transport: str | None
    host: str | None
    port: int | None
    listen: dict[str, str]
    client: transport.ClientOptions
    output: str
    encoding: str
    watch: float | None
    count: int | None

    @property
    def live(self) -> bool:
        """Whether replies are drawn in a live view (watching, on a terminal)."""
        return self.watch is not None and self.output == "rich"

    @classmethod
    def from_params(cls, params: dict[str, Any], **client_overrides: Any) -> Settings:
        listen: dict[str, str] = {}
        config_file = params.get("config_file")
        if config_file and config_file != "none":
            try:
                listen = read_listen_config(config_file, params.get("config_section") or "rtpengine")
            except TargetError as exc:
                raise OneLineUsageError(str(exc)) from None
        client = {"timeout": params.get("timeout") or 3.0, "retries": params.get("retries"),
                  "insecure": bool(params.get("insecure")), "cacert": params.get("cacert"),
                  "auth_token": params.get("auth_token") or None}
        if client["retries"] is None:
            client["retries"] = 2
        client.update(client_overrides)
        output = params.get("output") or "auto"
        if params.get("json_output"):
            output = "json"
        if output == "auto":
            output = "rich" if sys.stdout.isatty() else "plain"
        return cls(url=params.get("url"), transport=params.get("transport"), host=params.get("host"),
                   port=params.get("port"), listen=listen, client=transport.ClientOptions(**client),
                   output=output, encoding=params.get("encoding") or "bencode",
                   watch=params.get("watch"), count=params.get("count"))

    def target(self, kind: str) -> Target:
        return resolve(kind, url=self.url, transport=self.transport, host=self.host, port=self.port,
                       listen=self.listen)
