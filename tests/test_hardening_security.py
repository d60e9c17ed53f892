"""Security defaults and options: loopback-only listeners, ``--http-auth-token`` (Bearer) on
HTTP/WS control, ``--https-client-ca`` (mutual TLS). Everything off by default."""

from __future__ import annotations

import pytest
from hardening_helpers import make_ca_and_certs
from http_helpers import fresh_cookie, raw_exchange, split_response, start_web_daemon
from trio_websocket import ConnectionRejected, open_websocket_url

from rtpengined.config import Config, parse_args
from transports.http import HttpStatusError, open_client
from transports.http_app import AUTH_TOKEN_ENV, UNAUTHORIZED_BODY

TOKEN = "s3cret-token"


def test_defaults_listen_on_loopback_only_and_need_no_token():
    config = Config()
    for attr in ("listen_ng", "listen_tcp_ng", "listen_cli", "listen_http", "listen_https"):
        for address in getattr(config, attr):
            assert address.host in ("127.0.0.1", "::1"), (attr, address)
    assert [i.address for i in config.interfaces] == ["127.0.0.1"]
    assert config.http_auth_token is None and config.https_client_ca is None
    assert config.http_auth_metrics is False


def test_token_options_from_command_line_and_ini_file(tmp_path):
    ini = tmp_path / "rtpengine.conf"
    ini.write_text("[rtpengine]\nhttp-auth-token = from-file\nhttps-client-ca = /etc/ca.pem\n"
                   "http-auth-metrics = true\n")
    config = parse_args([f"--config-file={ini}"])
    assert (config.http_auth_token, config.https_client_ca, config.http_auth_metrics) == \
        ("from-file", "/etc/ca.pem", True)
    assert parse_args([f"--config-file={ini}", "--http-auth-token=cli"]).http_auth_token == "cli"


async def http(address, method: str, target: str, headers: dict | None = None,
               body: bytes = b"") -> tuple[int, bytes]:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {address[0]}:{address[1]}", "Connection: close",
             f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    raw, _ = await raw_exchange(address, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    status, _, payload = split_response(raw)
    return int(status.split()[1]), payload


NG = {"Content-Type": "application/x-rtpengine-ng"}
PROTECTED = [("POST", "/ng", NG, b"c1 d7:command4:pinge"),
             ("POST", "/ng-plain", NG, b"d7:command4:pinge"),
             ("GET", "/cli/list+numsessions", {}, b""),
             ("GET", "/cli/../cli/list%20numsessions", {}, b""),
             ("GET", "/nothing-here", {}, b"")]


async def test_auth_token_guards_ng_cli_and_websockets(nursery):
    daemon = await start_web_daemon(nursery, http_auth_token=TOKEN)
    address = daemon.address("http")
    for method, target, headers, body in PROTECTED:
        for bad in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": "Bearer"}):
            status, payload = await http(address, method, target, {**headers, **bad}, body)
            assert (status, payload) == (401, UNAUTHORIZED_BODY), (target, bad)
        status, payload = await http(address, method, target,
                                     {**headers, "Authorization": f"bearer {TOKEN}"}, body)
        assert status in (200, 404), (target, status)
    # open paths stay open
    assert await http(address, "GET", "/ping") == (200, b"pong\n")
    assert (await http(address, "GET", "/metrics"))[0] == 200
    # WebSocket upgrades: refused with 401 and the same body
    for subprotocol in ("ng.rtpengine.com", "cli.rtpengine.com", "echo.rtpengine.com"):
        with pytest.raises(ConnectionRejected) as rejected:
            async with open_websocket_url(f"ws://{address[0]}:{address[1]}/",
                                          subprotocols=[subprotocol], connect_timeout=5):
                pass
        assert rejected.value.status_code == 401
        assert rejected.value.body == UNAUTHORIZED_BODY


async def test_clients_send_the_token(nursery):
    daemon = await start_web_daemon(nursery, http_auth_token=TOKEN)
    host, port = daemon.address("http")[:2]
    for url in (f"http://{host}:{port}", f"ws://{host}:{port}/"):
        async with open_client(url, kind="ng", auth_token=TOKEN) as client:
            cookie = fresh_cookie()
            assert await client.request(cookie + b" d7:command4:pinge") == cookie + b" d6:result4:ponge"
        async with open_client(url, kind="cli", auth_token=TOKEN) as client:
            assert await client.request(b"list numsessions") == \
                daemon.core.handle_cli("list numsessions").encode()
    async with open_client(f"http://{host}:{port}", kind="ng") as client:
        with pytest.raises(HttpStatusError) as refused:
            await client.request(b"c9 d7:command4:pinge")
        assert refused.value.status == 401


async def test_auth_metrics_protects_ping_and_metrics_too(nursery):
    daemon = await start_web_daemon(nursery, http_auth_token=TOKEN, http_auth_metrics=True)
    address = daemon.address("http")
    for target in ("/ping", "/metrics"):
        assert await http(address, "GET", target) == (401, UNAUTHORIZED_BODY)
        status, _ = await http(address, "GET", target, {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200


async def test_auth_token_from_environment(nursery, monkeypatch):
    monkeypatch.setenv(AUTH_TOKEN_ENV, "env-token")
    daemon = await start_web_daemon(nursery)
    address = daemon.address("http")
    assert (await http(address, "GET", "/cli/list+numsessions"))[0] == 401
    status, _ = await http(address, "GET", "/cli/list+numsessions", {"Authorization": "Bearer env-token"})
    assert status == 200


async def test_no_token_configured_means_open(nursery, monkeypatch):
    monkeypatch.delenv(AUTH_TOKEN_ENV, raising=False)
    daemon = await start_web_daemon(nursery)
    status, _ = await http(daemon.address("http"), "GET", "/cli/list+numsessions")
    assert status == 200


async def test_https_client_ca_requires_a_client_certificate_it_signed(nursery, tmp_path):
    from rtpengined.config import ListenAddress

    certs = make_ca_and_certs(str(tmp_path))
    daemon = await start_web_daemon(nursery, listen_https=[ListenAddress("127.0.0.1", 0)],
                                    https_cert=certs["server_cert"], https_key=certs["server_key"],
                                    https_client_ca=certs["ca"])
    host, port = daemon.address("https")[:2]
    for scheme in ("https", "wss"):
        url = f"{scheme}://{host}:{port}/"
        async with open_client(url, kind="ng", cacert=certs["ca"], client_cert=certs["client_cert"],
                               client_key=certs["client_key"]) as client:
            cookie = fresh_cookie()
            assert await client.request(cookie + b" d7:command4:pinge") == cookie + b" d6:result4:ponge"
        for extra in ({}, {"client_cert": certs["stranger_cert"], "client_key": certs["stranger_key"]}):
            assert await refused(url, cacert=certs["ca"], **extra), (scheme, extra)
    # the listener survives refused handshakes
    async with open_client(f"https://{host}:{port}", kind="cli", cacert=certs["ca"],
                           client_cert=certs["client_cert"], client_key=certs["client_key"]) as client:
        assert await client.request(b"list numsessions")


async def refused(url: str, **options) -> bool:
    """True when the TLS handshake (or the first request) fails; False if a reply comes."""
    try:
        async with open_client(url, kind="ng", timeout=1, **options) as client:
            await client.request(b"c1 d7:command4:pinge")
    except (Exception, BaseExceptionGroup) as exc:  # TLS alert, reset, handshake error …
        return not isinstance(exc, AssertionError)
    return False


async def rtpctl(*args: str, env: dict | None = None):
    import os
    import sys

    import trio

    environ = {k: v for k, v in os.environ.items() if not k.startswith("RTPCTL_")}
    return await trio.run_process([sys.executable, "-m", "rtpctl", "-o", "plain", *args],
                                  env={**environ, **(env or {})}, capture_stdout=True,
                                  capture_stderr=True, check=False)


async def test_rtpctl_sends_the_token(nursery):
    daemon = await start_web_daemon(nursery, http_auth_token=TOKEN)
    host, port = daemon.address("http")[:2]
    done = await rtpctl("--url", f"http://{host}:{port}", "--auth-token", TOKEN, "list", "numsessions")
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == daemon.core.handle_cli("list numsessions")
    done = await rtpctl("--url", f"ws://{host}:{port}", "ng", "ping", env={"RTPCTL_AUTH_TOKEN": TOKEN})
    assert done.returncode == 0 and b"pong" in done.stdout, done.stderr
    done = await rtpctl("--url", f"http://{host}:{port}", "list", "numsessions")
    assert done.returncode != 0 and b"401" in done.stderr + done.stdout
