"""Channels: allocating Local and PJSIP channels, the /channels operations that act on one
channel, and channel variables.

A Local channel is a pair: `;1` (the id the app gave) and `;2` (`<id>;2`), the `;2` half
running the called party's dialplan. A PJSIP call gets its callee as a second channel
when the dial starts. Hanging up and tearing down live in hangup.py.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from pbxsim.dialplan import AGENT_CONTEXTS, CUSTOMER_CONTEXTS, ENTRY, TESTLINES, TRANSFER
from pbxsim.model import AriError, Channel
from pbxsim.state import PbxState

#: ChannelCallerId's presentation fields as Asterisk sends them for a plain caller id
PRESENTATION_ALLOWED = {"caller_presentation": 0,
                        "caller_presentation_txt": "Presentation Allowed, Not Screened"}


class Channels:
    """Channel allocation and /channels/{id} requests that change one channel."""

    def __init__(self, pbx: PbxState) -> None:
        self.pbx = pbx

    # ------------------------------------------------------------------ allocation
    @staticmethod
    def parse_endpoint(endpoint: str) -> tuple[str, str, str]:
        """-> (tech, resource, context or PJSIP endpoint)."""
        if "/" not in endpoint:
            raise AriError(400, "Invalid endpoint specified")
        tech, _, rest = endpoint.partition("/")
        if tech not in ("Local", "PJSIP"):
            raise AriError(500, "Allocation failed", key="error")
        resource, _, where = rest.partition("@")
        if tech == "Local":
            resource = resource.split("/")[0]
            return tech, resource, where.split("/")[0] or "default"
        return tech, resource, where

    def new_local(
        self, endpoint: str, cid: str | None, other_id: str | None, creator_app: str | None
    ) -> tuple[Channel, Channel]:
        pbx = self.pbx
        _, exten, context = self.parse_endpoint(endpoint)
        pbx.check_new_id(cid)
        if other_id is not None:
            pbx.check_new_id(other_id)
        seq = pbx.next_seq()
        now_iso = pbx.clock.iso()
        id1 = cid or pbx.new_uid()
        id2 = other_id or (f"{cid};2" if cid else pbx.new_uid())
        if id2 in pbx.channels:
            raise AriError(409, "Channel with given unique ID already exists")
        base = f"Local/{exten}@{context}-{seq}"
        c1 = Channel(
            id=id1, name=base + ";1", tech="Local", state="Down", context=context, exten=exten,
            priority=1, creationtime=now_iso, linkedid=id1, half=1, endpoint=endpoint,
        )
        c2 = Channel(
            id=id2, name=base + ";2", tech="Local", state="Ring", context=context, exten=exten,
            priority=1, creationtime=now_iso, linkedid=id1, half=2, endpoint=endpoint,
        )
        c1.peer, c2.peer = c2, c1
        kind = kind_of(context, exten)
        for c in (c1, c2):
            c.kind, c.number = kind, exten
        pbx.channels[c1.id] = c1
        pbx.channels[c2.id] = c2
        pbx.stats["channels_created"] += 2
        pbx.emit("ChannelCreated", channel=c1)
        pbx.emit("ChannelCreated", channel=c2)
        if creator_app:
            # the app is subscribed to what it creates (surprise 25), after ChannelCreated
            c1.subscribers.add(creator_app)
            c2.subscribers.add(creator_app)
        return c1, c2

    def new_pjsip_out(
        self, endpoint: str, resource: str, where: str, cid: str | None, app: str | None
    ) -> Channel:
        pbx = self.pbx
        pbx.check_new_id(cid)
        ep = where or resource
        number = resource if where else ""
        if not re.fullmatch(r"[A-Za-z0-9_.+-]+", ep):
            raise AriError(500, "Allocation failed", key="error")
        seq = pbx.next_seq()
        c = Channel(
            id=cid or pbx.new_uid(), name=f"PJSIP/{ep}-{seq}", tech="PJSIP", state="Down",
            context="customers" if number else "default", exten="s", priority=1,
            creationtime=pbx.clock.iso(), linkedid=cid or "", protocol_id=str(uuid.uuid4()),
            endpoint=endpoint, number=number or ep,
        )
        c.linkedid = c.id
        c.kind = "agent" if (number or ep).startswith("agent") else "customer"
        pbx.channels[c.id] = c
        pbx.stats["channels_created"] += 1
        pbx.emit("ChannelCreated", channel=c)
        if app:
            c.subscribers.add(app)
        return c

    def new_pjsip_in(self, out: Channel) -> Channel:
        """The callee of a PJSIP call: the far phone's channel, ringing."""
        pbx = self.pbx
        ep = out.name.split("/", 1)[1].rsplit("-", 1)[0]
        seq = pbx.next_seq()
        number = out.number
        context = "agents" if out.kind == "agent" else "customers"
        c = Channel(
            id=pbx.new_uid(), name=f"PJSIP/{ep}-{seq}", tech="PJSIP", state="Ring",
            context=context, exten=number, priority=1, creationtime=pbx.clock.iso(),
            linkedid="", protocol_id=str(uuid.uuid4()), endpoint=out.endpoint, number=number,
            kind=out.kind,
        )
        c.linkedid = c.id
        c.peer, out.peer = out, c
        pbx.channels[c.id] = c
        pbx.stats["channels_created"] += 1
        pbx.emit("ChannelCreated", channel=c)
        pbx.set_var(c, "SIPDOMAIN", "127.0.0.1")
        return c

    # ------------------------------------------------------------------ channel operations
    def answer(self, cid: str) -> None:
        c = self.pbx.stasis_channel(cid)
        if c.state != "Up":
            self.pbx.set_state(c, "Up")

    def ring(self, cid: str, on: bool) -> None:
        c = self.pbx.stasis_channel(cid)
        if on and c.state not in ("Up", "Ringing"):
            self.pbx.set_state(c, "Ringing")

    def silence(self, cid: str) -> None:
        """silence, mute, dtmf: checked like Asterisk, no effect (pbxsim has no audio)."""
        self.pbx.stasis_channel(cid)

    def redirect(self, cid: str, endpoint: str | None) -> None:
        c = self.pbx.stasis_channel(cid)
        if not endpoint:
            raise AriError(400, "Required parameter 'endpoint' not provided.")
        if c.tech == "Local" and endpoint.startswith("PJSIP/"):
            raise AriError(422, "Endpoint technology 'PJSIP' does not match channel technology 'Local'")
        # a Local channel ignores the redirect (notes 8: "Unsupported transfer requested")

    def calls_summary(self) -> list[dict[str, Any]]:
        """The control endpoint's GET /_pbxsim/calls."""
        out = []
        for c in self.pbx.channel_list():
            out.append({
                "id": c.id, "name": c.name, "state": c.state, "kind": c.kind,
                "number": c.number, "stasis_app": c.stasis_app,
                "bridge": c.bridge.id if c.bridge else None,
                "outcome": c.outcome or None,
            })
        return out

    # ------------------------------------------------------------------ variables
    def get_var(self, cid: str, name: str | None) -> str:
        if not name:
            raise AriError(400, "Variable name is required")
        c = self.pbx.get_channel(cid, message="Provided channel was not found")
        key = name
        if key.startswith("CALLERID(") or key.startswith("CHANNEL("):
            return func_value(c, key)
        if re.fullmatch(r"[A-Z_]+\(.*\)", key):
            raise AriError(500, "Unable to read provided function")
        for k in (key, "_" + key, "__" + key):
            if k in c.vars:
                return c.vars[k]
        raise AriError(404, "Provided variable was not found")

    def set_var(self, cid: str, name: str | None, value: str | None, report: bool) -> None:
        if not name:
            raise AriError(400, "Variable name is required")
        c = self.pbx.get_channel(cid)
        if c.stasis_app is None:
            raise AriError(409, "Channel not in Stasis application")
        if re.fullmatch(r"[A-Z_]+\(.*\)", name):
            if name.upper().startswith("CALLERID("):
                if name.upper().startswith("CALLERID(NAME"):
                    c.caller_name = value or ""
                elif name.upper().startswith("CALLERID(NUM"):
                    c.caller_number = value or ""
                self.pbx.emit("ChannelCallerId", channel=c, data=dict(PRESENTATION_ALLOWED))
            return
        if value is None:
            c.vars.pop(name, None)
            self.pbx.emit("ChannelVarset", channel=c, data={"variable": name, "value": ""})
        else:
            c.vars[name] = value
            # report_events is false unless given on each set (surprise 21)
            if report:
                if c.reported_vars is None:
                    c.reported_vars = {}
                c.reported_vars[name] = value
            self.pbx.emit("ChannelVarset", channel=c, data={"variable": name, "value": value})

    def set_vars(self, cid: str, variables: Any) -> None:
        c = self.pbx.get_channel(cid, message="Provided channel was not found")
        if c.stasis_app is None:
            raise AriError(409, "Channel not in Stasis application")
        if not isinstance(variables, dict):
            raise AriError(400, "Missing parameter variables")
        for k, v in variables.items():
            if isinstance(v, dict):
                self.set_var(cid, str(k), None if v.get("value") is None else str(v["value"]),
                             bool(v.get("report_events")))
            else:
                self.set_var(cid, str(k), str(v), False)

    def get_vars(self, cid: str, names: list[str]) -> dict[str, str]:
        if not names:
            raise AriError(400, "Variable names are required")
        return {n: self.get_var(cid, n) for n in names}


def kind_of(context: str, exten: str) -> str:
    """'customer', 'agent', 'transfer', 'entry' or 'other': who a Local channel to
    context,exten calls."""
    if context in AGENT_CONTEXTS:
        return "agent"
    if context == TESTLINES:
        return "customer" if re.fullmatch(r"\+?[0-9]{2,}", exten) else "agent"
    if context in CUSTOMER_CONTEXTS:
        return "customer"
    if context == TRANSFER:
        # a consulted or transferred-to number: not one of the campaign's customers
        return "transfer"
    if context == ENTRY:
        return "entry"
    return "other"


def func_value(c: Channel, key: str) -> str:
    """The dialplan functions a GET /variable can read."""
    if key.startswith("CALLERID(name"):
        return c.caller_name
    if key.startswith("CALLERID(num"):
        return c.caller_number
    if key == "CALLERID(all)":
        return f'"{c.caller_name}" <{c.caller_number}>' if c.caller_number else f'"{c.caller_name}"'

    if key == "CHANNEL(name)":
        return c.name
    if key == "CHANNEL(state)":
        return c.state
    raise AriError(500, "Unable to read provided function")
