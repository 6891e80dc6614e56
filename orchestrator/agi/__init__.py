"""FastAGI: the dialplan's hooks into the orchestrator (MISSION I).

`server.FastAgiServer` listens (loopback by default) and hands each request, by its
script name, to a handler; `protocol` is the wire format. The handlers themselves
(callback-offer, screen-pop, opt-out) use the ledger, so they live in the shell
(orchestrator/dialer/dialplan_hooks/) and runtime hands them to the server.
"""

from orchestrator.agi.protocol import AgiEnvironment, AgiProtocolError, AgiReply
from orchestrator.agi.server import (
    AgiCommandError,
    AgiConnectionLost,
    AgiSession,
    FastAgiServer,
    Handler,
)

__all__ = [
    "AgiCommandError", "AgiConnectionLost", "AgiEnvironment", "AgiProtocolError", "AgiReply",
    "AgiSession", "FastAgiServer", "Handler",
]
