"""The typed structures the kernels pass around: the program, one sample's workspace, what one
sample reads and where its counts go.

They are Numba StructRefs, so a kernel receives each as one pointer: a NamedTuple of arrays would be
copied whole, member by member, into every call of every kernel in every step. The host builds the
program as a NamedTuple (:class:`~eventsim.simulation.event.program.ProgramArrays`), which
:func:`program_ref` turns into a :class:`Program` once per sample.
"""

from __future__ import annotations

from numba import njit
from numba.core import types
from numba.experimental import structref

#: Fields of the program, in the order of ProgramArrays.
PROGRAM_FIELDS = (
    "kernel", "size", "in_ptr", "in_idx", "geometry", "fparam_ptr", "fpool", "iparam_ptr", "ipool", "fbuf_ptr",
    "fbuf_size", "ibuf_ptr", "ibuf_size", "ev_ptr", "ev_size", "needs_events", "dense_output", "layer_of",
    "kind_code", "neuron_offset", "sop_of", "static_ptr", "bias", "bias_ptr", "output_node", "output_static",
    "output_size", "output_order",
)  # fmt: skip


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


_define(Program, ProgramType, PROGRAM_FIELDS)
_define(Workspace, WorkspaceType, WORKSPACE_FIELDS)
_define(SampleRun, SampleRunType, RUN_FIELDS)
_define(SampleRecord, SampleRecordType, RECORD_FIELDS)


@njit(cache=True)
def program_ref(a):
    """The program NamedTuple ``a`` as a :class:`Program`."""
    return Program(
        a.kernel, a.size, a.in_ptr, a.in_idx, a.geometry, a.fparam_ptr, a.fpool, a.iparam_ptr, a.ipool,
        a.fbuf_ptr, a.fbuf_size, a.ibuf_ptr, a.ibuf_size, a.ev_ptr, a.ev_size, a.needs_events, a.dense_output,
        a.layer_of, a.kind_code, a.neuron_offset, a.sop_of, a.static_ptr, a.bias, a.bias_ptr, a.output_node,
        a.output_static, a.output_size, a.output_order,
    )  # fmt: skip
