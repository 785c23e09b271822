"""Numba kernels of the trainer. Importing a module here compiles or loads Numba code, so the
NumPy-level modules of :mod:`eventsim.training` import them only when a kernel is first needed."""
