"""Neuron kinds: their rules against closed forms and identities, their schedules, readouts, and the
event engine's table of compiled rules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from eventsim.simulation.event.kernels import neuron, sample
from eventsim.simulation.event.kinds import RULES, kind_code, update
from eventsim.simulation.layer import kernels as layer_kernels
from eventsim.snn.kinds import (
    FIRE,
    IDLE,
    INTEGRATE,
    INTEGRATE_AND_FIRE,
    KINDS,
    RESETS,
    bistable_phase,
    get_kind,
    if_rule,
)
from eventsim.snn.kinds.base import NeuronLayer


def test_phase_schedule():
    """Stage s: idle before cycle s − 1, then integrate / fire in alternate cycles, s − 1 first."""
    t = np.arange(24)
    assert bistable_phase(t, 4, 1).tolist() == ([INTEGRATE] * 4 + [FIRE] * 4) * 3
    assert bistable_phase(t, 2, 3).tolist()[:8] == [IDLE] * 4 + [INTEGRATE] * 2 + [FIRE] * 2
    for stage in range(1, 5):  # a layer integrates exactly while the one before it fires
        before, after = bistable_phase(t, 3, stage), bistable_phase(t, 3, stage + 1)
        assert np.all((before == FIRE) == (after == INTEGRATE))


@settings(max_examples=40)
@given(z=st.lists(st.integers(-16, 24), min_size=1, max_size=40), theta=st.integers(1, 16), start=st.integers(0, 15))
def test_telescoping_identity(z, theta, start):
    """θ Σ s(t) = Σ z(t) + v(0) − v(T) for any input sequence (reset by subtraction, no leak)."""
    theta = np.float32(theta / 4)
    v = np.float32(start / 16) * theta
    v_start, fired = v, 0
    for value in z:
        v, spike = if_rule(v, np.float32(value / 8), theta, INTEGRATE_AND_FIRE)
        fired += int(spike)
    assert theta * fired == pytest.approx(sum(value / 8 for value in z) + v_start - v, abs=1e-5)


@njit  # not cached: Numba's cache would keep the table of the kinds this file was first compiled with
def _compiled_run(code, v, memory, current, theta, phases):
    """The event engine's compiled rule of kind ``code``, neuron by neuron and step by step."""
    spikes = np.zeros((len(phases), len(v)), np.float32)
    for t in range(len(phases)):
        for i in range(len(v)):
            v[i], spikes[t, i], memory[i] = update(code, v[i], current[t, i], theta[i], phases[t], memory[i])
    return spikes


@settings(max_examples=40)
@given(
    kind=st.sampled_from(sorted(KINDS)),
    seed=st.integers(0, 2**31),
    period=st.integers(1, 4),
    stage=st.integers(1, 3),
    leak=st.sampled_from([0.5, 0.75, 0.875, 1.0]),
    reset=st.sampled_from(RESETS),
    T=st.integers(1, 20),
)
def test_the_event_engines_table_runs_each_kinds_own_rule(kind, seed, period, stage, leak, reset, T):
    """Every registered kind has a compiled rule in the event engine's table, under its own code:
    the compiled dispatch gives, scalar by scalar, what the kind's NumPy rule gives on arrays (its
    spike count as float32), in the phases the kind gives a layer (a leak and a reset only for LIF,
    B spikes per step only for burst)."""
    rng = np.random.default_rng(seed)
    spec = get_kind(kind)
    leaky = {"leak": leak, "reset": reset} if kind == "lif" else {}
    if kind == "burst":
        leaky = {"burst": period}
    layer = NeuronLayer(np.float32(1), np.float32(0), kind, period=period, stage=stage, **leaky)
    phases = spec.phases(np.arange(T), layer).astype(np.float32)
    v = (rng.integers(-8, 8, 5) / 8).astype(np.float32)
    current = (rng.integers(-8, 12, (T, 5)) / 8).astype(np.float32)
    theta = (rng.integers(1, 8, 5) / 4).astype(np.float32)
    compiled_v, compiled_memory, memory = v.copy(), np.zeros_like(v), np.zeros_like(v)
    spikes = _compiled_run(kind_code(kind), compiled_v, compiled_memory, current, theta, phases)
    for t in range(T):
        v, expected, memory = spec.step(v, current[t], theta, phases[t], memory)
        np.testing.assert_array_equal(spikes[t], expected)
    np.testing.assert_array_equal(compiled_v, v)
    np.testing.assert_array_equal(compiled_memory, memory)


def test_readouts_and_output_weights():
    """A spike train stands for θ·Σ w_t s(t): IF 1/T per step, bistable 1/F over its F firing steps,
    TTFS K + 1 − k for a spike k steps into its window; bistable outputs integrate in their cycles."""
    T = 12
    if_kind, bistable, ttfs = get_kind("if"), get_kind("bistable"), get_kind("ttfs")
    np.testing.assert_allclose(if_kind.readout_weights(if_kind.schedule(np.arange(T), 0, 0)), np.full(T, 1 / T))
    phases = bistable.schedule(np.arange(T), 2, 1)
    firing = phases == FIRE
    np.testing.assert_allclose(bistable.readout_weights(phases), firing / firing.sum())
    phases = ttfs.schedule(np.arange(T), 4, 1)  # integrates in steps 1–4, fires in 5–8
    np.testing.assert_array_equal(ttfs.readout_weights(phases), [0, 0, 0, 0, 4, 3, 2, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(bistable.output_gate(T, 2, 2), bistable.schedule(np.arange(T), 2, 2) == INTEGRATE)
    assert if_kind.output_gate(T, 0, 1) is None and if_kind.temporal_weights(T, 0, 1) is None
    np.testing.assert_array_equal(ttfs.temporal_weights(T, 4, 2), [0, 0, 0, 0, 4, 3, 2, 1, 0, 0, 0, 0])
    assert ttfs.result_steps(4, 3) == 16 and if_kind.result_steps(4, 3) is None
    assert ttfs.coding == "ttfs" and if_kind.coding is None and bistable.scheduled and not if_kind.scheduled


def test_the_cached_kernels_name_the_kinds_they_compile_in():
    """Numba's cache does not see a change of the rules a kernel inlines, only of the kernel's own
    file: each module whose cached kernels inline the kind table lists its kinds, so that a new kind
    edits (and so recompiles) it. Every registered kind is in the table."""
    from eventsim.conversion import kernels as conversion_kernels

    for module in (neuron, sample, layer_kernels, conversion_kernels):
        assert module.COMPILED_KINDS == RULES, module.__name__
    assert sorted(RULES) == sorted(KINDS)
