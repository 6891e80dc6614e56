"""Telephony: the ARI half of the shell. Wire events in (the channel directory and its
handlers), ARI requests out (`Telephony`), and what Asterisk's refusals and AMI's Hangup
events tell us (`DialGuard`, `HangupWitness`)."""

from orchestrator.dialer.telephony.ari_commands import Telephony
from orchestrator.dialer.telephony.channels import AriChannelHandlers, ChannelDirectory
from orchestrator.dialer.telephony.dial_guard import DialGuard
from orchestrator.dialer.telephony.hangup_witness import HangupWitness
from orchestrator.dialer.telephony.host import TelephonyHost

__all__ = ["AriChannelHandlers", "ChannelDirectory", "DialGuard", "HangupWitness", "Telephony",
           "TelephonyHost"]
