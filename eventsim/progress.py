"""Progress of long runs, with an estimate of the time left: one helper for every stage.

A long run (calibration layer by layer, a comparison preset by preset and T by T, training epoch by
epoch) counts its items with a :class:`Tracker`, which calls the caller's ``progress`` callback with a
:class:`ProgressLine`: a ``str`` (the line to show, so callbacks that print or keep text work as
before) that also carries the task, the items done and in all, the fraction of the work done, the
seconds elapsed and the estimated seconds left. The estimate is the elapsed time scaled by the work
left over the work done since the tracker started, items weighted by their expected cost (a layer by
its neurons, a simulation by its T). The library never prints: the command line renders the lines on
stderr (``--quiet`` silences them).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

#: What a progress callback receives (a :class:`ProgressLine`, which is a ``str``).
Progress = Callable[[str], None] | None


def remaining_seconds(elapsed: float, done: float, total: float, start: float = 0.0) -> float | None:
    """Seconds left when ``done`` of ``total`` units of work took ``elapsed`` seconds since ``start``
    units were done: the same rate for the rest; None before any work was timed."""
    if done >= total:
        return 0.0
    if done <= start or elapsed <= 0:
        return None
    return elapsed * (total - done) / (done - start)


def duration(seconds: float | None) -> str:
    """``"4 s"``, ``"2 min 05 s"``, ``"1 h 03 min"``; ``"?"`` for None."""
    if seconds is None:
        return "?"
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class ProgressLine(str):
    """A progress line: the text to show, with the numbers it was made of as attributes.

    Attributes
    ----------
    task : str
        What runs (``"FTBC"``, ``"compare"``, ``"training"``).
    text : str
        What was just done (``"batch 1/3, layer conv1"``).
    done, total : int
        Items done and in all (layers, runs, batches).
    fraction : float
        Of the work done, in [0, 1] (items weighted by their cost).
    elapsed : float
        Seconds since the task started.
    remaining : float or None
        Estimated seconds left (None before the first item).
    result : bool
        The line reports a result (an epoch's loss, a candidate's score, an accuracy), not only how
        far the task is: a renderer that thins out frequent lines keeps it.
    """

    task: str
    text: str
    done: int
    total: int
    fraction: float
    elapsed: float
    remaining: float | None
    result: bool

    def __new__(cls, task, text, done, total, fraction, elapsed, remaining, result=False):
        left = "done" if done >= total else f"about {duration(remaining)} left"
        line = super().__new__(cls, f"{task} {done}/{total} ({fraction:.0%}): {text} [{duration(elapsed)}, {left}]")
        line.task, line.text, line.done, line.total = task, text, done, total
        line.fraction, line.elapsed, line.remaining, line.result = fraction, elapsed, remaining, result
        return line


class Tracker:
    """Counts the items of one task and tells ``callback`` after each (nothing without a callback).

    Parameters
    ----------
    callback : callable or None
        Receives a :class:`ProgressLine` per :meth:`step` and :meth:`note`.
    task : str
        The task's name, at the start of each line.
    weights : int or sequence of float
        The number of items (all of equal cost), or each item's expected cost in order.
    done : int
        Items already done when the tracker starts (a resumed run): the estimate counts only the
        work timed here.
    clock : callable
        Seconds (:func:`time.perf_counter`; tests pass their own).
    """

    def __init__(
        self,
        callback: Progress,
        task: str,
        weights: int | Sequence[float],
        done: int = 0,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.callback, self.task, self.clock = callback, task, clock
        self.weights = [1.0] * int(weights) if isinstance(weights, int) else [float(w) for w in weights]
        self.done = int(done)
        self.first = self._work(self.done)
        self.started = clock()

    @property
    def total(self) -> int:
        return len(self.weights)

    def _work(self, items: int) -> float:
        return float(sum(self.weights[:items]))

    def resize(self, weights: int | Sequence[float]) -> None:
        """The items left change (a search that prunes its later stages): ``weights`` of all items,
        the done ones included."""
        self.weights = [1.0] * int(weights) if isinstance(weights, int) else [float(w) for w in weights]
        self.done = min(self.done, self.total)

    def step(self, text: str, items: int = 1, result: bool = False) -> ProgressLine | None:
        """``items`` more are done; tell the callback with ``text`` (``result``: it reports one)."""
        self.done = min(self.total, self.done + items)
        return self.note(text, result)

    def advance(self, items: int = 1) -> None:
        """Count ``items`` more as done without telling the callback."""
        self.done = min(self.total, self.done + items)

    def reach(self, items: int) -> None:
        """Count the items up to ``items`` as done (never backwards) without telling the callback."""
        self.done = max(self.done, min(self.total, int(items)))

    def note(self, text: str, result: bool = False) -> ProgressLine | None:
        """Tell the callback ``text`` at the current count (something started, or a count already
        made with :meth:`advance`); ``result``: the line reports a result."""
        if self.callback is None:
            return None
        elapsed = self.clock() - self.started
        work, total = self._work(self.done), self._work(self.total)
        fraction = work / total if total > 0 else 1.0
        left = remaining_seconds(elapsed, work, total, self.first)
        line = ProgressLine(self.task, text, self.done, self.total, fraction, elapsed, left, result)
        self.callback(line)
        return line


def sample_progress(progress: Progress, task: str, samples: int) -> Callable[[int, int], None] | None:
    """A :func:`eventsim.simulate` ``progress(done, total)`` callback that tells ``progress`` the
    samples done and the time left, as a task of ``samples`` items; None without ``progress``."""
    if progress is None:
        return None
    tracker = Tracker(progress, task, samples)

    def done(count: int, total: int) -> None:
        tracker.reach(count)
        tracker.note(f"{count}/{total} samples")

    return done
