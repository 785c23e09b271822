"""The typed structures the kernels pass around for one sample (besides the program itself)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Workspace(NamedTuple):
    """Per-sample buffers: ``fbuf``/``ibuf`` the nodes' float and integer workspaces, ``ev_idx``/
    ``ev_val`` every node's event list of the current step (``ev_n`` events each), ``dirty`` whether a
    dense accumulator may hold non-zeros, ``out_acc``/``out_dyn`` the output accumulator and what
    spikes brought it in the current step."""

    fbuf: np.ndarray
    ibuf: np.ndarray
    ev_idx: np.ndarray
    ev_val: np.ndarray
    ev_n: np.ndarray
    dirty: np.ndarray
    out_acc: np.ndarray
    out_dyn: np.ndarray


class SampleRun(NamedTuple):
    """What one sample's run reads: the static parts the program needs (``static``), its coded input
    (``spikes_in``, (T, input size)), the phase table (layers, T) and the output weights (T,)."""

    static: np.ndarray
    spikes_in: np.ndarray
    phases: np.ndarray
    static_w: np.ndarray
    dynamic_w: np.ndarray


class SampleRecord(NamedTuple):
    """Where one sample's counts go: its own output (T, outputs), spikes per layer, first spikes and
    synaptic events per node; its thread's per-step sums and per-neuron counts; its raster (steps,
    neurons) when ``record_raster``."""

    outputs: np.ndarray
    spikes_sample: np.ndarray
    first_spike: np.ndarray
    sops_sample: np.ndarray
    spikes_step: np.ndarray
    sops_step: np.ndarray
    counts: np.ndarray
    raster: np.ndarray
    record_raster: bool
