"""The codes the step loop dispatches on (module-level constants, so Numba compiles them in); the
names ops' lowerings use are in :mod:`.table`."""

INPUT, NEURON, CONV, DENSE, AVGPOOL, MAXPOOL, ADD, MAP, AFFINE, DELAY, SPREAD = range(11)
