"""The ``event`` engine: a compiled program of the network's dynamic part and Numba kernels that
touch only the events that happen."""
