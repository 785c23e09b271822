"""Handlers of layout ops: Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Concat, Pad, Resize, Shape."""

from __future__ import annotations

import numpy as np

from eventsim.errors import ShapeError, UnsupportedError

from .context import BATCH, ImportContext, Value, describe
from .fold import fold_node
from .registry import handler


def _batch_axis_error(node, what: str) -> UnsupportedError:
    return UnsupportedError(
        f"{describe(node)}: {what} would change the batch axis",
        "eventsim keeps the batch axis (axis 0) as it is; reshape only the per-sample axes",
    )


@handler("Reshape")
def reshape(ctx: ImportContext, node) -> None:
    a = ctx.attrs(node, {"allowzero": 0})
    x = ctx.value(node, 0)
    target = [int(d) for d in np.asarray(ctx.const(node, 1, "the target shape")).reshape(-1)]
    full = (BATCH,) + ctx.shape(x)
    if not a["allowzero"]:
        target = [full[i] if d == 0 and i < len(full) else d for i, d in enumerate(target)]
    if not target:
        raise _batch_axis_error(node, "a reshape to a scalar")
    first, rest = target[0], target[1:]
    size = int(np.prod(ctx.shape(x)))
    if any(d < -1 or d == 0 for d in rest) or rest.count(-1) + (first == -1) > 1:
        raise ShapeError(f"{describe(node)}: cannot interpret target shape {target}")
    if first not in (BATCH, -1) and first != ctx.static_batch:
        raise _batch_axis_error(node, f"target shape {target}")
    if -1 in rest:
        known = int(np.prod([d for d in rest if d != -1]))
        if known == 0 or size % known:
            raise ShapeError(f"{describe(node)}: cannot reshape {ctx.shape(x)} to {target}")
        rest = [size // known if d == -1 else d for d in rest]
    if int(np.prod(rest)) != size:
        raise _batch_axis_error(node, f"target shape {target} for per-sample shape {ctx.shape(x)}")
    ctx.set(node.output[0], ctx.reshape(x, tuple(rest), node, node.output[0]))


@handler("Flatten")
def flatten(ctx: ImportContext, node) -> None:
    a = ctx.attrs(node, {"axis": 1})
    x = ctx.value(node, 0)
    rank = len(ctx.shape(x)) + 1
    axis = a["axis"] + rank if a["axis"] < 0 else a["axis"]
    if axis != 1:
        raise _batch_axis_error(node, f"Flatten with axis={a['axis']}")
    ctx.set(node.output[0], ctx.reshape(x, (int(np.prod(ctx.shape(x))),), node, node.output[0]))


def _axes(ctx: ImportContext, node, rank: int) -> list[int] | None:
    """The node's axes (attribute before opset 13, input since), normalised for ``rank``."""
    if ctx.opset < 13:
        axes = ctx.attrs(node, {"axes": None})["axes"]
    else:
        ctx.attrs(node, {})
        axes = ctx.const(node, 1, "axes")
    if axes is None:
        return None
    axes = [int(v) + rank if int(v) < 0 else int(v) for v in np.asarray(axes).reshape(-1)]
    if 0 in axes:
        raise _batch_axis_error(node, f"{node.op_type} of axis 0")
    return axes


@handler("Squeeze")
def squeeze(ctx: ImportContext, node) -> None:
    x = ctx.value(node, 0)
    shape = ctx.shape(x)
    axes = _axes(ctx, node, len(shape) + 1)
    if axes is None:
        axes = [i + 1 for i, d in enumerate(shape) if d == 1]
    if any(shape[i - 1] != 1 for i in axes):
        raise ShapeError(f"{describe(node)}: cannot squeeze axes {axes} of (N, {shape})")
    out = tuple(d for i, d in enumerate(shape) if i + 1 not in axes)
    ctx.set(node.output[0], ctx.reshape(x, out, node, node.output[0]))


@handler("Unsqueeze")
def unsqueeze(ctx: ImportContext, node) -> None:
    x = ctx.value(node, 0)
    shape = list(ctx.shape(x))
    raw = (
        ctx.attrs(node, {"axes": None})["axes"]
        if ctx.opset < 13
        else (ctx.attrs(node, {}), ctx.const(node, 1, "axes"))[1]
    )
    if raw is None:
        raise UnsupportedError(f"{describe(node)}: Unsqueeze needs axes")
    raw = [int(v) for v in np.asarray(raw).reshape(-1)]
    out_rank = len(shape) + 1 + len(raw)
    axes = sorted(v + out_rank if v < 0 else v for v in raw)
    if 0 in axes:
        raise _batch_axis_error(node, "Unsqueeze at axis 0")
    out = [BATCH] + shape
    for ax in axes:
        out.insert(ax, 1)
    ctx.set(node.output[0], ctx.reshape(x, tuple(out[1:]), node, node.output[0]))


@handler("Transpose")
def transpose(ctx: ImportContext, node) -> None:
    x = ctx.value(node, 0)
    rank = len(ctx.shape(x)) + 1
    perm = ctx.attrs(node, {"perm": tuple(reversed(range(rank)))})["perm"]
    if len(perm) != rank or perm[0] != 0:
        raise _batch_axis_error(node, f"Transpose with perm={list(perm)}")
    sample_perm = [p - 1 for p in perm[1:]]
    if x.flat_order is not None:
        ctx.set(node.output[0], x)
        return
    ctx.set(node.output[0], Value(x.node, tuple(x.perm[p] for p in sample_perm)))


@handler("Concat")
def concat(ctx: ImportContext, node) -> None:
    a = ctx.attrs(node, {"axis": None})
    xs = [ctx.value(node, i) for i in range(len(node.input))]
    rank = len(ctx.shape(xs[0])) + 1
    if a["axis"] is None:
        raise UnsupportedError(f"{describe(node)}: Concat needs an axis")
    axis = a["axis"] + rank if a["axis"] < 0 else a["axis"]
    if axis == 0:
        raise _batch_axis_error(node, "Concat along axis 0")
    if any(x.perm != xs[0].perm or x.flat_order is not None for x in xs):
        raise UnsupportedError(f"{describe(node)}: Concat of tensors in different or flattened-transposed layouts")
    internal_axis = xs[0].perm[axis - 1]
    out = ctx.emit("concat", xs, {"axis": internal_axis}, source=node.output[0])
    ctx.set(node.output[0], Value(out.node, xs[0].perm))


@handler("Pad")
def pad(ctx: ImportContext, node) -> None:
    if ctx.opset < 11:
        a = ctx.attrs(node, {"mode": "constant", "pads": None, "value": 0.0, "paddings": None})
        pads, value, axes = a["pads"] or a["paddings"], a["value"], None
    else:
        a = ctx.attrs(node, {"mode": "constant"})
        pads = ctx.const(node, 1, "pads")
        value = ctx.const(node, 2, "the constant value")
        axes = ctx.const(node, 3, "axes")
    if a["mode"] != "constant":
        raise UnsupportedError(
            f"{describe(node)}: Pad mode {a['mode']!r} is not supported", "use zero padding (mode 'constant', value 0)"
        )
    if value is not None and np.asarray(value).size and float(np.asarray(value).reshape(-1)[0]) != 0:
        raise UnsupportedError(
            f"{describe(node)}: padding with the value {float(np.asarray(value).reshape(-1)[0])} is not supported",
            "use zero padding",
        )
    x = ctx.standard_layout(ctx.value(node, 0), node)
    shape = ctx.shape(x)
    rank = len(shape) + 1
    pads = [int(p) for p in np.asarray(pads).reshape(-1)]
    axes = (
        list(range(rank))
        if axes is None
        else [int(v) + rank if v < 0 else int(v) for v in np.asarray(axes).reshape(-1)]
    )
    begin, end = [0] * rank, [0] * rank
    for k, ax in enumerate(axes):
        begin[ax], end[ax] = pads[k], pads[k + len(axes)]
    if rank not in (3, 4) or begin[0] or end[0] or begin[1] or end[1] or min(begin + end) < 0:
        raise UnsupportedError(
            f"{describe(node)}: pads {pads} are supported only as non-negative padding of the "
            "spatial axes of an N x C x H x W or N x C x L tensor"
        )
    if rank == 3:  # 1-D: pad (C, 1, L) and reshape back
        x = ctx.reshape(x, (shape[0], 1, shape[1]), node, source=None)
        out = ctx.emit("pad", [x], {"pads": (0, begin[2], 0, end[2])})
        out = ctx.reshape(out, (shape[0], shape[1] + begin[2] + end[2]), node, source=node.output[0])
    else:
        out = ctx.emit("pad", [x], {"pads": (begin[2], begin[3], end[2], end[3])}, source=node.output[0])
    ctx.set(node.output[0], out)


@handler("Shape")
def shape(ctx: ImportContext, node) -> None:
    a = ctx.attrs(node, {"start": 0, "end": None})
    x = ctx.value(node, 0)
    full = np.array((BATCH,) + ctx.shape(x), np.int64)
    ctx.set_const(node.output[0], full[a["start"] : a["end"]])


#: Resize's attributes (all opsets); which of them make a nearest upsampling is decided by evaluating it.
_RESIZE_ATTRS = {
    "mode": "nearest",
    "coordinate_transformation_mode": "half_pixel",
    "nearest_mode": "round_prefer_floor",
    "cubic_coeff_a": -0.75,
    "exclude_outside": 0,
    "extrapolation_value": 0.0,
    "antialias": 0,
    "axes": None,
    "keep_aspect_ratio_policy": "stretch",
}


@handler("Resize")
def resize(ctx: ImportContext, node) -> None:
    """Nearest-neighbour upsampling by whole factors on H and W becomes ``upsample``. Which element
    each output reads is found by running the node itself in onnx's reference evaluator on an input
    that holds its own positions, so every attribute combination means what ONNX says it means."""
    ctx.attrs(node, _RESIZE_ATTRS)
    x = ctx.standard_layout(ctx.value(node, 0), node)
    shape = ctx.shape(x)
    if len(shape) != 3:
        raise UnsupportedError(
            f"{describe(node)}: input has shape (N, {', '.join(map(str, shape))}); eventsim resizes (N, C, H, W)"
        )
    constants = [ctx.const(node, i, f"input {i} (roi, scales or sizes)") for i in range(1, len(node.input))]
    batch = ctx.static_batch or 1  # sizes may name the model's static batch
    probe = np.arange(batch * int(np.prod(shape)), dtype=np.float32).reshape((batch,) + shape)
    try:
        (read,) = fold_node(node, [probe] + constants, ctx.opset_imports, ctx.ir_version)
    except UnsupportedError as exc:  # e.g. a coordinate mode onnx's reference does not implement
        raise UnsupportedError(
            f"{describe(node)}: only nearest-neighbour upsampling of H and W by whole factors is supported, and this "
            f"Resize cannot be evaluated to check that it is one ({exc.problem})",
            "use mode 'nearest', coordinate mode 'asymmetric' or 'half_pixel', whole scale factors ≥ 1 on H and W",
        ) from None
    factors = tuple(o // i for o, i in zip(read.shape[2:], shape[1:])) if read.ndim == 4 else ()
    expected = None
    if read.shape[:2] == (batch, shape[0]) and len(factors) == 2 and min(factors) >= 1:
        expected = np.repeat(np.repeat(probe, factors[0], axis=2), factors[1], axis=3)
    if expected is None or expected.shape != read.shape or not np.array_equal(read, expected):
        raise UnsupportedError(
            f"{describe(node)}: only nearest-neighbour upsampling of H and W by whole factors is supported "
            f"(this Resize maps (N, {', '.join(map(str, shape))}) to {tuple(read.shape[1:])} per sample, "
            "not by repeating elements)",
            "use mode 'nearest' with whole scale factors ≥ 1 on H and W (e.g. nn.Upsample(scale_factor=2))",
        )
    ctx.set(node.output[0], ctx.emit("upsample", [x], {"scale": factors}, source=node.output[0]))
