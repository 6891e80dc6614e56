"""Callbacks, dialed (MISSION F): the scheduler that claims due callbacks and places them
with agents, and the service the HTTP API calls."""

from orchestrator.dialer.callbacks.rates import RateLimited, SlidingWindow
from orchestrator.dialer.callbacks.scheduler import CallbackScheduler, agent_first
from orchestrator.dialer.callbacks.service import CallbacksService

__all__ = ["CallbackScheduler", "CallbacksService", "RateLimited", "SlidingWindow", "agent_first"]
