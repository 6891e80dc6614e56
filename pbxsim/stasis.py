"""Stasis: the registered apps, channels entering and leaving them, user events.

Who hears what (narrow surprises 25-34): an app hears the channels it created or
subscribed to and any channel while it is in Stasis with it (`subscribers_of`);
StasisStart and StasisEnd go to the app the channel enters or leaves only. The WebSocket
side (ari.py) registers and unregisters the apps.
"""

from __future__ import annotations

from typing import Any

from pbxsim.bridges import Bridges
from pbxsim.model import AriError, Channel
from pbxsim.state import PbxState


class Stasis:
    """/applications, /events/user, and the Stasis() of every channel."""

    def __init__(self, pbx: PbxState, bridges: Bridges) -> None:
        self.pbx = pbx
        self.bridges = bridges

    # ------------------------------------------------------------------ apps
    def register_app(self, app: str, subscribe_all: bool) -> None:
        self.pbx.apps[app] = subscribe_all
        self.pbx.inactive_apps.discard(app)

    def unregister_app(self, app: str) -> None:
        narrow = not self.pbx.apps.get(app, True)
        if narrow and any(app in c.subscribers or c.stasis_app == app
                          for c in self.pbx.channel_list()):
            # kept "inactive" while it has subscriptions (narrow surprise 33)
            self.pbx.inactive_apps.add(app)
            return
        self.pbx.apps.pop(app, None)
        self.pbx.inactive_apps.discard(app)

    def app_json(self, app: str) -> dict[str, Any]:
        if app not in self.pbx.apps:
            raise AriError(404, "Application not found")
        if self.pbx.apps[app]:
            # subscribeAll: subscribed to every topic
            return {
                "name": app,
                "channel_ids": ["__AST_CHANNEL_ALL_TOPIC"],
                "bridge_ids": ["__AST_BRIDGE_ALL_TOPIC"],
                "endpoint_ids": ["__AST_ENDPOINT_ALL_TOPIC"],
                "device_names": ["__AST_DEVICE_STATE_ALL_TOPIC"],
                "events_allowed": [],
                "events_disallowed": [],
            }
        return {
            "name": app,
            "channel_ids": [c.id for c in self.pbx.channel_list()
                            if app in c.subscribers or c.stasis_app == app],
            "bridge_ids": [b.id for b in self.pbx.bridges.values() if app in b.subscribers],
            "endpoint_ids": [],
            "device_names": [],
            "events_allowed": [],
            "events_disallowed": [],
        }

    def user_event(self, name: str, application: str | None, source: list[str],
                   variables: dict[str, Any]) -> None:
        if not application:
            raise AriError(400, "Missing parameter application")
        if application not in self.pbx.apps:
            raise AriError(404, "Application not found")
        chan: Channel | None = None
        for s in source:
            kind, _, sid = s.partition(":")
            if kind == "channel":
                chan = self.pbx.channels.get(sid)
                if chan is None:
                    raise AriError(422, "Channel not found")
        ue = {k: str(v) for k, v in variables.items()}
        self.pbx.emit("ChannelUserevent", channel=chan,
                      data={"eventname": name, "userevent": ue, "application": application},
                      targets=frozenset([application]), to_all=False, ami=chan is not None)

    # ------------------------------------------------------------------ in and out of Stasis
    async def enter(self, c: Channel, app: str, args: list[str], wait: bool = True,
                    moved: bool = False) -> None:
        """Stasis(app, args): StasisStart, then (`wait`) stay until the channel leaves."""
        if not moved:
            self.pbx.set_var(c, "STASISSTATUS", "")
        if app not in self.pbx.apps or app in self.pbx.inactive_apps:
            # no WebSocket for the app: the call is dropped (surprise 14; narrow 33)
            self.pbx.set_var(c, "STASISSTATUS", "FAILED")
            c.hangupcause = 0
            c.hangup_requested = True
            return
        c.stasis_app = app
        c.stasis_args = list(args)
        # Stasis() subscribes the app for as long as the channel stays in it (res_stasis
        # subscribe/unsubscribe around the app): see subscribers_of. StasisStart goes to
        # that app only, never to other apps, subscribeAll or not (an observer app sees
        # the channel go Up but no StasisStart on a real Asterisk).
        self.pbx.emit("StasisStart", channel=c, data={"args": list(args)},
                      targets=frozenset({app}), to_all=False)
        if wait:
            await self.stay(c)

    async def stay(self, c: Channel) -> None:
        """Until the channel is hung up or leaves (/continue); /move re-enters at once."""
        while c.stasis_app is not None and not c.hangup_requested:
            if c.leave_stasis_to is not None:
                self.leave(c)
                return
            if c.move_to is not None:
                app, args = c.move_to
                c.move_to = None
                self.leave(c)
                await self.enter(c, app, args, wait=False, moved=True)
                continue
            await self.pbx.wait(c, None)

    def _stasis_end(self, c: Channel) -> None:
        """StasisEnd, to the app the channel leaves only (as StasisStart)."""
        app = c.stasis_app
        self.pbx.emit("StasisEnd", channel=c,
                      targets=frozenset({app}) if app else None, to_all=app is None)

    def end_hung_up(self, c: Channel) -> None:
        """The channel is hung up while in Stasis: StasisEnd, then Stasis() returns."""
        c.hung_in_stasis = True
        self._stasis_end(c)
        c.stasis_app = None
        self.pbx.set_var(c, "STASISSTATUS", "SUCCESS")

    def leave(self, c: Channel) -> None:
        if c.stasis_app is None:
            return
        if c.bridge is not None:
            self.bridges.leave(c)
        self._stasis_end(c)
        c.stasis_app = None
        if c.pbx_thread:
            # the Stasis() dialplan app returns and sets its status
            self.pbx.set_var(c, "STASISSTATUS", "SUCCESS")
        else:
            # entered by originate: the status is only set when the channel ends
            # (continue_and_redirect trace)
            c.stasis_status_pending = True

    # ------------------------------------------------------------------ REST: leave the app
    def continue_(self, cid: str, context: str | None, extension: str | None,
                  priority: int | None) -> None:
        c = self.pbx.stasis_channel(cid)
        ctx = context or c.context
        exten = extension or c.exten
        prio = priority if priority else (1 if (context or extension) else c.priority + 1)
        c.leave_stasis_to = (ctx, exten, prio)
        c.poke()

    def move(self, cid: str, app: str, args: list[str]) -> None:
        c = self.pbx.stasis_channel(cid)
        if app not in self.pbx.apps:
            self.pbx.emit("ApplicationMoveFailed", channel=c,
                          data={"destination": app, "args": args})
            return
        c.move_to = (app, args)
        c.poke()
