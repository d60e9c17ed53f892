"""The words of rtpengine's text CLI, as the daemon parses them and rtpctl completes them.

The daemon's tables (``rtpengined.ctl``) pair each word with its handler; rtpctl's shell
completion offers the same words plus ``help``. Both read this list, and
tests/test_architecture.py checks that every daemon table has exactly these words in
this order (10.5 matches keywords by prefix in table order, so order is behaviour).
"""

from __future__ import annotations

TOP = ("list", "terminate", "set", "get", "params", "ksadd", "ksrm", "kslist", "active", "standby",
       "debug", "call")
LIST = ("numsessions", "sessions", "totals", "counters", "maxopenfiles", "maxsessions", "maxcpu", "maxload",
        "maxbw", "timeout", "silenttimeout", "offertimeout", "finaltimeout", "loglevels", "loglevel",
        "redisallowederrors", "redisdisabletime", "redisconnecttimeout", "rediscmdtimeout", "controltos",
        "deletedelay", "interfaces", "jsonstats", "transcoders")
SET = ("maxopenfiles", "maxsessions", "maxcpu", "maxload", "maxbw", "timeout", "silenttimeout",
       "offertimeout", "finaltimeout", "loglevel", "redisallowederrors", "redisdisabletime",
       "redisconnecttimeout", "rediscmdtimeout", "controltos", "deletedelay")
PARAMS = ("start", "current", "diff", "revert")
CALL = ("info", "terminate", "debug", "tag")  # call <id> ...
TAG = ("info", "delay", "detect-dtmf")  # call <id> tag <tag> ...
# Log subsystems (set/list loglevel <subsystem>, --log-level-<subsystem>).
SUBSYSTEMS = ("core", "spandsp", "ffmpeg", "transcoding", "codec", "rtcp", "ice", "crypto", "srtp",
              "internals", "http", "control", "dtx")
