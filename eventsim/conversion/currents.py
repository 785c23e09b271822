"""The input currents a layer receives in every step: what OPI and FTBC fit their parameters to.

Calibration runs a batch through the network layer by layer (:meth:`DenseDynamics.run_layers`):
each layer's currents over all T steps are handed to the calibration, which sets the layer's
parameters, and the layer then fires with them for the layers after it. One pass per batch, instead
of re-running every layer before the one being calibrated (quadratic in depth).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..snn.dynamics import DenseDynamics
from ..snn.network import SpikingNetwork

#: ``settle(layer, currents)``: sets a layer's parameters from its input currents, (T, N) + shape.
Settle = Callable[[str, np.ndarray], None]


#: Transient memory of one part of an op's stacked steps (im2col columns): parts that stay in the
#: cache run faster than one product over all steps (as in the layer engine).
PART_BYTES = 8 * 2**20


def calibrate_layers(net: SpikingNetwork, x: np.ndarray, T: int, settle: Settle) -> None:
    """Run the batch ``x`` (direct coding) for ``T`` steps layer by layer from the input, calling
    ``settle`` with every neuron layer's input currents (without its temporal bias) before the layer
    fires — the layers before it as ``settle`` left them."""
    from ..simulation.threads import single_threaded_blas

    with single_threaded_blas():
        DenseDynamics(net, x, T).run_layers(T, settle, steps_in_parts, fire_compiled)


def steps_in_parts(node, inputs: list[np.ndarray], state) -> np.ndarray:
    """An op's dynamic part over all steps, (T, N) + shape: an op without state over the stacked
    (step, sample) rows in parts of :data:`PART_BYTES` of work, on all cores (each row is what
    ``spike_step`` computes for it, whatever rows share its product); an op with state by its own
    ``spike_steps``."""
    from ..simulation.threads import parallel_parts

    if state is not None:
        return node.spec.spike_steps(node, inputs, state)
    steps, n = inputs[0].shape[:2]
    rows = [x.reshape((steps * n,) + x.shape[2:]) for x in inputs]
    out = np.empty((steps * n,) + tuple(node.shape), np.float32)
    per_row = max(1, node.spec.work_bytes(node, [x.shape[1:] for x in rows]))

    def part(lo: int, hi: int) -> None:
        out[lo:hi] = node.spec.spike_step(node, [x[lo:hi] for x in rows], None)

    parallel_parts(part, len(out), max(1, PART_BYTES // per_row))
    return out.reshape((steps, n) + tuple(node.shape))


def fire_compiled(dynamics: DenseDynamics, name: str, dynamic: np.ndarray | None, T: int) -> np.ndarray:
    """Neuron layer ``name`` over all ``T`` steps with the layer engine's compiled kernel: per neuron
    the reference's sums in the reference's order (static + dynamic current, + temporal bias, then
    the kind's update), so the same spikes and membranes; its values (spikes × θ), (T, N) + shape."""
    from ..simulation.event.kinds import kind_code
    from ..simulation.layer import kernels
    from ..simulation.layer.checks import check_neurons
    from ..simulation.layer.engine import neuron_block

    net, node = dynamics.net, dynamics.net.graph.node(name)
    n, size, source = len(dynamics.output), int(np.prod(node.shape)), node.inputs[0]
    static = dynamics.static[source].reshape(-1, size)
    empty = np.zeros((0, 0, 0), np.float32)
    current = empty if dynamic is None else np.ascontiguousarray(dynamic, np.float32).reshape(T, n, size)
    bias = net.bias_rows(name, 0, T)
    theta = np.ascontiguousarray(np.broadcast_to(dynamics.theta[name], node.shape), np.float32).reshape(size)
    phases = np.ascontiguousarray(dynamics.phases[net.layer_names.index(name), :T], np.float32)
    v = np.ascontiguousarray(dynamics.membrane[name], np.float32).reshape(n, size)
    block = neuron_block(size, n)
    out = np.empty((T, n, size), np.float32)
    counts = np.empty((T, n, -(-size // block)), np.int64)
    memory = np.ascontiguousarray(dynamics.memory[name], np.float32).reshape(n, size)
    arrays = (np.ascontiguousarray(static, np.float32), current, np.ascontiguousarray(bias, np.float32), theta,
              phases, v, memory, out, counts, np.zeros((n, size), np.int64))  # fmt: skip
    check_neurons(*arrays, block)
    kernels.neuron_steps(kind_code(net.layers[name].kind), *arrays, block)
    dynamics.membrane[name] = v.reshape(dynamics.membrane[name].shape)
    dynamics.memory[name] = memory.reshape(dynamics.memory[name].shape)
    return out.reshape((T, n) + tuple(node.shape))
