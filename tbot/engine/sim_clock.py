"""The simulated clock: market time that runs `speed` times faster than real time.

A simulation starts at a chosen instant and advances with the process's monotonic clock
(never the wall clock, which can be stepped by NTP). Idle stretches such as nights and
weekends are skipped with `jump_to`, which only ever moves forward: a clock that went back
would replay minutes the ledgers already hold. A clock made `held` stands still until
`release()`: the engine holds its clock while it starts, so a simulation begins where it
was asked to whatever the start-up costs (at x3000, a second of start-up on a big ledger
was fifty market minutes gone, and with them the morning's windows).

The real clock is `tbot.clock.SystemClock`; `seconds_until` answers "how long do I sleep"
for either kind.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from tbot.clock import Clock, ensure_utc


class SimClock:
    """Aware UTC time starting at `start` and running `speed` times real time.

    `monotonic` is injectable so tests can move real time by hand. Safe to read from
    several threads while one of them jumps.
    """

    def __init__(
        self,
        start: datetime,
        speed: float,
        monotonic: Callable[[], float] = time.monotonic,
        *,
        held: bool = False,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"a simulated clock's speed must be above 0, not {speed!r}")
        self._speed = float(speed)
        self._monotonic = monotonic
        self._lock = threading.Lock()
        # Time is anchored at (simulated instant, real monotonic reading) and re-anchored
        # on each jump, so elapsed-time rounding never accumulates across jumps.
        self._anchor = ensure_utc(start)
        self._anchor_real = monotonic()
        self._held = held

    @property
    def held(self) -> bool:
        """True while the clock stands still (made `held`, not yet released)."""
        return self._held

    def release(self) -> None:
        """Let a held clock run from the instant it stands at (nothing for a running one)."""
        with self._lock:
            if self._held:
                self._anchor_real = self._monotonic()
                self._held = False

    @property
    def speed(self) -> float:
        """Simulated seconds per real second."""
        return self._speed

    def now(self) -> datetime:
        """The current simulated instant."""
        with self._lock:
            return self._now_locked()

    def jump_to(self, moment: datetime) -> None:
        """Skip forward to `moment` (e.g. over a night). Going back is a `ValueError`."""
        moment = ensure_utc(moment)
        with self._lock:
            current = self._now_locked()
            if moment < current:
                raise ValueError(
                    f"a simulated clock only moves forward: it is {current.isoformat()}, "
                    f"cannot jump back to {moment.isoformat()}"
                )
            self._anchor = moment
            self._anchor_real = self._monotonic()

    def real_seconds_until(self, moment: datetime) -> float:
        """Real seconds to wait until the simulation reaches `moment` (0 if it has)."""
        remaining = (ensure_utc(moment) - self.now()).total_seconds()
        return max(0.0, remaining / self._speed)

    def _now_locked(self) -> datetime:
        if self._held:
            return self._anchor
        elapsed = max(0.0, self._monotonic() - self._anchor_real)
        return self._anchor + timedelta(seconds=elapsed * self._speed)


def seconds_until(clock: Clock, moment: datetime) -> float:
    """Real seconds to wait until `clock` shows `moment` (0 if it already does).

    Works for any clock: a clock with a `real_seconds_until` (the `SimClock`) answers for
    itself; any other clock is taken to run at real speed.
    """
    own_answer = getattr(clock, "real_seconds_until", None)
    if callable(own_answer):
        return float(own_answer(moment))
    return max(0.0, (ensure_utc(moment) - clock.now()).total_seconds())
