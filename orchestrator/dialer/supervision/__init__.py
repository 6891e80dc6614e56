"""The supervision domain: a supervisor listens to, whispers into or barges into a live
call from their own phone, through ARI snoop channels and bridges."""

from orchestrator.dialer.supervision.commands import SnoopIntoBridge, SupervisionEnded
from orchestrator.dialer.supervision.events import SupervisionMode
from orchestrator.dialer.supervision.host import SupervisionHost
from orchestrator.dialer.supervision.machine import SupervisionMachine, SupervisionPhase
from orchestrator.dialer.supervision.sessions import Supervision, SupervisionSessions

__all__ = ["SnoopIntoBridge", "Supervision", "SupervisionEnded", "SupervisionHost",
           "SupervisionMachine", "SupervisionMode", "SupervisionPhase", "SupervisionSessions"]
