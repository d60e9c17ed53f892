"""Differential: ``--b2b-url`` / ``--xmlrpc-format`` (XML-RPC requests asking the B2BUA to
end the dialogs of a call whose media timed out), rtpengine 10.5 and rtpengined beside each
other, to an XML-RPC server of the test's.

Both daemons run the same calls with a 1 s timeout; the requests the server gets (the
address it was reached on, the path, the method and its parameters) must be the same, in
each of the three formats; ``%%`` in the URL names the ng client's address or the
``xmlrpc-callback`` an offer gave; a call that is deleted or ends on its final timeout makes
none; a server that answers with faults is asked again, a "dialog not found" fault is
taken as done.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import xmlrpc.client
import xmlrpc.server

import pytest
from differential import loopback_call, running, start_ours, start_reference


class _Handler(xmlrpc.server.SimpleXMLRPCRequestHandler):
    rpc_paths = ()  # (any path: the test checks which one came)

    def do_POST(self) -> None:
        self.server.paths.append((self.connection.getsockname()[0], self.path))
        super().do_POST()


@contextlib.contextmanager
def b2bua(fault: str | None = None):
    """An XML-RPC server on every loopback address: yields (its port, the calls it got as
    (address, path, method, params)). ``fault``: every call answered with that fault."""
    server = xmlrpc.server.SimpleXMLRPCServer(("0.0.0.0", 0), requestHandler=_Handler,
                                              logRequests=False, allow_none=True)
    server.paths = []
    got: list[tuple] = []

    def dispatch(method: str, params: tuple):
        address, path = server.paths[-1]
        got.append((address, path, method, params))
        if fault is not None:
            raise xmlrpc.client.Fault(1, fault)
        return "ok"

    server._dispatch = dispatch
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield server.server_address[1], got
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _timed_out(start, port: int, fmt: int, url: str = "http://%%:{port}/RPC2",
               offer_options: dict | None = None,
               timeouts: tuple[str, ...] = ("--timeout=1", "--silent-timeout=1",
                                            "--offer-timeout=1"),
               fault: str | None = None, wait: float = 4.0) -> list:
    with b2bua(fault) as (server_port, got), running(functools.partial(start, extra=[
            f"--b2b-url={url.format(port=server_port)}", f"--xmlrpc-format={fmt}",
            *timeouts])) as daemon:
        with loopback_call(daemon, "b2b-timeout", "0", "0", offer_options=offer_options):
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                time.sleep(0.1)
        # (the call was gone before the delete at the end: that makes no request)
        with loopback_call(daemon, "b2b-deleted", "0", "0"):
            pass
        time.sleep(0.5)
        return sorted(got)


@pytest.mark.parametrize("fmt", [0, 1, 2], ids=["sems", "call-id", "kamailio"])
def test_a_timed_out_call_asks_the_b2bua_as_10_5_does(fmt):
    want = _timed_out(start_reference, 0, fmt)
    have = _timed_out(start_ours, 0, fmt)
    assert want and have == want


def test_xmlrpc_callback_names_the_address_for_percent_percent():
    options = {"xmlrpc-callback": "127.0.0.2"}
    want = _timed_out(start_reference, 0, 2, offer_options=options)
    have = _timed_out(start_ours, 0, 2, offer_options=options)
    assert want and have == want and want[0][0] == "127.0.0.2"


def test_faults_are_asked_again_and_dialog_not_found_is_done():
    for fault, count in (("no such thing", 4), ("Dialog not found", 1)):
        want = _timed_out(start_reference, 0, 1, fault=fault, wait=5.0)
        have = _timed_out(start_ours, 0, 1, fault=fault, wait=5.0)
        assert have == want and len(want) == count, fault


def test_the_final_timeout_asks_nothing():
    options = ("--final-timeout=2",)
    for start in (start_reference, start_ours):
        assert _timed_out(start, 0, 0, timeouts=options) == []
