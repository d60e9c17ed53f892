from conftest import udp_request


async def test_ping_udp(daemon):
    reply = await udp_request(daemon.address("udp-ng"), b"c1 d7:command4:pinge")
    assert reply == b"c1 d6:result4:ponge"
