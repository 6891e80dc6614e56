"""Recovery: reconcile after (re)connect, adoption, the channel sweep, the heartbeat."""

from orchestrator.dialer.recovery.heartbeat import Heartbeat
from orchestrator.dialer.recovery.host import RecoveryHost
from orchestrator.dialer.recovery.reconcile import Reconciler
from orchestrator.dialer.recovery.sweep import ChannelSweep

__all__ = ["ChannelSweep", "Heartbeat", "Reconciler", "RecoveryHost"]
