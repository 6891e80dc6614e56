"""The abandon budget: how high an abandon rate the next answered calls may have.

Abandon accounting (MISSION B): an *answered call* is a human pickup (live
answer) or, when AMD is on, a pickup AMD classed as a machine. An *abandon* is
a live answer not connected to an agent within the grace (2 s), plus every AMD
false positive (a human AMD hung up on). Abandon rate = abandons / answered
calls, over a rolling 24 h window (UK Ofcom) and a rolling 30-day window (US
FTC). AMD false positives are unobservable, so the pacer books a reasoned
estimate of them as Ofcom requires (see ``CampaignPacer.observe_outcome``).

The budget keeps both windows, the current session (the shift) and a look at
how the 24 h window will change as its oldest calls leave it, and turns them
into the abandon rate the pacer may aim at.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from .stats import Window

DAY = 86_400.0
MONTH = 30 * DAY


class AbandonBudget:
    """Answered calls and abandons of one campaign, and the rate still allowed."""

    #: safety margin under the cap, in standard errors of the window's rate
    MARGIN_SE = 1.0
    #: an idle stretch this long (s) starts a new session (a new shift)
    SESSION_GAP = 3600.0
    #: how far ahead (s) the 24 h window is checked as its oldest calls leave it
    LOOKAHEAD = (1800.0, 3600.0, 7200.0, 14400.0, 28800.0)

    def __init__(self, cap: float) -> None:
        self.cap = cap
        self.w24 = Window(DAY, 60.0)
        self.w30 = Window(MONTH, 3600.0)
        # humans handed on by AMD in the 24 h window (answered = humans): the live share
        # of answered calls must be measured over the same window as the budget
        self.h24 = Window(DAY, 60.0)
        # The current session: answered calls and abandons since the campaign last
        # dialed after an idle stretch (overnight). Yesterday's calls leave the 24 h
        # window during today's shift, so room they leave must not be spent today.
        self.session_answered = 0.0
        self.session_abandoned = 0.0
        self.session_last = -math.inf
        self._ahead: list[tuple[float, float, float]] = []
        self._ahead_at = -math.inf

    # ---------------------------------------------------------------- booking

    def book(self, now: float, answered: float, abandoned: float) -> None:
        """Count answered calls and abandons in the session and both windows."""
        self._end_idle_session(now)
        self.session_last = now
        self.session_answered += answered
        self.session_abandoned += abandoned
        self.w24.add(now, answered, abandoned)
        self.w30.add(now, answered, abandoned)

    def note_human(self, now: float) -> None:
        """A human handed on (the numerator of the live share)."""
        self.h24.add(now, 1.0, 0.0)

    def roll(self, now: float) -> bool:
        """Bring the windows, the session and the lookahead up to ``now``.

        True if anything the allowed rate depends on may have moved.
        """
        moved = False
        if now - self._ahead_at >= 60.0:
            self._refresh_ahead(now)
            moved = True
        if self._end_idle_session(now):
            moved = True
        self.h24.roll(now)
        if self.w24.roll(now) | self.w30.roll(now):
            moved = True
        return moved

    def _end_idle_session(self, now: float) -> bool:
        """After an idle stretch (overnight) the next call opens a new session."""
        if now - self.session_last >= self.SESSION_GAP and (
            self.session_answered or self.session_abandoned
        ):
            self.session_answered = self.session_abandoned = 0.0
            return True
        return False

    # ----------------------------------------------------------- allowed rate

    def allowed_rate(self, answer_gap: float) -> float:
        """Abandon rate allowed for the next answered calls (false positives included).

        ``answer_gap`` is the current mean time (s) between answers: it says how
        many answers the coming hours will add to the 24 h window.
        """
        # The session's own count too: at shift start the 24 h window still holds
        # yesterday's calls, and they drop out as today's come in, so room they
        # leave would be gone by the end of the shift (today alone over the cap).
        return min(
            self._window_target(self.w24.answered, self.w24.abandoned),
            self._window_target(self.w30.answered, self.w30.abandoned),
            self._window_target(self.session_answered, self.session_abandoned),
            self._lookahead_target(answer_gap),
            # never aim above the cap: room banked earlier in the day, spent at a
            # higher rate late, would put a 24 h window that starts mid-shift over
            self.cap,
        )

    def live_share(self) -> float:
        """Humans handed on per answered call (answered includes AMD machines)."""
        w = self.w24
        humans = max(self.h24.answered, 1.0)
        return min(1.0, humans / w.answered) if w.answered > 0 else 0.5

    def drops_left(self, window: Window) -> float:
        """Abandons still allowed in ``window`` before the cap is reached."""
        return max(0.0, self.cap * window.answered - window.abandoned)

    def _window_target(self, n: float, abandoned: float) -> float:
        """Abandon rate allowed for the next answers so a window holding ``n``
        answered calls and ``abandoned`` abandons ends under the cap."""
        horizon = max(200.0, 0.5 * n)
        # The margin is that of the window this target fills (n + horizon answers), not of
        # the window so far: at a shift's start (n = 0) the latter left under 1 % to spend.
        safe = self._safe_rate(n + horizon)
        return (safe * (n + horizon) - abandoned) / horizon

    def _safe_rate(self, n: float) -> float:
        """The cap less a small-sample margin for a window of ``n`` answered calls: a
        fraction of the standard error of a rate at the cap (the feedback on the
        window's own count does the rest)."""
        return self.cap - self.MARGIN_SE * math.sqrt(self.cap * (1.0 - self.cap) / max(n, 60.0))

    def _lookahead_target(self, answer_gap: float) -> float:
        """The 24 h window as it will be in the coming hours.

        Calls leave the rolling window oldest first, so the window of a few hours
        from now keeps only the newer part of today's (and yesterday's) calls plus
        what is dialed meanwhile. Each such future window must end under the cap
        too; the answers still to come are estimated from the current pace.
        """
        per_s = 1.0 / max(answer_gap, 0.5)
        w = self.w24
        out = math.inf
        for h, n_old, a_old in self._ahead:
            n_keep = max(0.0, w.answered - n_old)
            a_keep = max(0.0, w.abandoned - a_old)
            future = max(per_s * h, 50.0)
            n = n_keep + future
            out = min(out, (self._safe_rate(n) * n - a_keep) / future)
        return out

    def _refresh_ahead(self, now: float) -> None:
        """Per lookahead horizon: what of the 24 h window will have left by then."""
        self._ahead_at = now
        buckets = self.w24.buckets
        size = self.w24.bucket
        ahead = []
        i = 0
        n_old = a_old = 0.0
        for h in self.LOOKAHEAD:
            cutoff = math.floor((now + h - DAY) / size)
            while i < len(buckets) and buckets[i][0] <= cutoff:
                n_old += buckets[i][1]
                a_old += buckets[i][2]
                i += 1
            ahead.append((h, n_old, a_old))
        self._ahead = ahead

    # ------------------------------------------------------------ persistence

    def snapshot(self) -> dict[str, Any]:
        """The windows and the session, for the pacer's snapshot."""
        return {
            "w24": [list(b) for b in self.w24.buckets],
            "w30": [list(b) for b in self.w30.buckets],
            "h24": [list(b) for b in self.h24.buckets],
            # -inf is not JSON (PostgreSQL's jsonb refuses "-Infinity")
            "session": [
                self.session_answered,
                self.session_abandoned,
                self.session_last if self.session_last > -math.inf else None,
            ],
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Load what :meth:`snapshot` saved; a missing or malformed field raises
        KeyError, IndexError or TypeError (the pacer names them)."""
        # "h24" came later: a snapshot without it starts the count empty
        windows = (("w24", self.w24), ("w30", self.w30), ("h24", self.h24))
        for key, win in windows:
            rows = state.get(key, []) if key == "h24" else state[key]
            win.buckets = deque([float(b[0]), float(b[1]), float(b[2])] for b in rows)
            win.answered = sum(b[1] for b in win.buckets)
            win.abandoned = sum(b[2] for b in win.buckets)
        # "session" came later: without it, the session is rebuilt from the 24 h
        # window (the safe side)
        if "session" in state:
            sa, sd, sl = state["session"]
            self.session_answered, self.session_abandoned = float(sa), float(sd)
            self.session_last = float(sl) if sl is not None else -math.inf
        else:
            self.session_answered = self.w24.answered
            self.session_abandoned = self.w24.abandoned
            buckets = self.w24.buckets
            self.session_last = buckets[-1][0] * self.w24.bucket if buckets else -math.inf
