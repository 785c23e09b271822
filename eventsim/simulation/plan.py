"""The simulation plan: everything about one run that does not depend on the engine.

Built once per :func:`eventsim.simulate` call and handed to the engine, which may derive its own
structures from it (the event engine compiles a program) but never changes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..ir.graph import Graph
from ..snn.coding import input_spikes, spike_amplitude
from ..snn.network import SpikingNetwork
from ..snn.split import dynamic_nodes, shared_static, static_parts


@dataclass(frozen=True)
class Batch:
    """A chunk of the data to simulate.

    Attributes
    ----------
    x : numpy.ndarray
        Inputs (N,) + input shape, float32.
    first_index : int
        Index of ``x[0]`` in the whole data set (each sample's rate-coded input has its own stream).
    raster_samples : tuple of int
        Samples of the batch (0-based within it) whose full spike rasters are recorded.
    """

    x: np.ndarray
    first_index: int = 0
    raster_samples: tuple[int, ...] = ()


@dataclass(frozen=True)
class SimulationPlan:
    """One simulation setting (engine-independent).

    Attributes
    ----------
    net : SpikingNetwork
    T : int
        Steps to simulate.
    encoding : str
        Input coding.
    seed : int
        Seed of a rate coding.
    dynamic : mapping of str to bool
        Whether each node's value changes from step to step (:func:`~eventsim.snn.split.dynamic_nodes`).
    shared : mapping of str to numpy.ndarray
        Static parts equal for every sample, (1,) + shape (:func:`~eventsim.snn.split.shared_static`).
    layers : tuple of str
        Neuron layers in graph order.
    synaptic : tuple of str
        Nodes with a dynamic part whose op counts synaptic events (conv, dense, avgpool, delay).
    phases : numpy.ndarray
        What every layer does in every step, (layers, T) float32.
    static_weights, dynamic_weights : numpy.ndarray
        Per-step output weights (T,) (:meth:`SpikingNetwork.output_weights`).
    amplitude : float
        What one input spike carries before the input normalisation.
    """

    net: SpikingNetwork
    T: int
    encoding: str
    seed: int
    dynamic: Mapping[str, bool]
    shared: Mapping[str, np.ndarray]
    layers: tuple[str, ...]
    synaptic: tuple[str, ...]
    phases: np.ndarray
    static_weights: np.ndarray
    dynamic_weights: np.ndarray
    amplitude: float

    @classmethod
    def build(cls, net: SpikingNetwork, T: int, encoding: str = "direct", seed: int = 0) -> SimulationPlan:
        """The plan of simulating ``net`` for ``T`` steps with ``encoding``.

        Raises
        ------
        UnsupportedError
            If the network's values cannot be split into static and dynamic parts.
        """
        graph = net.graph
        dynamic = dynamic_nodes(graph, encoding != "direct")
        synaptic = tuple(n.name for n in graph.nodes if n.spec.synaptic_events and dynamic[n.name])
        static_w, dynamic_w = net.output_weights(T)
        return cls(
            net,
            int(T),
            encoding,
            int(seed),
            dynamic,
            shared_static(graph, dynamic),
            tuple(net.layer_names),
            synaptic,
            net.phases(T),
            static_w,
            dynamic_w,
            spike_amplitude(encoding, T, net.input_window),
        )

    @property
    def graph(self) -> Graph:
        return self.net.graph

    def neurons(self) -> np.ndarray:
        """Neurons per layer, int64 (layers,)."""
        return np.array([int(np.prod(self.graph.node(name).shape)) for name in self.layers], np.int64)

    def static(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Static part of every node's value for a batch, (N,) + shape, float32."""
        return static_parts(self.graph, x, self.dynamic, self.shared)

    def input_spikes(self, batch: Batch) -> np.ndarray | None:
        """The spike-coded input of a batch, bool (N, T) + input shape; None for direct coding."""
        return input_spikes(batch.x, self.T, self.encoding, self.seed, batch.first_index, self.net.input_window)[0]
