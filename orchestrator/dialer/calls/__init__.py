"""The calls domain: the registry of this process's live attempts and their ledger records."""

from orchestrator.dialer.calls.host import CallsHost
from orchestrator.dialer.calls.records import CallRecords
from orchestrator.dialer.calls.registry import CallEntry, CallRegistry

__all__ = ["CallEntry", "CallRecords", "CallRegistry", "CallsHost"]
