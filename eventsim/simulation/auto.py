"""The ``auto`` engine: per batch, the faster of the step-major ``event`` engine and the layer-major
``layer`` engine, both exact.

The step-major engine keeps one sample's whole state in cache and runs samples in parallel, so it is
the faster one when a batch has samples enough for every core, and for small networks whose layers
are too small to be worth splitting. The layer-major engine runs the steps of a layer in parallel, so
it uses every core for one sample too, and it picks a dense BLAS product where firing is dense.
Measured on this project's benchmarks (2 cores, T = 32; docs/architecture.md): the layer engine is
1.3–1.9× faster at batch 1 on a VGG-style network and 1.4× on the small ResNet, the step-major one
1.2–1.3× faster at batch 64 and 1.3–1.9× at batch 1 on networks of a few thousand neurons.
"""

from __future__ import annotations

import numba

from .engines import Engine, get_engine
from .plan import Batch, SimulationPlan
from .recording import Recording

#: Below this many neurons per sample the step-major engine is used at any batch size.
SMALL_NETWORK = 20_000


class AutoEngine(Engine):
    """Picks ``event`` or ``layer`` per batch (module docstring); ``layer_options`` go to the layer
    engine (``method``, ``memory``, ``costs``)."""

    name = "auto"

    def __init__(self, plan: SimulationPlan, **layer_options) -> None:
        super().__init__(plan)
        self.options = {"event": {}, "layer": layer_options}
        self.engines: dict[str, Engine] = {}
        self.samples = {"event": 0, "layer": 0}
        if layer_options:  # refuse bad options now, not at the first batch that needs them
            self._engine("layer")

    def choose(self, samples: int) -> str:
        """The engine for a batch of ``samples`` samples."""
        small = int(self.plan.neurons().sum()) < SMALL_NETWORK
        return "event" if small or samples >= 2 * numba.get_num_threads() else "layer"

    def _engine(self, name: str) -> Engine:
        if name not in self.engines:
            self.engines[name] = get_engine(name)(self.plan, **self.options[name])
        return self.engines[name]

    def run(self, batch: Batch) -> Recording:
        name = self.choose(len(batch.x))
        self.samples[name] += len(batch.x)
        return self._engine(name).run(batch)

    def report(self) -> dict:
        """How many samples each engine simulated, and what the layer engine chose."""
        out = {"samples_by_engine": {k: int(v) for k, v in self.samples.items() if v}}
        for engine in self.engines.values():
            out.update(engine.report())
        return out
