"""The op spec: everything one canonical op means, in one class that every stage asks.

An :class:`OpSpec` holds two facets of its op.

The ANN facet: how many inputs a node takes, how its per-sample output shape follows from its
inputs and attributes (with the checks that make a node valid), how the executor computes it on a
batch, its multiply-accumulates, and the rewrites the canonicalising passes may apply to it.

The spiking facet (docs/architecture.md, "Static and dynamic parts"): in a spiking network every
value is a *static* part, the same in every step, plus a *dynamic* part carried by spikes. The spec
says how the static part follows from its inputs' static parts, what one step does to the dynamic
part (the dense reference semantics both engines obey), how many synaptic targets one input event
reaches (its fan-out), what it costs in the operation counts of the SNN and of the ANN, and how it
lowers into the event engine (a kernel name plus its parameters).

The training facet: the vector-Jacobian product of the forward (``backward``: the gradients of the
inputs and of the trainable params from the gradient of the output) and of a run of spiking steps
(``spike_backward``), which the trainer's backward passes ask.

The importers, the executor, the passes, the engines, the counts and the exporters look an op up
here and never test its name, so adding an op is adding one module to :mod:`eventsim.ir.ops`
(docs/architecture.md shows how).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ...errors import ShapeError, UnsupportedError

if TYPE_CHECKING:  # pragma: no cover
    from ..graph import Graph, Node
    from .counting import Count, SnnCountContext
    from .lowering import EventLowering, LoweringContext

Shape = tuple[int, ...]

#: Roles an op can play in the spiking network it becomes.
ROLES = ("input", "synaptic", "activation", "transient")


class OpSpec(ABC):
    """Behaviour of one canonical op; subclasses are registered with :func:`register_op`.

    Attributes
    ----------
    name : str
        The op's name in the graph (``node.op``).
    role : str
        ``"input"``; ``"synaptic"`` for ops on the path that carries events between neuron layers;
        ``"activation"`` for ops that become neuron layers; ``"transient"`` for ops that exist only
        between import and the canonicalising passes (they must be fused away).
    min_inputs, max_inputs : int, int or None
        How many inputs a node of this op takes (``None``: no upper bound).
    quiet : dict
        Attribute values that summaries leave out because they change nothing.
    elementwise : bool
        Acts on every element alone (commutes with any permutation of the layout).
    monotone : bool
        Element-wise and non-decreasing (commutes with max pooling).
    rearranges : bool
        Only rearranges the values of its one input (element-wise ops commute with it).
    synaptic_events : bool
        Each event reaching the op is counted in synaptic events, one per target (its fan-out).
    constant_params : tuple of str
        Params that only add a constant (a bias, a shift): :meth:`without_constant` zeroes them, so
        the dynamic part of a value gives them no gradient.
    trainable_params : tuple of str
        Params that training changes (the weights and biases of conv and dense; the trainer's fast
        paths for them use the op's event lowering).
    """

    name: ClassVar[str] = ""
    role: ClassVar[str] = "synaptic"
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1
    quiet: ClassVar[dict[str, object]] = {}
    elementwise: ClassVar[bool] = False
    monotone: ClassVar[bool] = False
    rearranges: ClassVar[bool] = False
    synaptic_events: ClassVar[bool] = False
    constant_params: ClassVar[tuple[str, ...]] = ()
    trainable_params: ClassVar[tuple[str, ...]] = ()

    # -- ANN facet ---------------------------------------------------------------------------
    def infer_shape(self, node: Node, in_shapes: list[Shape]) -> Shape:
        """Return the per-sample output shape, raising :class:`ShapeError` if the node is invalid."""
        return in_shapes[0]

    @abstractmethod
    def forward(self, node: Node, xs: list[np.ndarray]) -> np.ndarray:
        """Compute the op on batched float32 inputs (batch axis first)."""

    def macs(self, node: Node, in_shapes: list[Shape]) -> int:
        """Conventional multiply-accumulates per sample, products with padded zeros included (what
        graph summaries show); 0 for ops without weights."""
        return 0

    def products(self, node: Node, in_shapes: list[Shape]) -> int:
        """Products (or window additions) per sample with a real, not padded, input element: what the
        operation counts price. The sum of :meth:`fanout` for ops that have one."""
        return 0

    def describe(self, node: Node) -> str:
        """A short text of the node's attributes for summaries."""
        parts = []
        for key, value in node.attrs.items():
            if key in self.quiet and value == self.quiet[key]:
                continue
            if isinstance(value, float):
                value = f"{value:g}"
            elif isinstance(value, tuple):
                value = "x".join(str(v) for v in value) if value else "()"
            parts.append(f"{key}={value}")
        return " ".join(parts)

    # -- rewrites the canonicalising passes may apply ------------------------------------------
    def is_identity(self, node: Node, in_shapes: list[Shape]) -> bool:
        """Whether the node passes its (only) input through unchanged."""
        return False

    def chain_link(self, node: Node) -> bool:
        """Whether the node may be part of an element-wise activation chain that the passes fuse
        into one activation (relu/clip runs, QCFS: Div → Clip → Mul → Add → Floor → Div → Mul)."""
        return False

    def clip_bounds(self, node: Node) -> tuple[float, float] | None:
        """(lo, hi) if the node clamps its input to [lo, hi], else None."""
        return None

    def params_before_reshape(self, node: Node, src: Shape, dst: Shape) -> dict | None:
        """The node's params for acting on a reshape's input of shape ``src`` instead of its output
        of shape ``dst``, or None if it cannot move in front of the reshape."""
        return {} if self.elementwise and not node.params else None

    def absorb_previous(self, node: Node, previous: Node) -> Node | None:
        """``node`` doing the work of ``previous`` (whose only consumer it is) too, or None."""
        return None

    def absorb_next(self, node: Node, following: Node) -> Node | None:
        """``node`` doing the work of ``following`` (its only consumer) too, or None."""
        return None

    def commutes_with(self, node: Node, following: Node) -> bool:
        """Whether ``node → following`` may be rewritten as ``following → node``."""
        return False

    def commutes_with_nondecreasing(self, node: Node, in_shape: Shape) -> bool:
        """Whether ``f(node(x)) = node(f(x))`` for every element-wise non-decreasing ``f`` on an input
        of ``in_shape``, so that a run of such maps after the node may move in front of it (max
        pooling whose windows all hold data: ``f(max(a, b)) = max(f(a), f(b))``); False (default)."""
        return False

    def as_nondecreasing_map(self, node: Node, shape: Shape) -> Node | None:
        """A copy of the node acting on a value of ``shape`` (a pool's input instead of its output)
        if the node is an element-wise non-decreasing map that can act there (an activation, a
        per-channel affine with scales >= 0); None otherwise (default)."""
        return None

    def channel_affine(self, node: Node) -> tuple[np.ndarray, np.ndarray] | None:
        """``(scale, shift)``, one value per channel (axis 0 of the node's shape), if the node computes
        ``scale·x + shift`` channel by channel on its one input; None otherwise (default)."""
        return None

    def with_channel_affine(self, node: Node, scale: np.ndarray, shift: np.ndarray, shape: Shape) -> Node:
        """A copy of a node that :meth:`channel_affine` describes, computing the per-channel ``scale``
        and ``shift`` on a value of ``shape`` instead."""
        raise UnsupportedError(f"op {self.name!r} is not a per-channel affine")

    def affine_after(
        self, node: Node, affine: Node, scale: np.ndarray, shift: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The per-channel ``(scale', shift')`` with ``node(scale·x + shift) = scale'·node(x) + shift'``
        exactly, for the per-channel affine node ``affine`` before ``node`` (one value per channel of
        ``node``'s input, results per channel of its output), so that the affine may move behind the
        node; None if the node does not commute with it (default). May raise
        :class:`UnsupportedError` (naming ``affine``) where an affine there can have no spiking form."""
        return None

    def absorb_affine_before(self, node: Node, affine: Node, scale: np.ndarray, shift: np.ndarray) -> list[Node] | None:
        """Nodes that compute ``node`` of the per-channel affine ``scale·x + shift`` of ``affine``'s
        input, in graph order: the last keeps ``node``'s name, any other takes ``affine``'s; None if
        the node cannot absorb the affine before it (default)."""
        return None

    def zero_pads(self, node: Node) -> tuple[int, int, int, int] | None:
        """The pads (top, left, bottom, right) if the node only pads its input with zeros, else None
        (default): a conv or average pool may take them into its own padding."""
        return None

    def as_average(self, node: Node) -> Node | None:
        """The node pooling by averages where it pools by maxima (what single-spike networks are
        trained with, Che et al.), or None when it has no such twin (default)."""
        return None

    # -- spiking facet --------------------------------------------------------------------------
    def static_part(self, node: Node, static_inputs: list[np.ndarray]) -> np.ndarray:
        """Static part of the output, from the static parts of the inputs (batched). The default,
        the ANN forward, is right for ops that are linear in their inputs or act on static values."""
        return self.forward(node, static_inputs)

    def shared_static(self, node: Node, inputs: list[np.ndarray | None], dynamic: bool) -> np.ndarray | None:
        """The static part when it is the same for every sample, (1,) + shape, from the inputs' shared
        static parts (None for an input whose static part depends on the sample); None if it depends
        on the sample."""
        if any(v is None for v in inputs):
            return None
        return self.static_part(node, inputs)

    def without_constant(self, node: Node) -> Node:
        """The node without its constant term (bias, shift): what it does to a dynamic part."""
        return node

    def spike_state(self, node: Node, batch: int, in_shapes: list[Shape]) -> Any:
        """State the op keeps between steps in the reference semantics (None if it keeps none)."""
        return None

    def spike_step(self, node: Node, dynamic_inputs: list[np.ndarray], state: Any) -> np.ndarray:
        """Dynamic part of the output in one step, from the inputs' dynamic parts (zeros for inputs
        without one): the dense reference semantics that every engine reproduces."""
        return self.forward(self.without_constant(node), dynamic_inputs)

    def spike_steps(self, node: Node, dynamic_inputs: list[np.ndarray], state: Any) -> np.ndarray:
        """Dynamic part of the output in a run of consecutive steps at once: inputs (steps, N) + their
        shapes, output (steps, N) + the node's shape; the values :meth:`spike_step` gives step by step
        (what a layer-major engine asks). Ops without state compute all steps as one batch; ops with
        state step through them, unless they override this with a vectorised form."""
        steps, n = dynamic_inputs[0].shape[:2]
        if state is None:
            rows = [x.reshape((steps * n,) + x.shape[2:]) for x in dynamic_inputs]
            return self.spike_step(node, rows, None).reshape((steps, n) + tuple(node.shape))
        return np.stack([self.spike_step(node, [x[t] for x in dynamic_inputs], state) for t in range(steps)])

    def work_bytes(self, node: Node, in_shapes: list[Shape]) -> int:
        """Bytes of transient memory :meth:`forward` needs per sample (beyond its inputs), which a
        caller bounds by cutting a batch into parts. Default: two copies of the output."""
        return 8 * int(np.prod(node.shape))

    def fanout(self, node: Node, in_shape: Shape) -> np.ndarray:
        """Targets one unit event at each position of the (first) input reaches, int64, shaped like
        the input (in-bounds targets only)."""
        raise UnsupportedError(f"op {self.name!r} has no fan-out")

    def stage_delay(self, node: Node, period: int) -> int:
        """Pipeline stages (cycles of ``period`` steps) the node adds to what passes through it."""
        return 0

    def ann_counts(self, node: Node, graph: Graph) -> list[Count]:
        """Per-sample operation counts of the ANN computation of the node."""
        return []

    def snn_counts(self, node: Node, ctx: SnnCountContext) -> list[Count]:
        """Per-sample operation counts of the node in a simulated spiking network."""
        return []

    def lower_event(self, node: Node, ctx: LoweringContext) -> EventLowering:
        """How a node with a dynamic part runs in the event engine."""
        raise UnsupportedError(f"the event engine cannot simulate op {self.name!r} (node {node.name!r})")

    # -- interop facet ------------------------------------------------------------------------
    def to_nir(self, node: Node, in_shapes: list[Shape], nir: Any) -> list[tuple[str, Any]]:
        """The NIR nodes (built with the ``nir`` module passed in) that compute the node, as
        ``(suffix, nir_node)`` pairs in chain order: the first receives the node's inputs (NIR sums
        the edges into one node), the last gives its output; suffix ``""`` is the node itself, the
        others name helper nodes. The default refuses: NIR has no form of the op."""
        raise UnsupportedError(
            f"node {node.name!r} ({self.name}) cannot be exported to NIR: NIR has no form of op {self.name!r}",
            "export networks of conv, dense, average pooling, flatten, add and IF layers",
        )

    #: Whether the op's NIR form takes a per-channel (per-feature) scale of its input into its
    #: weights (:meth:`to_nir` receives it as ``in_scale``): the θ that NIR's spikes of 1 lack, or a
    #: pool's divisor, then needs no node of its own.
    nir_absorbs_scale: ClassVar[bool] = False
    #: Whether the op's NIR form lets such a scale through (linear per channel): the exporter then
    #: asks :meth:`nir_scale_after`; otherwise it writes a ``nir.Scale`` before the node.
    nir_passes_scale: ClassVar[bool] = False

    def nir_scale_after(self, node: Node, scale: np.ndarray | None, in_shape: Shape) -> np.ndarray | None:
        """The scale (C,) or (F,) by which the node's eventsim value exceeds the output of its NIR
        form when its input in NIR is its eventsim input over ``scale`` (None: 1); the default: no
        scale of its own."""
        return None

    def nir_concat_axis(self, node: Node) -> int | None:
        """The per-sample axis along which the node concatenates its inputs when it has no NIR node
        of its own and its consumers take the pieces (:meth:`to_nir_split`); None (default) for ops
        that are NIR nodes."""
        return None

    def to_nir_split(
        self, node: Node, in_shape: Shape, axis: int, sizes: tuple[int, ...], nir: Any, scales: list
    ) -> tuple[list[list[tuple[str, Any]]], tuple[int, tuple[int, ...], list] | None]:
        """The NIR chains that compute the node from an input that NIR holds as pieces of ``sizes``
        along per-sample ``axis`` (a concatenation NIR lacks), each piece over its scale in
        ``scales`` (see :attr:`nir_absorbs_scale`): one chain of ``(suffix, nir_node)`` per piece,
        receiving that piece; and None when the chains' outputs sum to the node's value, or
        ``(axis, sizes, scales)`` when they are its pieces again. The default refuses."""
        raise UnsupportedError(
            f"node {node.name!r} ({self.name}) cannot be exported to NIR: it receives a concatenation, "
            "which NIR lacks and which eventsim writes only as split weights of a conv, dense or flatten",
            "export networks whose concatenations feed a conv, a dense layer or a flatten",
        )

    # -- training facet -----------------------------------------------------------------------
    def backward(
        self, node: Node, xs: list[np.ndarray], grad: np.ndarray
    ) -> tuple[list[np.ndarray | None], dict[str, np.ndarray]]:
        """Vector-Jacobian product of :meth:`forward` at the batched inputs ``xs``: the gradient of
        every input (same shapes) and of every trainable param, given ``grad`` of the output."""
        raise UnsupportedError(
            f"training cannot pass gradients through op {self.name!r} (node {node.name!r})",
            "train a network built of conv, dense, pooling, add, concat, reshape, pad and affine nodes",
        )

    def spike_backward(
        self, node: Node, dynamic_inputs: list[np.ndarray], grad: np.ndarray
    ) -> tuple[list[np.ndarray | None], dict[str, np.ndarray]]:
        """Vector-Jacobian product of :meth:`spike_steps` over a whole run from its start: inputs
        (steps, N) + shapes as the forward received them, ``grad`` (steps, N) + the node's shape. The
        default, for ops without state, is :meth:`backward` of the node without its constant term
        on all steps as one batch (constant params get no gradient from spikes)."""
        if self.spike_state(node, 1, [x.shape[2:] for x in dynamic_inputs]) is not None:
            raise UnsupportedError(f"op {self.name!r} keeps state between steps and has no spiking backward")
        steps, n = grad.shape[:2]
        rows = [x.reshape((steps * n,) + x.shape[2:]) for x in dynamic_inputs]
        grads, params = self.backward(self.without_constant(node), rows, grad.reshape((steps * n,) + grad.shape[2:]))
        grads = [None if g is None else g.reshape(x.shape) for g, x in zip(grads, dynamic_inputs)]
        return grads, {key: value for key, value in params.items() if key not in self.constant_params}


OPS: dict[str, OpSpec] = {}


def register_op(cls: type[OpSpec]) -> type[OpSpec]:
    """Class decorator: register an op spec under ``cls.name`` (refusing duplicates)."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no op name")
    if cls.name in OPS:
        raise ValueError(f"op {cls.name!r} is registered twice ({type(OPS[cls.name]).__name__}, {cls.__name__})")
    if cls.role not in ROLES:
        raise ValueError(f"op {cls.name!r} has unknown role {cls.role!r}")
    OPS[cls.name] = cls()
    return cls


def get_op(name: str) -> OpSpec:
    """Return the spec of op ``name``; an unknown op is an :class:`UnsupportedError`."""
    try:
        return OPS[name]
    except KeyError:
        raise UnsupportedError(
            f"unknown graph op {name!r}", f"use one of the canonical ops: {', '.join(sorted(OPS))}"
        ) from None


def require(condition: bool, node: Node, problem: str, fix: str | None = None) -> None:
    """Raise a :class:`ShapeError` about ``node`` unless ``condition`` holds."""
    if not condition:
        raise ShapeError(f"node {node.name!r} ({node.op}): {problem}", fix)


def nir_require(condition: bool, node: Node, problem: str) -> None:
    """Refuse to export ``node`` to NIR (an :class:`UnsupportedError` naming it) unless ``condition``."""
    if not condition:
        raise UnsupportedError(
            f"node {node.name!r} ({node.op}) cannot be exported to NIR: {problem}",
            "export networks of conv, dense, average pooling, flatten, add and IF layers that NIR can express",
        )


def broadcast_param_ok(param: np.ndarray, shape: Shape) -> bool:
    """Whether ``param`` broadcasts to ``shape`` without enlarging it."""
    try:
        return np.broadcast_shapes(param.shape, shape) == tuple(shape)
    except ValueError:
        return False


def require_scale_shift(node: Node, shape: Shape) -> None:
    """Check that the node's ``scale`` and ``shift`` params broadcast to ``shape``."""
    for key in ("scale", "shift"):
        require(
            broadcast_param_ok(node.params[key], shape),
            node,
            f"{key} of shape {node.params[key].shape} does not broadcast to the input {shape}",
        )


def per_channel(param: np.ndarray, shape: Shape) -> np.ndarray | None:
    """``param`` as one value per channel (axis 0 of ``shape``) if it is constant over the other
    axes, else None."""
    full = np.broadcast_to(param, shape)
    rows = full.reshape(shape[0], -1)
    if not np.all(rows == rows[:, :1]):
        return None
    return rows[:, 0]
