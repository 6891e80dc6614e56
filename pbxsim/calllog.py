"""The call log: one JSON line per call pbxsim was asked to place, written when it ends.

`outcome` is what really happened at the far end (answer, machine, fax, busy, ...), so a
test can compare what the dialer believes with what the "PBX" did (docs/pbxsim.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TextIO

from pbxsim.model import Channel
from pbxsim.state import PbxState


@dataclass
class CallLogEntry:
    endpoint: str
    number: str
    channel_id: str
    kind: str


class CallLog:
    """Counts the calls placed and their outcomes; writes the --call-log file."""

    def __init__(self, pbx: PbxState, out: TextIO | None) -> None:
        self.pbx = pbx
        self.out = out
        self.entries: dict[str, CallLogEntry] = {}

    def register(self, c1: Channel) -> None:
        """A call was placed (originate or create) on `c1`."""
        if c1.kind == "customer":
            self.pbx.stats["customer_calls"] += 1
        elif c1.kind == "agent":
            self.pbx.stats["agent_calls"] += 1
        number = c1.number
        self.entries[c1.id] = CallLogEntry(c1.endpoint, number, c1.id, c1.kind)

    def log(self, c: Channel, forced: str | None) -> None:
        """The channel ended: count its outcome (`forced`, or what happened) and log it."""
        entry = self.entries.pop(c.id, None)
        if entry is None:
            return
        outcome = forced or final_outcome(c)
        self.pbx.outcomes[outcome] = self.pbx.outcomes.get(outcome, 0) + 1
        if self.out is None:
            return
        rec: dict[str, Any] = {
            "time": round(self.pbx.clock.now(), 3),
            "endpoint": entry.endpoint,
            "number": entry.number,
            "channel_id": entry.channel_id,
            "outcome": outcome,
        }
        if entry.kind != "customer":
            rec["kind"] = entry.kind
        self.out.write(json.dumps(rec) + "\n")
        self.out.flush()


def note_outcome(c1: Channel, outcome: str) -> None:
    """The first outcome sticks, except that AMD may turn an answer into machine or fax."""
    if not c1.outcome or (c1.outcome == "answer" and outcome in ("machine", "fax")):
        c1.outcome = outcome


def final_outcome(c: Channel) -> str:
    if c.outcome:
        if c.outcome == "answer" and c.plan is None and c.peer is not None and c.peer.plan:
            p = c.peer.plan.outcome
            return p if p in ("machine", "fax") else "answer"
        return c.outcome
    if c.hangupcause == 19:
        return "noanswer"
    if c.dial is not None and c.dial.status == "NOANSWER":
        return "cancelled"
    return "failed"
