"""``--log-facility-cdr`` in process: the option, and when and why the record says the
parties ended (the line itself beside rtpengine 10.5 is ``test_diff_cdr.py``)."""

from __future__ import annotations

import pytest
from test_calls_model import _answered_call, make_core, ng

from rtpengined.config import ConfigError, parse_args


def _records(**config) -> tuple:
    core, clock = make_core(log_facility_cdr=19, **config)
    records: list[bytes] = []
    core.cdr_sinks.append(records.append)
    return core, clock, records


def _fields(record: bytes) -> dict[str, str]:
    assert record.endswith(b", ")
    return dict(item.partition("=")[::2] for item in record[:-2].decode().split(", "))


def test_the_option_takes_a_facility_name():
    config = parse_args(["--log-facility-cdr=local3"])
    assert (config.log_facility_cdr, config.warnings) == (19, [])
    assert parse_args([]).log_facility_cdr is None
    with pytest.raises(ConfigError, match="'locale' is not a syslog facility"):
        parse_args(["--log-facility-cdr=locale"])


def test_without_the_option_no_record_is_made():
    core, _ = make_core()
    assert core.calls.on_end is None
    _answered_call(core)
    ng(core, command="delete", **{"call-id": "c1"})


def test_a_delete_ends_the_parties_when_it_comes_and_the_record_follows_the_delay():
    core, clock, records = _records(delete_delay=30)
    _answered_call(core)
    clock.now += 5
    deleted_at = clock.now
    ng(core, command="delete", **{"call-id": "c1"})
    assert records == []
    clock.now += 30
    core.tick()
    fields = _fields(records.pop())
    assert fields["ci"] == "c1" and fields["created_from"] == "127.0.0.1:5060"
    assert (fields["ml0_local_tag"], fields["ml0_local_tag_type"], fields["ml0_remote_tag"],
            fields["ml1_local_tag"], fields["ml1_local_tag_type"]) == (
        "a", "FROM_TAG", "b", "b", "TO_TAG")
    assert fields["ml0_termination"] == fields["ml1_termination"] == "REGULAR"
    assert float(fields["ml1_end_time"]) == deleted_at
    assert fields["ml0_duration"] == "5.000000"
    assert fields["ml0_midx1_rtp_local_relay_ip"] == "127.0.0.1"  # (still open till now)


def test_a_timeout_and_the_cli_name_their_reasons():
    core, clock, records = _records(timeout=10)
    _answered_call(core, "t")
    clock.now += 11
    core.tick()
    assert _fields(records.pop())["ml0_termination"] == "TIMEOUT"
    _answered_call(core, "f")
    assert "terminated" in core.handle_cli("terminate f")
    assert _fields(records.pop())["ml1_termination"] == "FORCED"
    _answered_call(core, "u")  # (``call ID terminate``: 10.5 gives no reason)
    core.handle_cli("call u terminate")
    assert _fields(records.pop())["ml0_termination"] == "UNKNOWN"


def test_foreign_calls_have_no_record():
    core, _, records = _records()
    _answered_call(core)
    core.calls.calls["c1"].foreign = True
    core.handle_cli("terminate c1")
    assert records == []


def test_a_record_that_fails_does_not_keep_the_call(caplog):
    core, _, records = _records()
    core.cdr_sinks[:] = [lambda record: 1 / 0]
    _answered_call(core)
    assert ng(core, command="delete", **{"call-id": "c1", "delete-delay": 0})["result"] == "ok"
    assert core.calls.calls == {} and "its detail record failed" in caplog.text
