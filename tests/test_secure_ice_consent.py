"""ICE consent freshness (RFC 7675), in memory on a virtual clock: once a pair is selected a
full agent checks it every 4-6 s, an answer renews consent for 30 s, and without answers
consent expires: the WebRTC leg drops its SRTP keys (media stops both ways) and asks for no
more timers. The worker only calls ``poll`` when ``deadline`` says so (its timer heap)."""

import time

from test_secure_webrtc_leg import A, B, certs, pair, run  # noqa: F401  (certs: fixture)

from rtpengined.secure import ice, stun


def connected_agents():
    a = ice.IceAgent("ufa", "a" * 22, controlling=True)
    b = ice.IceAgent("ufb", "b" * 22, controlling=False)
    a.set_remote("ufb", "b" * 22, [(B[0], B[1], 1000)])
    b.set_remote("ufa", "a" * 22, [(A[0], A[1], 1000)])
    now = 100.0
    for _ in range(50):
        queue = [(d, A, to) for d, to in a.poll(now)] + [(d, B, to) for d, to in b.poll(now)]
        while queue:
            data, source, dest = queue.pop(0)
            agent, own = (a, A) if dest == A else (b, B)
            out, _ = agent.receive(data, source, now)
            queue += [(d, own, to) for d, to in out]
        if a.selected and b.selected:
            return a, b, now
        now += ice.TA
    raise AssertionError("no pair selected")


def advance_to_deadline(agent, now):
    due = agent.deadline()
    assert due is not None and due > now, "a selected full agent always has a timer"
    return due


def test_consent_checks_every_four_to_six_seconds_and_answers_renew_it():
    a, b, now = connected_agents()
    start = now
    for _ in range(20):  # 20 rounds: well past the 30 s expiry, consent stays fresh
        previous = now
        now = advance_to_deadline(a, now)
        assert 4.0 - 1e-6 <= now - previous <= 6.0 + 1e-6
        sent = a.poll(now)
        assert len(sent) == 1 and sent[0][1] == B
        request = stun.parse(sent[0][0])
        assert request.cls == stun.REQUEST and not request.has(stun.USE_CANDIDATE)
        answer, result = b.receive(sent[0][0], A, now)
        assert result.valid and len(answer) == 1
        _, result = a.receive(answer[0][0], B, now)
        assert result.valid and a.consent_until == now + ice.CONSENT_TIMEOUT
    assert now - start > ice.CONSENT_TIMEOUT and not a.consent_expired
    assert a.selected == B


def test_consent_expires_after_thirty_seconds_without_answers():
    a, _b, now = connected_agents()
    selected_at = now
    checks = 0
    while not a.consent_expired:
        now = advance_to_deadline(a, now)
        checks += len(a.poll(now))  # the peer has gone: nothing answers
    assert abs(now - (selected_at + ice.CONSENT_TIMEOUT)) < 1e-6
    assert 5 <= checks <= 8  # every 4-6 s for 30 s, each sent once
    assert a.deadline() is None and a.poll(now + 10) == []


def test_a_forged_or_misdirected_answer_does_not_renew_consent():
    a, b, now = connected_agents()
    now = advance_to_deadline(a, now)
    sent = a.poll(now)
    answer, _ = b.receive(sent[0][0], A, now)
    until = a.consent_until
    _, result = a.receive(answer[0][0], ("192.0.2.99", 1), now + 1)  # from elsewhere
    assert not result.valid and a.consent_until == until
    forged = stun.Message(stun.BINDING, stun.SUCCESS, stun.parse(sent[0][0]).transaction_id)
    _, result = a.receive(forged.encode(b"wrong key"), B, now + 1)
    assert not result.valid and a.consent_until == until


def test_ice_lite_agents_do_not_check_consent():
    lite = ice.IceAgent("ufa", "a" * 22, controlling=False, lite=True)
    lite.set_remote("ufb", "b" * 22, [])
    assert lite.deadline() is None and lite.consent_due is None


def test_an_expired_leg_drops_its_keys_and_says_so(certs):  # noqa: F811
    a, b = pair(certs)
    run(a, b)
    assert a.inbound is not None and not a.status().expired
    now = time.monotonic()
    while not a.expired:  # b has gone quiet: a's consent checks go unanswered
        due = a.deadline()
        assert due is not None
        now = max(now, due)
        a.poll(now)
    status = a.status()
    assert status.expired and status.verified  # (query keeps showing the verified handshake)
    assert a.inbound is None and a.outbound is None
    assert a.deadline() is None  # no timers left: the worker's heap forgets it
