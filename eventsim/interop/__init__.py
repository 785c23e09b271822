"""Exchange of spiking networks with other tools (NIR). Nothing here imports ``nir`` until used."""

from __future__ import annotations

from .nir_graph import from_nir, read_nir, to_nir, write_nir

__all__ = ["to_nir", "from_nir", "write_nir", "read_nir"]
