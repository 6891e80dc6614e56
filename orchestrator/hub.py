"""The WebSocket event hub: pushes live events to agent desktops and supervisor screens.

`EventHub.publish` never blocks and never awaits: the dialer calls it from its event
handlers. Each connected client has a bounded queue; a client that cannot keep up is
disconnected (and can reconnect and re-read the state over REST) rather than slowing
down the dialer or growing memory without bound.

Filtering by role: an agent receives only events about itself (``agent_id`` equal
to its own) and events addressed to everyone; supervisors and admins receive every
event.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from orchestrator.core.access import Principal, Role

__all__ = ["EventHub", "HubClient"]


@dataclass(eq=False)
class HubClient:
    """One connected WebSocket."""

    principal: Principal
    queue: asyncio.Queue[dict[str, Any] | None]
    id: int
    dropped: bool = False
    topics: frozenset[str] = field(default_factory=frozenset)

    def wants(self, event: Mapping[str, Any]) -> bool:
        """Does this client get ``event``? (role filter, then optional topic filter)."""
        if self.topics and not any(str(event.get("type", "")).startswith(t) for t in self.topics):
            return False
        if self.principal.role.at_least(Role.SUPERVISOR):
            return True
        audience = event.get("audience", "owner")
        if audience == "all":
            return True
        if audience == "supervisors":
            return False
        return event.get("agent_id") == self.principal.agent_id


class EventHub:
    """Fan-out of events to WebSocket clients, filtered per role."""

    def __init__(self, *, queue_size: int = 1000) -> None:
        self._clients: dict[int, HubClient] = {}
        self._ids = itertools.count(1)
        self._queue_size = queue_size
        self.published = 0
        """Events published so far (for tests and metrics)."""

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def connect(self, principal: Principal, topics: frozenset[str] = frozenset()) -> HubClient:
        """Register a new client; read its events from ``client.queue`` (None: disconnect)."""
        client = HubClient(principal, asyncio.Queue(self._queue_size), next(self._ids),
                           topics=topics)
        self._clients[client.id] = client
        return client

    def disconnect(self, client: HubClient) -> None:
        self._clients.pop(client.id, None)

    def publish(
        self,
        type: str,
        data: Mapping[str, Any],
        *,
        agent_id: int | None = None,
        campaign_id: int | None = None,
        audience: str = "owner",
        at: datetime | None = None,
    ) -> None:
        """Queue an event for every client allowed to see it; never blocks.

        ``audience``: ``owner`` (the agent ``agent_id`` and supervisors), ``supervisors``
        (supervisors and admins only) or ``all`` (every logged-in client).
        """
        event = {
            "type": type,
            "at": (at or datetime.now(UTC)).isoformat(),
            "agent_id": agent_id,
            "campaign_id": campaign_id,
            "audience": audience,
            "data": dict(data),
        }
        self.published += 1
        for client in list(self._clients.values()):
            if client.dropped or not client.wants(event):
                continue
            try:
                client.queue.put_nowait(event)
            except asyncio.QueueFull:
                # A slow consumer is cut off instead of slowing the dialer down.
                client.dropped = True
                self.disconnect(client)
                self._close(client)

    def close_all(self) -> None:
        """Tell every client to disconnect (service shutdown)."""
        for client in list(self._clients.values()):
            self.disconnect(client)
            self._close(client)

    @staticmethod
    def _close(client: HubClient) -> None:
        # Make room for the close marker even when the queue is full.
        while True:
            try:
                client.queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                try:
                    client.queue.get_nowait()
                except asyncio.QueueEmpty:  # pragma: no cover - race-free in one loop
                    pass
