"""The spiking network: neuron layers on a graph, their kinds, input coding, how values split into
static and dynamic parts, and the dense step-by-step dynamics that define what a network does."""

from .coding import ENCODINGS
from .kinds import KINDS, NeuronKind, get_kind
from .network import NeuronLayer, SpikingNetwork, per_neuron

__all__ = ["ENCODINGS", "KINDS", "NeuronKind", "get_kind", "NeuronLayer", "SpikingNetwork", "per_neuron"]
