"""The event engine's Numba kernels: one module per family of ops, plus the per-sample step loop.

Every kernel is a plain loop over contiguous arrays of the compiled program
(:class:`~.state.ProgramArrays`, seen by the kernels as the StructRef of
:mod:`.state`), compiled with ``cache=True``; the program builder checks every index before a kernel
sees it. Each kernel's NumPy twin is its op's
``spike_step`` (the reference semantics in :mod:`eventsim.snn.dynamics`), which the tests compare
it with, kernel by kernel and on whole random networks.
"""
