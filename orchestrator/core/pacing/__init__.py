"""Dial pacing: how many new calls to place right now.

Pure policy objects (see :mod:`.protocol`): observations stamped with ``now``
in, :meth:`PacingPolicy.lines_to_dial` out; no clock, no sleep, no I/O.

* :class:`CampaignPacer` (:mod:`.predictive`) - ours (predictive,
  self-tuning, budget-aware); the abandon accounting it keeps to stay under
  the cap is :mod:`.budget`, the statistics it learns with :mod:`.stats`.
* :class:`ProgressivePolicy` - one line per available agent (:mod:`.simple`).
* :class:`PowerPolicy` - a fixed number of lines per available agent.

The benchmark's emulation of VICIdial's adaptive dial level lives with the
benchmark, in ``bench/pacing/vicidial.py``.
"""

from .predictive import CampaignPacer
from .protocol import OUTCOMES, FloorView, Observer, Outcome, PacerStats, PacingPolicy
from .simple import PowerPolicy, ProgressivePolicy

__all__ = [
    "OUTCOMES",
    "CampaignPacer",
    "FloorView",
    "Observer",
    "Outcome",
    "PacerStats",
    "PacingPolicy",
    "PowerPolicy",
    "ProgressivePolicy",
]
