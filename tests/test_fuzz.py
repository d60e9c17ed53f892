"""Property tests: no input makes a parser raise; every input gets the protocol's reply."""

from fuzz.seeds import SEEDS
from fuzz.targets import TARGETS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

fuzz_settings = settings(max_examples=300, deadline=None,
                         suppress_health_check=[HealthCheck.too_slow])
mutated = st.one_of(
    st.binary(max_size=200),
    st.builds(lambda seed, cut, junk: seed[:cut] + junk + seed[cut:],
              st.sampled_from(SEEDS), st.integers(0, 400), st.binary(max_size=16)),
)


@fuzz_settings
@given(mutated)
def test_bencode(data):
    TARGETS["bencode"](data)


@fuzz_settings
@given(mutated)
def test_ng_envelope(data):
    TARGETS["ng-envelope"](data)


@fuzz_settings
@given(mutated)
def test_ng_command(data):
    TARGETS["ng-command"](data)


@fuzz_settings
@given(mutated)
def test_tcp_framer(data):
    TARGETS["tcp-framer"](data)


def test_short_campaign_finds_no_crash():
    import random

    from fuzz.campaign import run

    rng = random.Random(7)
    for target in TARGETS:
        _, _, crashes = run(target, 2000, rng)
        assert crashes == [], crashes[0]
