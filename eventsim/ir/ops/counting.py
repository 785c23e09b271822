"""The records in which ops state their operation counts, and the patterns most ops share.

An op's spec returns :class:`Count` records for its node (see ``OpSpec.ann_counts`` and
``OpSpec.snn_counts``); :mod:`eventsim.measure.counts` collects them per node and the energy presets
price them. The terms (``mac``, ``sop``, ``weight_read``, ...) are defined in
:data:`eventsim.measure.counts.TERMS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Bytes of one stored value (weights, potentials, activations) when sizing memories.
WORD_BYTES = 4


@dataclass
class Count:
    """One term of one node's work.

    Attributes
    ----------
    term : str
        What is counted (a key of :data:`eventsim.measure.counts.TERMS`).
    per_sample : float
        Mean count per sample.
    per_step : numpy.ndarray or None
        Mean count per sample in each step t = 1..T (sums to ``per_sample``); None where only the
        total is known, and for the ANN.
    memory_bytes : int or None
        Size of the memory a memory term accesses (for size-dependent access costs).
    """

    term: str
    per_sample: float
    per_step: np.ndarray | None = None
    memory_bytes: int | None = None


@dataclass(frozen=True)
class SnnCountContext:
    """What an op needs to know about one simulated run to count its node's work.

    Attributes
    ----------
    in_shapes : list of tuple
        Shapes of the node's inputs.
    T : int
        Steps simulated.
    once_per_sample : bool
        The node's static part depends on the sample (it reads the direct-coded input), so it is
        computed once per sample, in step 1.
    events_per_step : numpy.ndarray or None
        For ops with ``synaptic_events`` whose input carries spikes: synaptic events per sample in
        each step, as the engines counted them.
    input_spikes : numpy.ndarray or None
        When the node's first input is a neuron layer: spikes per sample of each of its neurons
        over the run (a float array shaped like the input).
    graded : bool
        Whether the events reaching the node may carry several spikes at once (a burst of k as one
        event of k·θ): a synapse multiplies its weight by k, so each is a ``mac``, not a ``sop``.
    """

    in_shapes: list[tuple[int, ...]]
    T: int
    once_per_sample: bool
    events_per_step: np.ndarray | None = None
    input_spikes: np.ndarray | None = None
    graded: bool = False


def nbytes(shape: tuple[int, ...]) -> int:
    """Bytes of a memory holding one value per element of ``shape``."""
    return int(np.prod(shape)) * WORD_BYTES


def first_step(value: float, T: int) -> np.ndarray:
    """Per-step counts of work done once per sample, in step 1."""
    per_step = np.zeros(T)
    per_step[0] = value
    return per_step


def computed_once(
    ctx: SnnCountContext, term: str, products: int, weight_bytes: int | None, out_shape: tuple[int, ...]
) -> list[Count]:
    """Work on the direct-coded input, done once per sample in step 1: ``products`` of ``term``,
    a weight read per product (ops with weights), an activation read per product, an activation
    write per output."""
    once = first_step(products, ctx.T)
    rows = [Count(term, products, once)]
    if weight_bytes is not None:
        rows.append(Count("weight_read", products, once, weight_bytes))
    rows.append(Count("activation_read", products, once, nbytes(ctx.in_shapes[0])))
    out = int(np.prod(out_shape))
    rows.append(Count("activation_write", out, first_step(out, ctx.T), nbytes(out_shape)))
    return rows


def per_event(
    events_per_step: np.ndarray, weight_bytes: int | None, out_shape: tuple[int, ...], graded: bool = False
) -> list[Count]:
    """Synaptic events: one ``sop`` each (a ``mac`` for ``graded`` events, whose weight is multiplied
    by the number of spikes they carry), a weight read (ops with weights) and a read and a write of
    the target's accumulator."""
    total = float(events_per_step.sum())
    rows = [Count("mac" if graded else "sop", total, events_per_step)]
    if weight_bytes is not None:
        rows.append(Count("weight_read", total, events_per_step, weight_bytes))
    rows.append(Count("potential_read", total, events_per_step, nbytes(out_shape)))
    rows.append(Count("potential_write", total, events_per_step, nbytes(out_shape)))
    return rows


def ann_window(
    term: str,
    products: int,
    weight_bytes: int | None,
    in_shape: tuple[int, ...],
    out_shape: tuple[int, ...],
    bias_bytes: int | None = None,
) -> list[Count]:
    """An ANN conv/dense/pool: ``products`` of ``term`` (in-bounds only), a weight read (ops with
    weights) and an activation read per product, an activation write and (with a bias) a bias
    read per output."""
    out = int(np.prod(out_shape))
    rows = [Count(term, products)]
    if weight_bytes is not None:
        rows.append(Count("weight_read", products, memory_bytes=weight_bytes))
    rows.append(Count("activation_read", products, memory_bytes=nbytes(in_shape)))
    rows.append(Count("activation_write", out, memory_bytes=nbytes(out_shape)))
    if bias_bytes is not None:
        rows.append(Count("bias_read", out, memory_bytes=bias_bytes))
    return rows
