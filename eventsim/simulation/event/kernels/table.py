"""The event kernels by name: the code the step loop dispatches on, and the host-side check of what
the kernel reads. An op's lowering names its kernel; a new kernel is a function in one of the kernel
modules, its check beside it, one line here and one branch in :func:`.sample.step_node`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import neuron, pooling, routing, synapse
from .codes import ADD, AFFINE, AVGPOOL, CONV, DELAY, DENSE, INPUT, MAP, MAXPOOL, NEURON, SPREAD


@dataclass(frozen=True)
class Kernel:
    code: int
    check: Callable


KERNELS: dict[str, Kernel] = {
    "input": Kernel(INPUT, routing.check_input),
    "neuron": Kernel(NEURON, neuron.check_neuron),
    "conv": Kernel(CONV, synapse.check_conv),
    "dense": Kernel(DENSE, synapse.check_dense),
    "avgpool": Kernel(AVGPOOL, pooling.check_avgpool),
    "maxpool": Kernel(MAXPOOL, pooling.check_maxpool),
    "add": Kernel(ADD, pooling.check_add),
    "map": Kernel(MAP, routing.check_map),
    "affine": Kernel(AFFINE, routing.check_affine),
    "delay": Kernel(DELAY, routing.check_delay),
    "spread": Kernel(SPREAD, routing.check_spread),
}
