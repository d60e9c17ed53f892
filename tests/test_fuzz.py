"""Property tests: no input makes a parser raise; every input gets the protocol's reply.

Short runs for CI; ``python tests/fuzz/campaign.py --inputs 1000000`` is the long campaign
and ``tests/fuzz/atheris_main.py`` the coverage-guided one.
"""

import random

import pytest
from fuzz.campaign import mutate, run
from fuzz.seeds import seeds_for
from fuzz.targets import TARGETS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

fuzz_settings = settings(max_examples=200, deadline=None,
                         suppress_health_check=[HealthCheck.too_slow])


def inputs_for(target: str) -> st.SearchStrategy[bytes]:
    """Random bytes, seeds with junk spliced in, and the campaign's own mutations."""
    seeds = seeds_for(target)
    return st.one_of(
        st.binary(max_size=200),
        st.builds(lambda seed, cut, junk: seed[:cut] + junk + seed[cut:],
                  st.sampled_from(seeds), st.integers(0, 400), st.binary(max_size=16)),
        st.builds(lambda seed, rng_seed: mutate(random.Random(rng_seed), seed, seeds),
                  st.sampled_from(seeds), st.integers(0, 2**32)),
    )


@pytest.mark.parametrize("target", list(TARGETS))
def test_property_no_input_escapes(target):
    @fuzz_settings
    @given(inputs_for(target))
    def check(data):
        TARGETS[target](data)

    check()


@pytest.mark.parametrize("target", list(TARGETS))
def test_every_seed_is_accepted(target):
    for seed in seeds_for(target):
        TARGETS[target](seed)


def test_short_campaign_finds_no_crash():
    rng = random.Random(7)
    for target in TARGETS:
        _, _, crashes = run(target, 1000, rng)
        assert crashes == [], crashes[0]
