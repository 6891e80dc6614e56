"""The dialer's shared kernel: what every domain of the shell may use (task spawning,
the retrying ledger writer, wire ids). It imports no domain."""
