"""Export small, untrained PyTorch CNN/MLP models to ONNX as importer test fixtures.

Produces, in the output directory (default ``tests/models`` under the repo root):

* twelve ``*.onnx`` files (plus ``lenet_dynamo.onnx.data``, the external weight
  file written by the dynamo exporter), each exercising a different export
  pattern: BatchNormalization kept or folded, Clip/ReLU6, depthwise and
  grouped convolutions, residual adds, input normalisation, dynamic batch
  reshape chains, QCFS quantised activations, concatenation, ceil-mode
  pooling, Softmax, Relu+Min/Clip, channels-last input with MatMul+Add;
* ``MANIFEST.json`` describing every file (per-sample input shape without the
  batch axis, exporter, opset, whether the batch axis is dynamic, external data
  file, and what the model exercises).

Weights are random (seeded per model) and every BatchNorm layer gets
non-trivial running statistics and affine parameters, so BN folding is really
tested. After export each file is loaded in onnxruntime, run on a random batch
(4 samples for dynamic-batch models, 1 for static ones) and compared with the
PyTorch output; the script exits with an error if any check fails.

Run from the repository root::

    python examples/export_test_models.py [--out tests/models]
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

REPO_ROOT = Path(__file__).resolve().parents[1]
MAX_ABS_DIFF = 1e-4
MAX_FILE_BYTES = 100 * 1024
DYNAMIC_BATCHES = (4, 3)

# The TorchScript-based exporter is deprecated but still what most published
# ONNX CNNs were produced with; silence its deprecation notice.
warnings.filterwarnings("ignore", message="You are using the legacy TorchScript-based ONNX export")


class CheckFailed(RuntimeError):
    """Raised when an exported model does not meet its expectations."""


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------


def conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    """Conv (no bias, 'same'-style padding) followed by BatchNorm."""
    return [
        nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]


class LeNetBN(nn.Module):
    """LeNet-style CNN for 1x28x28 input with BatchNorm after each conv."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 5, padding=2),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(4, 8, 5, padding=2),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Linear(8 * 7 * 7, 32), nn.ReLU(), nn.Linear(32, 10))
        self.flatten = nn.Flatten()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.features(x)))


class LeNetView(LeNetBN):
    """LeNetBN flattened with ``x.view(x.size(0), -1)`` (Shape/Gather/.../Reshape chain)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.classifier(x.view(x.size(0), -1))


class DepthwiseSeparable(nn.Module):
    """Depthwise 3x3 conv (channel multiplier ``mult``) + BN + ReLU6, pointwise 1x1 + BN + ReLU6."""

    def __init__(self, cin: int, cout: int, stride: int, mult: int = 1) -> None:
        super().__init__()
        self.block = nn.Sequential(
            *conv_bn(cin, cin * mult, 3, stride=stride, groups=cin),
            nn.ReLU6(),
            *conv_bn(cin * mult, cout, 1),
            nn.ReLU6(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class TinyMobileNet(nn.Module):
    """MobileNet-v1-like: strided stem, two depthwise-separable blocks, GAP, Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            *conv_bn(3, 8, 3, stride=2),
            nn.ReLU6(),
            DepthwiseSeparable(8, 16, stride=2),
            DepthwiseSeparable(16, 16, stride=1, mult=2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(16, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class BasicBlock(nn.Module):
    """ResNet basic block; a strided 1x1 conv + BN projection when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*conv_bn(cin, cout, 3, stride=stride), nn.ReLU(), *conv_bn(cout, cout, 3))
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(*conv_bn(cin, cout, 1, stride=stride))
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class TinyResNet(nn.Module):
    """Stem conv, identity block, stride-2 projection block, GAP, Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            *conv_bn(3, 8, 3),
            nn.ReLU(),
            BasicBlock(8, 8, stride=1),
            BasicBlock(8, 16, stride=2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(16, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class NormalizedMLP(nn.Module):
    """``(x - mean) / std`` with constant per-channel buffers, then a 3-layer MLP."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.1307]).view(1, 1, 1))
        self.register_buffer("std", torch.tensor([0.3081]).view(1, 1, 1))
        self.mlp = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64, 32),
            nn.ReLU(),
            nn.Linear(32, 16),
            nn.ReLU(),
            nn.Linear(16, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp((x - self.mean) / self.std)


class QCFS(nn.Module):
    """Quantization-clip-floor-shift activation (Bu et al., ICLR 2022).

    ``clamp_first=False`` is the order of the authors' code (floor, then clip);
    ``clamp_first=True`` clips to [0, 1] before quantising.
    """

    def __init__(self, up: float, t: int, clamp_first: bool) -> None:
        super().__init__()
        self.up = nn.Parameter(torch.tensor([up]))
        self.t = t
        self.clamp_first = clamp_first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.clamp_first:
            x = torch.clamp(x / self.up, 0, 1)
            x = torch.floor(x * self.t + 0.5) / self.t
        else:
            x = x / self.up
            x = torch.floor(x * self.t + 0.5) / self.t
            x = torch.clamp(x, 0, 1)
        return x * self.up


class QCFSNet(nn.Module):
    """conv-QCFS-maxpool-conv-QCFS-flatten-linear for 1x12x12 input."""

    def __init__(self, t: int, clamp_first: bool) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),
            QCFS(2.0, t, clamp_first),
            nn.MaxPool2d(2),
            nn.Conv2d(4, 8, 3, padding=1),
            QCFS(3.0, t, clamp_first),
            nn.Flatten(),
            nn.Linear(8 * 6 * 6, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConcatPoolNet(nn.Module):
    """ZeroPad2d + unpadded conv, inception-like concat block, ceil-mode pools, Softmax.

    15x15 input -> pad 17 -> 5x5 conv 13 -> MaxPool(2, ceil) 7 -> AvgPool(2, ceil) 4,
    so both ceil-mode pools see partial windows at the bottom/right border.
    """

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.ZeroPad2d(1), nn.Conv2d(3, 8, 5))
        self.branch1 = nn.Conv2d(8, 4, 1)
        self.branch3 = nn.Conv2d(8, 4, 3, padding=1)
        self.branch_pool = nn.Sequential(
            nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False), nn.Conv2d(8, 4, 1)
        )
        self.head = nn.Sequential(
            nn.ReLU(),
            nn.MaxPool2d(2, ceil_mode=True),
            nn.AvgPool2d(2, ceil_mode=True),
            nn.Flatten(),
            nn.Linear(12 * 4 * 4, 10),
            nn.Softmax(dim=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = torch.cat([self.branch1(x), self.branch3(x), self.branch_pool(x)], dim=1)
        return self.head(x)


class ReluMinNet(nn.Module):
    """Bias-free conv, ``clamp(relu(x), max=6)``, Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, bias=False)
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.clamp(torch.relu(self.conv(x)), max=6.0)
        return self.fc(torch.flatten(x, 1))


class NHWCNet(nn.Module):
    """Channels-last (tf2onnx-style) model: NHWC input, transposes, HWC flatten, MatMul + Add."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        features = 6 * 6 * 8
        self.weight = nn.Parameter(torch.randn(features, 10) / features**0.5)
        self.bias = nn.Parameter(torch.randn(10) * 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 3, 1, 2)
        x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        x = x.permute(0, 2, 3, 1)
        x = x.reshape(x.shape[0], -1)
        return torch.matmul(x, self.weight) + self.bias


def randomize_batchnorm(model: nn.Module) -> None:
    """Give every BatchNorm layer non-trivial running stats and affine parameters."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn_like(m.running_mean) * 0.5)
                m.running_var.copy_(torch.rand_like(m.running_var) * 1.5 + 0.5)
                m.weight.copy_(torch.rand_like(m.weight) + 0.5)
                m.bias.copy_(torch.randn_like(m.bias) * 0.2)


def scale_conv_weights(model: nn.Module, gain: float) -> None:
    """Multiply all conv weights by ``gain`` so clipping activations saturate on N(0, 1) inputs."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.mul_(gain)


# ---------------------------------------------------------------------------
# Export specifications
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """How to build, export and check one test model."""

    file: str
    build: Callable[[], nn.Module]
    input_shape: tuple[int, ...]
    description: str
    opset: int
    exporter: str = "classic"
    constant_folding: bool = True
    dynamic_batch: bool = False
    conv_gain: float = 1.0
    required_ops: frozenset[str] = field(default_factory=frozenset)
    forbidden_ops: frozenset[str] = field(default_factory=frozenset)
    any_of_ops: frozenset[str] = field(default_factory=frozenset)
    seed: int | None = None  # default: the spec's position; equal seeds give equal weights


SPECS: list[ModelSpec] = [
    ModelSpec(
        "lenet_bn.onnx",
        LeNetBN,
        (1, 28, 28),
        "LeNet Conv5x5(pad2)-BN-ReLU-MaxPool x2, Flatten, Linear-ReLU-Linear; "
        "BatchNormalization nodes kept (no constant folding)",
        opset=13,
        constant_folding=False,
        required_ops=frozenset({"BatchNormalization", "Flatten", "Gemm"}),
    ),
    ModelSpec(
        "lenet_bn_fused.onnx",
        LeNetBN,
        (1, 28, 28),
        "Same LeNet with BN folded into the Conv weights by the exporter's constant folding",
        opset=13,
        forbidden_ops=frozenset({"BatchNormalization"}),
        seed=0,
    ),
    ModelSpec(
        "mobilenet_relu6.onnx",
        TinyMobileNet,
        (3, 32, 32),
        "Strided stem, depthwise (groups=C) and channel-multiplier-2 depthwise convs, "
        "unfused BN, ReLU6 as opset-11 Clip with min/max inputs (conv weights scaled x6 so "
        "the upper clip saturates), GlobalAveragePool, Linear",
        opset=11,
        constant_folding=False,
        conv_gain=6.0,
        required_ops=frozenset({"BatchNormalization", "Clip"}),
    ),
    ModelSpec(
        "resnet_tiny.onnx",
        TinyResNet,
        (3, 16, 16),
        "ResNet basic blocks: identity shortcut and stride-2 1x1-conv projection shortcut, "
        "Add then ReLU, BN folded, GlobalAveragePool, Linear",
        opset=13,
        required_ops=frozenset({"Add"}),
    ),
    ModelSpec(
        "mlp_normalized.onnx",
        NormalizedMLP,
        (1, 8, 8),
        "Input normalisation (x - mean) / std with constant per-channel tensors (Sub, Div), Flatten, 3-layer MLP",
        opset=13,
        required_ops=frozenset({"Sub", "Div"}),
    ),
    ModelSpec(
        "lenet_dynamic.onnx",
        LeNetView,
        (1, 28, 28),
        "LeNet (BN folded) flattened with x.view(x.size(0), -1) and a dynamic batch axis: "
        "Shape-Gather-Unsqueeze-Concat-Reshape chain",
        opset=13,
        dynamic_batch=True,
        required_ops=frozenset({"Shape", "Gather", "Unsqueeze", "Concat", "Reshape"}),
    ),
    ModelSpec(
        "lenet_dynamo.onnx",
        LeNetBN,
        (1, 28, 28),
        "LeNet-BN exported by the torch.export-based (dynamo) exporter, weights in the "
        "external data file lenet_dynamo.onnx.data, dynamic batch; its optimizer folds BN "
        "into Conv and writes Flatten as Reshape(allowzero=1) to [-1, 392]",
        opset=18,
        exporter="dynamo",
        dynamic_batch=True,
    ),
    ModelSpec(
        "qcfs_cnn.onnx",
        lambda: QCFSNet(t=4, clamp_first=False),
        (1, 12, 12),
        "QCFS activation (Bu et al. 2022), authors' order: x/up, floor(x*L+0.5)/L, clamp[0,1], "
        "*up; L=4, up=2.0 and 3.0 (conv weights scaled x3 so all levels occur)",
        opset=13,
        conv_gain=3.0,
        required_ops=frozenset({"Floor", "Clip", "Div", "Mul"}),
    ),
    ModelSpec(
        "qcfs_cnn_clampfirst.onnx",
        lambda: QCFSNet(t=8, clamp_first=True),
        (1, 12, 12),
        "QCFS with clamp before quantisation: clamp(x/up,0,1), floor(x*L+0.5)/L, *up; L=8",
        opset=13,
        conv_gain=3.0,
        required_ops=frozenset({"Floor", "Clip"}),
    ),
    ModelSpec(
        "concat_pool.onnx",
        ConcatPoolNet,
        (3, 15, 15),
        "ZeroPad2d as Pad whose pads come from a Constant/ConstantOfShape/Concat/Reshape/"
        "Slice/Transpose/Cast chain, unpadded 5x5 conv, inception branches concatenated on channels "
        "(AvgPool count_include_pad=False), ceil-mode MaxPool and AvgPool with partial "
        "windows on odd sizes, final Softmax",
        opset=13,
        required_ops=frozenset({"Pad", "Concat", "MaxPool", "AveragePool", "Softmax"}),
    ),
    ModelSpec(
        "relu_min.onnx",
        ReluMinNet,
        (1, 10, 10),
        "Bias-free conv (weights scaled x20), Relu followed by Clip(x, '', 6) with only a max input, Flatten, Linear",
        opset=13,
        conv_gain=20.0,
        required_ops=frozenset({"Relu"}),
        any_of_ops=frozenset({"Clip", "Min"}),
    ),
    ModelSpec(
        "nhwc_input.onnx",
        NHWCNet,
        (12, 12, 3),
        "Channels-last NHWC input: Transpose to NCHW, two Conv+ReLU, Transpose back, "
        "HWC-order reshape flatten, explicit MatMul + Add; dynamic batch",
        opset=13,
        dynamic_batch=True,
        required_ops=frozenset({"Transpose", "Reshape", "MatMul", "Add"}),
    ),
]


# ---------------------------------------------------------------------------
# Export, inspection and verification
# ---------------------------------------------------------------------------


def build_model(spec: ModelSpec, seed: int) -> nn.Module:
    """Instantiate the model deterministically with randomised BatchNorm, in eval mode."""
    torch.manual_seed(seed)
    model = spec.build()
    randomize_batchnorm(model)
    scale_conv_weights(model, spec.conv_gain)
    return model.eval()


def export_classic(model: nn.Module, spec: ModelSpec, path: Path) -> None:
    """Export with the TorchScript-based exporter (``dynamo=False``)."""
    dummy = torch.randn(1, *spec.input_shape)
    dynamic_axes = {"input": {0: "batch"}, "output": {0: "batch"}} if spec.dynamic_batch else None
    torch.onnx.export(
        model,
        (dummy,),
        str(path),
        dynamo=False,
        opset_version=spec.opset,
        do_constant_folding=spec.constant_folding,
        input_names=["input"],
        output_names=["output"],
        dynamic_axes=dynamic_axes,
    )


def export_dynamo(model: nn.Module, spec: ModelSpec, path: Path) -> None:
    """Export with the torch.export-based exporter, weights as external data."""
    dummy = torch.randn(2, *spec.input_shape)  # batch 2: a size-1 dim would be specialised
    dynamic_shapes = ({0: torch.export.Dim("batch", min=1, max=1024)},) if spec.dynamic_batch else None
    torch.onnx.export(
        model,
        (dummy,),
        str(path),
        dynamo=True,
        opset_version=spec.opset,
        external_data=True,
        dynamic_shapes=dynamic_shapes,
        verbose=False,
        input_names=["input"],
        output_names=["output"],
    )


def op_counts(path: Path) -> Counter[str]:
    """Count node op types in the main graph (without loading external data)."""
    model = onnx.load(str(path), load_external_data=False)
    return Counter(node.op_type for node in model.graph.node)


def file_opset(path: Path) -> int:
    """The default-domain opset the file declares."""
    model = onnx.load(str(path), load_external_data=False)
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def check_ops(spec: ModelSpec, ops: Counter[str]) -> None:
    """Raise if required ops are missing or forbidden ops are present."""
    missing = spec.required_ops - ops.keys()
    present = spec.forbidden_ops & ops.keys()
    if missing:
        raise CheckFailed(f"{spec.file}: missing ops {sorted(missing)}")
    if present:
        raise CheckFailed(f"{spec.file}: unexpected ops {sorted(present)}")
    if spec.any_of_ops and not spec.any_of_ops & ops.keys():
        raise CheckFailed(f"{spec.file}: none of {sorted(spec.any_of_ops)} present")


def test_batches(spec: ModelSpec) -> tuple[int, ...]:
    """Batch sizes to verify: 4 and 3 for a dynamic batch axis, else the exported 1."""
    return DYNAMIC_BATCHES if spec.dynamic_batch else (1,)


def max_diff_vs_onnxruntime(model: nn.Module, spec: ModelSpec, path: Path, seed: int) -> float:
    """Run random batches through PyTorch and onnxruntime; return the max abs difference."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    rng = np.random.default_rng(seed)
    diffs = []
    for batch in test_batches(spec):
        x = rng.standard_normal((batch, *spec.input_shape)).astype(np.float32)
        (got,) = session.run(None, {input_name: x})
        with torch.no_grad():
            expected = model(torch.from_numpy(x)).numpy()
        if got.shape != expected.shape:
            raise CheckFailed(f"{spec.file}: shape {got.shape} != expected {expected.shape}")
        diffs.append(float(np.max(np.abs(got - expected))))
    return max(diffs)


def export_one(spec: ModelSpec, out_dir: Path, seed: int) -> dict[str, object]:
    """Export, inspect and verify one model; return its manifest entry."""
    path = out_dir / spec.file
    data = path.with_name(path.name + ".data")
    data.unlink(missing_ok=True)
    model = build_model(spec, seed)
    exporter = export_dynamo if spec.exporter == "dynamo" else export_classic
    exporter(model, spec, path)

    ops = op_counts(path)
    check_ops(spec, ops)
    if spec.exporter == "dynamo" and not data.exists():
        raise CheckFailed(f"{spec.file}: external data file {data.name} was not written")
    size = path.stat().st_size + (data.stat().st_size if data.exists() else 0)
    if size > MAX_FILE_BYTES:
        raise CheckFailed(f"{spec.file}: {size} bytes exceeds {MAX_FILE_BYTES}")
    diff = max_diff_vs_onnxruntime(model, spec, path, seed)
    if not diff < MAX_ABS_DIFF:
        raise CheckFailed(f"{spec.file}: max abs diff {diff:.3g} >= {MAX_ABS_DIFF}")

    opset = file_opset(path)
    batches = ",".join(map(str, test_batches(spec)))
    print(f"{spec.file:26s} {size / 1024:5.1f} KB  opset {opset:2d}  batch {batches:3s}  max|diff| {diff:.2e}")
    print("    ops: " + ", ".join(f"{op}x{n}" for op, n in sorted(ops.items())))
    return {
        "file": spec.file,
        "input_shape": list(spec.input_shape),
        "exporter": spec.exporter,
        "opset": opset,
        "dynamic_batch": spec.dynamic_batch,
        "external_data": data.name if data.exists() else None,
        "description": spec.description,
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("tests/models"),
        help="output directory; relative paths are resolved against the repository root",
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    out_dir = args.out if args.out.is_absolute() else REPO_ROOT / args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"torch {torch.__version__}, onnx {onnx.__version__}, onnxruntime {ort.__version__}")
    try:
        manifest = [export_one(spec, out_dir, i if spec.seed is None else spec.seed) for i, spec in enumerate(SPECS)]
    except CheckFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    (out_dir / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {len(manifest)} models and MANIFEST.json to {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
