"""What the daemon and its clients (rtpctl) must agree on, in one place both import.

``schemes``: every control URL scheme, what it carries (ng, CLI text), its default port
and the rtpengine.conf key of its listener. ``cliwords``: the text CLI's words, which
the daemon parses and rtpctl completes. ``bencode`` and ``ngcodec`` (the ng envelope;
JSON <-> ng values: ``ngcodec.from_json``): the codecs both sides use. Nothing here
imports the rest of the daemon.
"""
