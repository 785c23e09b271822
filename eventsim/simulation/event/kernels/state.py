"""The typed structures the kernels pass around: the program, one sample's workspace, what one
sample reads and where its counts go.

They are Numba StructRefs, so a kernel receives each as one pointer: a NamedTuple of arrays would be
copied whole, member by member, into every call of every kernel in every step. The host builds the
program as the NamedTuple :class:`ProgramArrays` (it crosses into compiled code in one piece), which
:func:`program_ref` turns into a :class:`Program`, with the same fields, once per sample.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit
from numba.core import types
from numba.experimental import structref


class ProgramArrays(NamedTuple):
    """What the kernels read, per dynamic node k of the program (in graph order).

    ``kernel[k]`` code of its kernel; ``size[k]`` elements; ``in_idx[in_ptr[k]:in_ptr[k+1]]`` its
    dynamic inputs; ``geometry[k]`` its geometry row; float parameters from ``fpool[fparam_ptr[k]]``;
    index map i from ``ipool[ipool[iparam_ptr[k] + i]]``; workspaces from ``fbuf_ptr[k]`` /
    ``ibuf_ptr[k]`` (of ``fbuf_size`` / ``ibuf_size`` per sample); its events at ``ev_ptr[k]``;
    ``dense_output[k]`` whether its kernel leaves its output in a dense accumulator (its workspace)
    and ``needs_events[k]`` whether it must emit events too; neuron layers: ``layer_of``,
    ``kind_code``, their neurons from ``neuron_offset[layer]``, the static part of their input from
    ``static[static_ptr[k]]``, temporal bias rows from ``bias[bias_ptr[k]]``; ``sop_of[k]`` index
    among the nodes that count synaptic events; the output: its node (-1 if it has no dynamic part),
    static part, size and graph order.
    """

    kernel: np.ndarray
    size: np.ndarray
    in_ptr: np.ndarray
    in_idx: np.ndarray
    geometry: np.ndarray
    fparam_ptr: np.ndarray
    fpool: np.ndarray
    iparam_ptr: np.ndarray
    ipool: np.ndarray
    fbuf_ptr: np.ndarray
    fbuf_size: int
    ibuf_ptr: np.ndarray
    ibuf_size: int
    ev_ptr: np.ndarray
    ev_size: int
    needs_events: np.ndarray
    dense_output: np.ndarray
    layer_of: np.ndarray
    kind_code: np.ndarray
    neuron_offset: np.ndarray
    sop_of: np.ndarray
    static_ptr: np.ndarray
    bias: np.ndarray
    bias_ptr: np.ndarray
    output_node: int
    output_static: int
    output_size: int
    output_order: np.ndarray


class _Struct(types.StructRef):
    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(typ)) for name, typ in fields)


@structref.register
class ProgramType(_Struct):
    pass


@structref.register
class WorkspaceType(_Struct):
    pass


@structref.register
class SampleRunType(_Struct):
    pass


@structref.register
class SampleRecordType(_Struct):
    pass


class Program(structref.StructRefProxy):
    """The compiled program as the kernels see it (fields of ProgramArrays)."""


class Workspace(structref.StructRefProxy):
    """Per-sample buffers: ``fbuf``/``ibuf`` the nodes' float and integer workspaces, ``ev_idx``/
    ``ev_val`` every node's event list of the current step (``ev_n`` events each), ``dirty`` whether a
    dense accumulator may hold non-zeros, ``out_acc``/``out_dyn`` the output accumulator and what
    spikes brought it in the current step."""


class SampleRun(structref.StructRefProxy):
    """What one sample's run reads: the static parts the program needs (``static``), its coded input
    (``spikes_in``, (T, input size)), the phase table (layers, T) and the output weights (T,)."""


class SampleRecord(structref.StructRefProxy):
    """Where one sample's counts go: its own output (T, outputs), spikes per layer, first spikes and
    synaptic events per node; its thread's per-step sums and per-neuron counts; its raster (steps,
    neurons) when ``record_raster``."""


WORKSPACE_FIELDS = ("fbuf", "ibuf", "ev_idx", "ev_val", "ev_n", "dirty", "out_acc", "out_dyn")
RUN_FIELDS = ("static", "spikes_in", "phases", "static_w", "dynamic_w")
RECORD_FIELDS = (
    "outputs", "spikes_sample", "first_spike", "sops_sample", "spikes_step", "sops_step", "counts", "raster",
    "record_raster",
)  # fmt: skip


def _getter(field: str):
    # compiled on first use from Python (tests, debugging); the kernels read the fields directly
    return njit(lambda struct: getattr(struct, field))


def _define(proxy: type, struct_type: type, fields: tuple[str, ...]) -> None:
    """Make ``proxy`` the StructRef of ``fields``, each also readable from Python."""
    structref.define_boxing(struct_type, proxy)
    structref.define_constructor(proxy, struct_type, list(fields))
    for field in fields:
        setattr(proxy, field, property(lambda self, get=_getter(field): get(self)))


_define(Program, ProgramType, ProgramArrays._fields)
_define(Workspace, WorkspaceType, WORKSPACE_FIELDS)
_define(SampleRun, SampleRunType, RUN_FIELDS)
_define(SampleRecord, SampleRecordType, RECORD_FIELDS)


@njit(cache=True)
def program_ref(a):
    """The program NamedTuple ``a`` (:class:`ProgramArrays`) as a :class:`Program`."""
    return Program(*a)
