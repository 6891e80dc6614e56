"""Actors: one inbox and one task per state machine, so each machine sees its events
one at a time, in order, whatever source they come from (ARI workers of two channels,
timers, HTTP requests, other machines).

Posting never blocks and never awaits, so an ARI worker or a timer callback hands an
event over and returns at once. The actor's task (in the dialer's TaskGroup) feeds the
machine and awaits the execution of its commands (REST calls, ledger writes) before
taking the next event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from orchestrator.core.commands import Command
from orchestrator.core.events import Event

log = structlog.get_logger("orchestrator.dialer.actors")


@dataclass(slots=True)
class _Item:
    event: Event | None
    """The event to step; None with no commands: stop the actor."""
    reply: asyncio.Future[list[Command]] | None
    commands: list[Command] | None = None
    """Commands of an event already stepped by `step_now`, to execute in turn."""


Step = Callable[[Event], list[Command]]
"""Feed one event to the machine (pure, synchronous); returns its commands."""
Execute = Callable[[list[Command], "Actor"], Awaitable[None]]
"""Run commands for an actor (I/O)."""


class Actor:
    """Serialises one machine's events; see the module docstring."""

    def __init__(self, key: str, step: Step, execute: Execute, *, kind: str) -> None:
        self.key = key
        self.kind = kind
        self._step = step
        self._execute = execute
        self._inbox: asyncio.Queue[_Item] = asyncio.Queue()
        self.done = asyncio.Event()
        self.stopped = False
        self.context: dict[str, Any] = {}
        """Free slot for the shell (e.g. the campaign a call belongs to)."""

    def __repr__(self) -> str:
        return f"Actor({self.kind}:{self.key})"

    @property
    def backlog(self) -> int:
        return self._inbox.qsize()

    def post(self, event: Event) -> None:
        """Queue an event (never blocks)."""
        if self.stopped:
            log.debug("actor.post_after_stop", actor=self.kind, key=self.key,
                      event_type=type(event).__name__)
            return
        self._inbox.put_nowait(_Item(event, None))

    async def ask(self, event: Event) -> list[Command]:
        """Queue an event and wait until it is handled; re-raises the machine's refusal
        (e.g. a call-control request the state does not allow)."""
        if self.stopped:
            raise RuntimeError(f"{self.kind} {self.key} is no longer running")
        fut: asyncio.Future[list[Command]] = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait(_Item(event, fut))
        return await fut

    def step_now(self, event: Event) -> list[Command]:
        """Feed ``event`` to the machine at once (a decision that must not wait, e.g.
        reserving an agent so no other call takes it); its commands are executed in turn,
        after those already queued. Raises the machine's refusal."""
        if self.stopped:
            raise RuntimeError(f"{self.kind} {self.key} is no longer running")
        commands = self._step(event)
        self._inbox.put_nowait(_Item(None, None, commands))
        return commands

    def enqueue(self, commands: list[Command]) -> None:
        """Execute commands computed outside the inbox (e.g. a machine's start), in turn."""
        self._inbox.put_nowait(_Item(None, None, list(commands)))

    def stop(self) -> None:
        """Finish what is queued, then end the task."""
        self._inbox.put_nowait(_Item(None, None))

    async def run(self, first: list[Command] | None = None) -> None:
        """The actor's task: execute ``first`` (e.g. a machine's start), then the inbox."""
        try:
            if first:
                await self._execute(first, self)
            while True:
                item = await self._inbox.get()
                if item.commands is not None:
                    try:
                        await self._execute(item.commands, self)
                    except Exception:
                        log.exception("actor.execute_failed", actor=self.kind, key=self.key)
                    continue
                if item.event is None:
                    return
                try:
                    commands = self._step(item.event)
                except Exception as exc:
                    if item.reply is not None and not item.reply.done():
                        item.reply.set_exception(exc)
                    else:
                        log.warning("actor.event_refused", actor=self.kind, key=self.key,
                                    event_type=type(item.event).__name__, error=str(exc))
                    continue
                try:
                    await self._execute(commands, self)
                except Exception as exc:  # the executor logs; keep the actor alive
                    log.exception("actor.execute_failed", actor=self.kind, key=self.key)
                    if item.reply is not None and not item.reply.done():
                        item.reply.set_exception(exc)
                        continue
                if item.reply is not None and not item.reply.done():
                    item.reply.set_result(commands)
        finally:
            self.stopped = True
            # Anyone still waiting on an answer gets one.
            while not self._inbox.empty():
                item = self._inbox.get_nowait()
                if item.reply is not None and not item.reply.done():
                    item.reply.set_exception(RuntimeError(f"{self.kind} {self.key} stopped"))
            self.done.set()
