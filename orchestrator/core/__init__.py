"""The pure core: state machines and policies that take events plus ``now`` and return
commands. Nothing here awaits, reads a clock or touches a socket.

One package or module per domain, each with its own events and commands beside it:
``calls`` (an attempt's life apart from its conversation), ``agents`` (an agent's
states, their phone, who takes which call), ``campaigns``, ``preview``, ``pacing``,
``rules``, ``phones``, ``dialgate``. ``telephony`` is the channel vocabulary the call
and agent machines share; ``common`` the base classes, timers and mailboxes every
machine shares. ``events`` and ``commands`` gather every input and output in one
namespace for the shell.
"""
