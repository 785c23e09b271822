"""The layer-major engine: every layer over all steps of a chunk at once, its linear part by event
scatter or by one BLAS product, whichever the cost model says is cheaper."""
