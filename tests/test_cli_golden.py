"""Golden tests: our CLI port answers every captured rtpengine 10.5 command byte for byte.

Each test starts a CLI port over a fresh core in the state of the capture (fresh, idle, ``-L 6``, media
ports 40000-40999 configured but never bound) and sends the captured commands over the
real TCP CLI port in the captured order; volatile values are masked (fixtures README).
"""

from __future__ import annotations

import os

from cli_helpers import capture_list, cli, fixture, mask, start_cli_server

from conftest import FIXTURES

IDLE_CONFIG = {"port_min": 40000, "port_max": 40999, "log_level": 6}

# Deliberate differences (README): exact match of all/own/foreign, no "terminate all"
# on an empty argument (cli.md §5 D4).
DEVIATIONS = {
    "terminate_a": "\nCall Id not found (a).\n\n",
    "terminate_fo": "\nCall Id not found (fo).\n\n",
    "terminate_trailing_space": "More parameters required.\n",
}


def _compare(name: str, ours: str, expected: str, mismatches: list) -> None:
    if mask(ours) != mask(expected):
        mismatches.append((name, expected, ours))


async def test_idle_fixtures_byte_exact(nursery):
    _, address = await start_cli_server(nursery, **IDLE_CONFIG)
    mismatches: list = []
    for filename in sorted(os.listdir(os.path.join(FIXTURES, "idle"))):
        command = filename.removesuffix(".txt").replace("_", " ")
        _compare(filename, await cli(address, command), fixture(f"idle/{filename}"), mismatches)
    assert mismatches == []


async def test_error_fixtures_byte_exact(nursery):
    _, address = await start_cli_server(nursery, **IDLE_CONFIG)
    mismatches: list = []
    cases = capture_list("error / edge replies")
    assert len(cases) > 50
    for name, command in cases:
        expected = DEVIATIONS.get(name) or fixture(f"errors/{name}.txt")
        _compare(name, await cli(address, command), expected, mismatches)
    assert mismatches == []


async def test_set_session_byte_exact(nursery):
    """The numbered setter session: each set, its getter, params diff/current/revert."""
    _, address = await start_cli_server(nursery, **IDLE_CONFIG)
    mismatches: list = []
    cases = capture_list("set commands")
    assert len(cases) == 36
    for name, command in cases:
        _compare(name, await cli(address, command), fixture(f"set/{name}.txt"), mismatches)
    assert mismatches == []


async def test_setters_write_the_live_config(nursery):
    core, address = await start_cli_server(nursery, **IDLE_CONFIG)
    config = core.config
    assert await cli(address, "set maxsessions 7") == "Success setting maxsessions to 7\n"
    assert await cli(address, "set timeout 90") == "Success setting timeout to 90\n"
    assert await cli(address, "set silenttimeout 91") == "Success setting timeout to 91\n"
    assert await cli(address, "set offertimeout 92") == "Success setting timeout to 92\n"
    assert await cli(address, "set finaltimeout 93") == "Success setting timeout to 93\n"
    assert await cli(address, "set deletedelay 5") == "Success setting delete-delay to 5\n"
    assert await cli(address, "set maxload 1.5") == "Success setting maxload to 1.50\n"
    assert await cli(address, "set maxcpu 50") == "Success setting maxcpu to 50.0\n"
    assert await cli(address, "set maxbw 10") == "Success setting maxbw to 10\n"
    assert await cli(address, "set controltos 16") == "Success setting redis-connect-timeout to 16\n"
    assert (config.max_sessions, config.timeout, config.silent_timeout) == (7, 90, 91)
    assert (config.offer_timeout, config.final_timeout, config.delete_delay) == (92, 93, 5)
    assert (config.max_load, config.max_cpu, config.max_bandwidth) == (1.5, 50.0, 1000)
    assert config.control_tos == 16
    assert await cli(address, "list controltos") == "16\n"
