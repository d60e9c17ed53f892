"""/metrics: rtpengine's exposition bytes, families, labels and HELP texts, from the one stats view."""

from __future__ import annotations

import json
import os
import re

import httpx
import pytest
from http_helpers import fresh_cookie, start_web_daemon
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from rtpengined import metrics
from rtpengined.metrics import RtpengineCollector, metric_samples, render_exposition

from conftest import FIXTURES, udp_request

STATES = [("idle", "idle/list_jsonstats.txt"), ("calls", "calls/list_jsonstats.txt"),
          ("media", "media/list_jsonstats.txt"), ("teardown", "teardown/list_jsonstats_final.txt")]


@pytest.fixture
def make_daemon(nursery):
    """Web-port tests run over a core with the null media plane (see ``start_web_daemon``)."""

    async def start(**overrides):
        return await start_web_daemon(nursery, **overrides)

    return start


@pytest.fixture
async def daemon(make_daemon):
    return await make_daemon()


def read_fixture(name: str) -> str:
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def mask_values(text: str) -> list[str]:
    """Exposition lines with sample values (and interface addresses) masked."""
    masked = []
    for line in text.splitlines():
        if not line.startswith("#"):
            line = re.sub(r" \S+$", " V", line)
            line = re.sub(r'address="[^"]*"', 'address="A"', line)
        masked.append(line)
    return masked


def family_shapes(text: str) -> list[tuple]:
    """Parsed families: name, type, HELP, and each sample's name and label names."""
    return [(family.name, family.type, family.documentation,
             [(sample.name, tuple(sorted(sample.labels))) for sample in family.samples])
            for family in text_string_to_metric_families(text)]


@pytest.fixture
def stats_view(monkeypatch):
    """The real stats view when it exists; until then a stand-in with the same shape."""
    try:
        import rtpengined.statsview  # noqa: F401
    except ImportError:
        monkeypatch.setattr(metrics, "json_statistics", stand_in_json_statistics)


def stand_in_json_statistics(core) -> dict:
    from rtpengined.stats import NG_COMMANDS

    stats = json.loads(read_fixture("idle/list_jsonstats.txt"))
    stats["totalstatistics"]["uptime"] = int(core.clock() - core.stats.started)
    proxies = []
    for address, proxy in core.stats.proxies.items():
        entry: dict = {"proxy": address}
        for index, (_, short, _) in enumerate(NG_COMMANDS):
            entry[f"{short}count"] = proxy.counts[index]
            entry[f"{short}duration"] = float(proxy.durations[index])
        entry["errorcount"] = proxy.errors
        proxies.append(entry)
    stats["controlstatistics"]["proxies"] = proxies
    return stats


@pytest.mark.parametrize("state,jsonstats", STATES)
def test_rendering_of_the_model_is_byte_identical_to_rtpengine(state, jsonstats):
    stats = json.loads(read_fixture(jsonstats))
    ours = render_exposition(metric_samples(stats))
    expected = read_fixture(f"metrics-{state}.txt")
    # uptime is the one value the capture's model and exposition took at different seconds
    uptime = re.compile(r"^rtpengine_uptime_seconds \d+$", re.M)
    assert uptime.sub("U", ours) == uptime.sub("U", expected)


def test_family_shapes_match_every_fixture():
    for state, jsonstats in STATES:
        ours = render_exposition(metric_samples(json.loads(read_fixture(jsonstats))))
        assert family_shapes(ours) == family_shapes(read_fixture(f"metrics-{state}.txt")), state


async def test_metrics_endpoint_idle_then_with_a_proxy_block(daemon, stats_view):
    host, port = daemon.address("http")[:2]
    async with httpx.AsyncClient() as http:
        reply = await http.get(f"http://{host}:{port}/metrics")
        assert reply.status_code == 200
        assert list(reply.headers.items()) == [("content-type", "text/plain"),
                                               ("content-length", str(len(reply.content)))]
        idle = read_fixture("metrics-idle.txt")
        assert mask_values(reply.text) == mask_values(idle)
        assert family_shapes(reply.text) == family_shapes(idle)

        cookie = fresh_cookie()
        assert await udp_request(daemon.address("udp-ng"), cookie + b" d7:command4:pinge")
        reply = await http.get(f"http://{host}:{port}/metrics")
        calls = read_fixture("metrics-calls.txt")
        assert mask_values(reply.text) == mask_values(calls)
        assert family_shapes(reply.text) == family_shapes(calls)
        assert 'rtpengine_requests_total{proxy="127.0.0.1",request="ping"} 1\n' in reply.text


async def test_metrics_endpoint_renders_the_one_stats_view(daemon, stats_view):
    """/metrics is the stats view rendered at scrape time, nothing counted on the side."""
    host, port = daemon.address("http")[:2]
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://{host}:{port}/metrics")).text
    direct = render_exposition(metric_samples(metrics.json_statistics(daemon.core)))
    assert mask_values(text) == mask_values(direct)


async def test_collector_serves_the_same_families_to_a_registry(daemon, stats_view):
    registry = CollectorRegistry()
    registry.register(RtpengineCollector(daemon.core))
    # prometheus-client's parser names the counter rtpengine_sessions_total "rtpengine_sessions"
    # too (metrics.md §3.1); key by name and type.
    families = {(family.name, family.type): family for family in
                text_string_to_metric_families(generate_latest(registry).decode())}
    sessions = families["rtpengine_sessions", "gauge"]
    assert sessions.documentation == "Owned sessions"
    assert [s.labels for s in sessions.samples] == [{"type": "own"}, {"type": "foreign"}]
    assert families["rtpengine_sessions", "counter"].documentation == "Total managed sessions"
    closed = families["rtpengine_closed_sessions", "counter"]
    assert closed.documentation == "Total rejected sessions"
    assert [s.labels["reason"] for s in closed.samples if s.name.endswith("_total")] == [
        "rejected", "timeout", "silent_timeout", "final_timeout", "offer_timeout", "terminated",
        "force_terminated"]
    packets = families["rtpengine_packets", "counter"]
    assert [s.labels["type"] for s in packets.samples if s.name.endswith("_total")] == ["userspace", "kernel"]
    assert {("rtpengine_ports_used", "gauge"), ("rtpengine_ports_free", "gauge"),
            ("rtpengine_ports", "gauge")} <= set(families)


def test_label_values_are_escaped_so_the_scrape_parses(daemon_process):
    """An interface name with a double quote, a backslash and a line feed (all legal in
    ``--interface``) comes out escaped, and prometheus_client's parser reads it back."""
    name = 'pub"x\\y\nz'
    proc = daemon_process(f"--interface={name}/127.0.0.1", "--relay-workers=1")
    reply = httpx.get(f"http://127.0.0.1:{proc.http_port}/metrics", timeout=5)
    assert reply.status_code == 200
    assert 'name="pub\\"x\\\\y\\nz"' in reply.text
    names = {sample.labels.get("name") for family in text_string_to_metric_families(reply.text)
             for sample in family.samples}
    assert name in names
