"""What AMI saw of channels the ARI app could not see end.

A channel originated into the dialplan (AMD) is invisible to a narrowly subscribed app
until it runs Stasis(); the dialer subscribes to it explicitly right after the originate,
but a call that fails within those milliseconds (a local congestion, an instant busy) is
gone before the subscription: ARI will never tell its cause. AMI does (narrow surprise
26: ``Hangup`` of ``;1`` with cause 0, of ``;2`` with the real 17 / 34 / 19). This keeps
the last few thousand Hangup events by unique id so the executor can ask.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict

from orchestrator.ami import AmiEvent, Hangup

#: Hangups remembered (a few seconds of a busy PBX).
KEEP = 5000


class HangupWitness:
    """An AMI handler remembering Hangup causes by unique id."""

    def __init__(self, keep: int = KEEP) -> None:
        self._keep = keep
        self._seen: OrderedDict[str, tuple[int, str]] = OrderedDict()
        self._changed = asyncio.Condition()

    async def __call__(self, event: AmiEvent) -> None:
        if not isinstance(event, Hangup) or not event.uniqueid:
            return
        self._seen[event.uniqueid] = (event.cause, event.cause_txt)
        while len(self._seen) > self._keep:
            self._seen.popitem(last=False)
        async with self._changed:
            self._changed.notify_all()

    def cause_now(self, channel_id: str) -> tuple[int, str] | None:
        """The cause of channel ``channel_id`` (its ``;2`` half's when its own is 0)."""
        own = self._seen.get(channel_id)
        half = self._seen.get(channel_id + ";2")
        if own is not None and own[0] != 0:
            return own
        if half is not None and half[0] != 0:
            return half
        return own or half

    async def cause_of(self, channel_id: str, within: float) -> tuple[int, str] | None:
        """Wait up to ``within`` seconds for AMI to report the channel's hangup."""
        found = self.cause_now(channel_id)
        if found is not None and found[0] != 0:
            return found
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within), self._changed:
                while True:
                    found = self.cause_now(channel_id)
                    # Both halves, or a cause that says something: no need to wait longer.
                    if found is not None and (found[0] != 0 or channel_id + ";2" in self._seen):
                        return found
                    await self._changed.wait()
        return self.cause_now(channel_id)
