"""The step-by-step dynamics of a spiking network, written densely in NumPy to be obviously right.

This is the meaning of a network that every engine reproduces: in each step every value's dynamic
part goes through its op's ``spike_step`` (the same op forwards as the ANN executor, convolutions as
BLAS matmuls), every neuron layer adds its static current and temporal bias and applies its kind's
rule in the step's phase, and the output accumulates with the network's output weights. The
reference engine records a run of it step by step; calibration (OPI, FTBC) runs it layer by layer
(:meth:`DenseDynamics.run_layers`), which computes the same values in another order.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .coding import input_spikes
from .network import SpikingNetwork
from .split import dynamic_nodes, shared_static, static_parts


class DenseDynamics:
    """One batch of ``net`` stepped densely for up to ``T`` steps.

    Parameters
    ----------
    net : SpikingNetwork
    x : numpy.ndarray
        The batch, (N,) + input shape, float32.
    T : int
        Steps of the run (the input coding and the phase table depend on it).
    encoding : str
        Input coding (:mod:`eventsim.snn.coding`).
    seed, first_index : int
        Seed of a rate coding and the index of ``x[0]`` in the whole data set.
    dynamic, shared : dict, optional
        :func:`~eventsim.snn.split.dynamic_nodes` and :func:`~eventsim.snn.split.shared_static` of the
        run, when the caller has them already.

    Attributes
    ----------
    static : dict of str to numpy.ndarray
        Static part of every node's value, (N,) + shape.
    output : numpy.ndarray
        The output accumulator o(t) after the last full step, (N,) + output shape.
    """

    def __init__(
        self,
        net: SpikingNetwork,
        x: np.ndarray,
        T: int,
        encoding: str = "direct",
        seed: int = 0,
        first_index: int = 0,
        dynamic: dict[str, bool] | None = None,
        shared: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.net, self.graph, n = net, net.graph, len(x)
        self.dynamic = dynamic if dynamic is not None else dynamic_nodes(net.graph, encoding != "direct")
        shared = shared if shared is not None else shared_static(net.graph, self.dynamic)
        self.static = static_parts(net.graph, x, self.dynamic, shared)
        self.spikes_in, amplitude = input_spikes(x, T, encoding, seed, first_index, net.input_window)
        self.amplitude = np.float32(amplitude)
        self.layers = net.layer_names
        self.phases = net.phases(T)
        self.static_w, self.dynamic_w = net.output_weights(T)
        self.membrane = {
            name: np.broadcast_to(net.v0_array(name), (n,) + self.shape(name)).copy() for name in self.layers
        }
        # the second number per neuron of kinds with memory (a signed neuron's net count), from 0
        self.memory = {name: np.zeros_like(self.membrane[name]) for name in self.layers}
        self.theta = {name: net.threshold_array(name) for name in self.layers}
        self.op_state = {
            node.name: node.spec.spike_state(node, n, [self.shape(i) for i in node.inputs])
            for node in self.graph.nodes
            if self.dynamic[node.name] and node.spec.role == "synaptic"
        }
        self.output = np.zeros((n,) + self.graph.output_shape, np.float32)

    def shape(self, name: str) -> tuple[int, ...]:
        return self.graph.node(name).shape

    def current(self, layer: str, dynamic: dict[str, np.ndarray]) -> np.ndarray:
        """Input current of neuron layer ``layer`` in the step whose dynamic parts are ``dynamic``,
        without its temporal bias."""
        source = self.graph.node(layer).inputs[0]
        return self.static[source] + dynamic[source] if self.dynamic[source] else self.static[source]

    def step(self, t: int, stop_at: str | None = None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Advance by step ``t`` (0-based).

        Returns
        -------
        dynamic, spikes
            The dynamic part of every node with one, and the spikes (bool) of every neuron layer. With
            ``stop_at`` (a neuron layer) the step ends before that layer: nodes from it on are not
            computed, and neither the layer's state nor the output changes.
        """
        dynamic: dict[str, np.ndarray] = {}
        spikes: dict[str, np.ndarray] = {}
        for node in self.graph.nodes:
            name = node.name
            if name == stop_at:
                return dynamic, spikes
            if not self.dynamic[name]:
                continue
            if node.spec.role == "input":
                dynamic[name] = node.spec.spike_step(node, [self.spikes_in[:, t] * self.amplitude], None)
            elif node.spec.role == "activation":
                spikes[name] = self._fire(name, t, dynamic)
                dynamic[name] = (spikes[name] * self.theta[name]).astype(np.float32)
            else:
                inputs = [dynamic[i] if self.dynamic[i] else np.zeros_like(self.static[i]) for i in node.inputs]
                dynamic[name] = node.spec.spike_step(node, inputs, self.op_state[name]).astype(np.float32, copy=False)
        self._accumulate(t, dynamic)
        return dynamic, spikes

    def _fire(self, layer: str, t: int, dynamic: dict[str, np.ndarray]) -> np.ndarray:
        """Update neuron layer ``layer`` with its kind's rule in step ``t``; its spikes (bool, or the
        counts of kinds with graded or signed spikes)."""
        current = self.current(layer, dynamic)
        bias = self.net.bias_at(layer, t)
        if bias is not None:
            current = current + bias
        phase = self.phases[self.layers.index(layer), t]
        spec = self.net.layers[layer].spec
        self.membrane[layer], spikes, self.memory[layer] = spec.step(
            self.membrane[layer], current, self.theta[layer], phase, self.memory[layer]
        )
        return spikes

    def _accumulate(self, t: int, dynamic: dict[str, np.ndarray]) -> None:
        """The output takes its static part and what spikes brought, with the step's output weights."""
        out = self.graph.output
        if self.dynamic[out]:
            self.output = self.output + (self.static_w[t] * self.static[out] + self.dynamic_w[t] * dynamic[out])
        else:
            self.output = self.output + self.static_w[t] * self.static[out]

    def run_layers(
        self,
        T: int,
        settle: Callable[[str, np.ndarray], None] | None = None,
        steps: Callable | None = None,
        fire: Callable | None = None,
    ) -> None:
        """Run all ``T`` steps layer by layer: every node over all steps before the next node.

        The network is feed-forward, so a node's inputs over all steps are known before it runs, and
        each node computes what :meth:`step` computes for it in every step (ops over the stacked
        steps with their ``spike_steps``, neurons step by step with the same update). What this order
        adds: ``settle(layer, currents)`` is called with a neuron layer's input currents over all
        steps, (T, N) + shape (without its temporal bias), before the layer fires, and may change the
        layer's parameters in ``net`` (threshold, v0, temporal bias), which it then fires with — so a
        calibration sees every layer's currents with the layers before it already calibrated, in one
        pass. ``steps(node, inputs, state)`` may stand in for the ops' ``spike_steps`` (to cut the
        stacked steps into parts, say), and ``fire(dynamics, layer, dynamic, T)`` for the step-by-step
        update of a neuron layer whose input's dynamic part over the steps is ``dynamic`` (None if
        static), if they compute the same values. The output accumulator is not computed.
        """
        values: dict[str, np.ndarray] = {}
        left = {node.name: 0 for node in self.graph.nodes}
        for node in self.graph.nodes:
            for source in node.inputs:
                left[source] += 1
        for node in self.graph.nodes:
            if not self.dynamic[node.name]:
                continue
            values[node.name] = self._node_steps(node, values, T, settle, steps, fire)
            for source in node.inputs:
                left[source] -= 1
                if left[source] == 0:
                    values.pop(source, None)  # its consumers have all run: free the (T, N, ...) values

    def _node_steps(self, node, values: dict[str, np.ndarray], T: int, settle, steps, fire) -> np.ndarray:
        """One node's dynamic part over all steps, (T, N) + shape (:meth:`run_layers`)."""
        name, spec = node.name, node.spec
        if spec.role == "input":
            return spec.spike_steps(node, [np.swapaxes(self.spikes_in[:, :T], 0, 1) * self.amplitude], None)
        if spec.role == "activation":
            source = node.inputs[0]
            if settle is not None:
                settle(name, self.static[source] + values[source] if self.dynamic[source] else self._still(source, T))
                self.theta[name] = self.net.threshold_array(name)
                self.membrane[name] = np.broadcast_to(self.net.v0_array(name), self.membrane[name].shape).copy()
            if fire is not None:
                return fire(self, name, values[source] if self.dynamic[source] else None, T)
            out = np.empty((T,) + self.membrane[name].shape, np.float32)
            for t in range(T):
                spikes = self._fire(name, t, {source: values[source][t]} if self.dynamic[source] else {})
                out[t] = spikes * self.theta[name]
            return out
        n = len(self.output)
        inputs = [values[i] if self.dynamic[i] else np.zeros((T, n) + self.shape(i), np.float32) for i in node.inputs]
        return np.asarray((steps or spec.spike_steps)(node, inputs, self.op_state[name]), np.float32)

    def _still(self, source: str, T: int) -> np.ndarray:
        """The currents of a layer whose input has no dynamic part: its static part in every step."""
        return np.broadcast_to(self.static[source], (T,) + self.static[source].shape)
