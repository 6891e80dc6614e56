"""Telling people: AMI UserEvents for supervisors' tools (the event hub and screen pops
join here as they move out of the dialer bundle)."""
