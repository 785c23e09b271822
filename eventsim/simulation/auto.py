"""The ``auto`` engine: per batch, the faster of the step-major ``event`` engine and the layer-major
``layer`` engine, both exact.

The step-major engine keeps one sample's whole state in cache and runs samples in parallel; the
layer-major engine runs the steps of a layer in parallel (so one sample uses every core too) and
picks a dense BLAS product where firing is dense, at the price of (steps × samples × neurons) values
between layers. Measured on this project's benchmarks (2 cores, T = 32; docs/architecture.md, README "Speed"), the
layer engine against the step-major one: on a VGG-style network of 230,000 neurons 1.6–2.2× at batch
1, and at batch 64 between 0.73× and 1.41× across firing rates and runs (ahead at 5–20 % firing in
most runs); on the ResNet of 50,000 neurons 1.3–1.4× at batch 1 and 0.87–1.2× at batch 64; on the
LeNets of 8,000 neurons 0.85–1.5× at batch 1 and 0.84–1.2× at batch 64; on the digit networks of a
few hundred neurons 0.3–0.85× at batch 1. Timings on the machine scatter by up to 2× between runs,
so the thresholds are round numbers between the sizes measured, not fitted values.
"""

from __future__ import annotations

from .engines import Engine, get_engine
from .plan import Batch, SimulationPlan
from .recording import Recording

#: Below this many neurons per sample the step-major engine runs every batch.
SMALL_NETWORK = 2_000
#: From this many neurons per sample the layer-major engine runs every batch.
LARGE_NETWORK = 100_000


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
        """The engine for a batch of ``samples`` samples: step-major for small networks, layer-major for
        large ones, and in between layer-major only when the batch has fewer than two samples per core
        (module docstring)."""
        import numba  # here: importing eventsim must not load Numba

        neurons = int(self.plan.neurons().sum())
        if neurons < SMALL_NETWORK:
            return "event"
        if neurons >= LARGE_NETWORK:
            return "layer"
        return "event" if samples >= 2 * numba.get_num_threads() else "layer"

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
