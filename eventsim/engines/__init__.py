"""Simulation engines: ``reference`` (dense NumPy, the ground truth) and ``event`` (Numba)."""
