"""Latency read from a recording: when each sample's decision is made.

A sample has *decided* at step t when its output ``o(t)`` has a unique largest entry
(:meth:`eventsim.Recording.decided`); before any input reaches the output (all entries equal, e.g.
all zero) or while the top entries are tied it is *undecided* — never counted as a vote for class 0.

Per sample: the *time to decision*, the first step t from which the sample is decided and its
prediction ``argmax o(t)`` never changes again up to T (T + 1 if it is undecided at T: it never
decided); the first step at which the prediction equals the ANN's (and stays equal, as a second
measure); each layer's first spike; and the wall-clock seconds per sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..simulation.recording import Recording


@dataclass
class Latency:
    """Per-sample latencies in steps (1-based; T + 1 where never reached) and their summaries.

    Attributes
    ----------
    decision : numpy.ndarray
        First t from which the sample is decided and its prediction never changes up to T; T + 1
        for a sample undecided at T (it never decided), (N,).
    first_ann_match : numpy.ndarray or None
        First t at which the (decided) prediction equals the ANN's, (N,).
    stable_ann_match : numpy.ndarray or None
        First t from which the (decided) prediction equals the ANN's up to T, (N,).
    correct_decision : numpy.ndarray or None
        Whether the final decision is correct (with labels; an undecided sample is not), (N,).
    seconds_per_sample : float
        Wall-clock time of the simulation divided by the samples.
    first_spike : numpy.ndarray or None
        Step of each neuron layer's first spike per sample (N, L); T + 1 if it never fired.
    undecided_per_step : numpy.ndarray or None
        Samples undecided at each step t = 1..T, (T,).
    """

    decision: np.ndarray
    first_ann_match: np.ndarray | None
    stable_ann_match: np.ndarray | None
    correct_decision: np.ndarray | None
    seconds_per_sample: float
    T: int
    first_spike: np.ndarray | None = None
    layers: tuple[str, ...] = ()
    undecided_per_step: np.ndarray | None = None

    @property
    def never_decided(self) -> int:
        """Samples still undecided at T."""
        return int(np.count_nonzero(self.decision > self.T))

    def summary(self) -> dict:
        """Means, medians and the histogram of decision times, JSON-friendly.

        ``decision_mean`` and ``decision_median`` are over the samples that decided (None if none
        did); ``decision_histogram`` counts them per step 1..T; ``never_decided`` counts the others
        and ``undecided_per_step`` the samples undecided at each step.
        """
        decided = self.decision[self.decision <= self.T]
        out = {
            "T": self.T,
            "samples": int(self.decision.size),
            "decision_mean": float(decided.mean()) if decided.size else None,
            "decision_median": float(np.median(decided)) if decided.size else None,
            "decision_histogram": np.bincount(decided, minlength=self.T + 1)[1:].tolist(),
            "never_decided": self.never_decided,
            "seconds_per_sample": self.seconds_per_sample,
        }
        if self.undecided_per_step is not None:
            out["undecided_per_step"] = [int(v) for v in self.undecided_per_step]
        if self.first_ann_match is not None:
            reached = self.first_ann_match <= self.T
            out["first_ann_match_mean"] = float(self.first_ann_match[reached].mean()) if reached.any() else None
            out["never_matched_ann"] = int((~reached).sum())
            out["stable_ann_match_mean"] = (
                float(self.stable_ann_match[self.stable_ann_match <= self.T].mean())
                if (self.stable_ann_match <= self.T).any()
                else None
            )
        if self.first_spike is not None and self.first_spike.size:
            out["first_spike_mean"] = {name: float(self.first_spike[:, k].mean()) for k, name in enumerate(self.layers)}
        if self.correct_decision is not None:
            out["final_accuracy"] = float(self.correct_decision.mean())
        return out


def _stable_from(same: np.ndarray) -> np.ndarray:
    """For a bool array (N, T): the first 1-based t from which it is True up to T (T + 1 if never)."""
    n, T = same.shape
    # position of the last False, counted from the end
    last_false = np.where(~same, np.arange(1, T + 1)[None, :], 0).max(axis=1, initial=0)
    return last_false + 1


def latency(
    recording: Recording, labels: np.ndarray | None = None, ann_predictions: np.ndarray | None = None
) -> Latency:
    """Per-sample latencies of ``recording`` (see :class:`Latency`)."""
    decided = recording.decided()
    pred = recording.predictions()  # UNDECIDED (-1) where not decided: never equal to a class
    n, T = pred.shape
    decision = _stable_from(decided & (pred == pred[:, -1:]))
    first = stable = None
    if ann_predictions is not None:
        ann = np.asarray(ann_predictions).reshape(n, 1)
        match = pred == ann
        first = np.where(match.any(axis=1), np.argmax(match, axis=1) + 1, T + 1)
        stable = _stable_from(match)
    correct = None if labels is None else pred[:, -1] == np.asarray(labels)
    return Latency(
        decision,
        first,
        stable,
        correct,
        recording.wall_seconds / max(n, 1),
        T,
        recording.first_spike,
        tuple(recording.layers),
        (~decided).sum(axis=0),
    )
