"""Preview: one agent looking at one target before deciding (MISSION A.1-2).

* ``session``: :class:`PreviewSession`, the preview window's life and its actions.
* ``events`` / ``commands``: the agent's actions in, what becomes of the target out.
"""

from orchestrator.core.preview.session import (
    PreviewAction,
    PreviewActionRefused,
    PreviewSession,
    PreviewState,
    PreviewTarget,
    local_callback_time,
)

__all__ = [
    "local_callback_time",
    "PreviewAction",
    "PreviewActionRefused",
    "PreviewSession",
    "PreviewState",
    "PreviewTarget",
]
