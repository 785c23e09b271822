"""Train a small BatchNorm CNN on scikit-learn's digits and export it to ONNX.

Produces, in the output directory (default ``eventsim/data`` under the repo root):

* ``digits_cnn.onnx`` - the trained CNN, classic (TorchScript) exporter, opset 13,
  dynamic batch axis, BatchNormalization nodes kept (no constant folding);
* ``digits.npz`` - float32 ``x_calib``/``x_test`` of shape (N, 1, 8, 8) scaled to
  [0, 1] and int64 ``y_calib``/``y_test``;
* ``digits_cnn.json`` - metadata: architecture, data split, ANN test accuracy, ...

Data: ``sklearn.datasets.load_digits`` (1797 8x8 images, values 0..16), split
with stratified ``train_test_split`` (random_state=0) into 1197 train / 300
calibration / 300 test samples. Training is deterministic (fixed seeds, CPU).
The exported file is checked in onnxruntime: it must reproduce the PyTorch
test accuracy exactly.

Run from the repository root::

    python examples/train_digits.py [--out eventsim/data] [--epochs 40]
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED = 0
N_CALIB = 300
N_TEST = 300
MIN_TEST_ACCURACY = 0.95
MAX_DATA_DIR_BYTES = 5 * 1024 * 1024  # all bundled models and data together (issue 4: ≤ 5 MB)
ARCHITECTURE = (
    "Conv(1->8,3x3,pad1)-BN-ReLU-MaxPool2 -> Conv(8->16,3x3,pad1)-BN-ReLU-MaxPool2 "
    "-> Flatten -> Linear(64->32)-ReLU -> Linear(32->10)"
)

warnings.filterwarnings("ignore", message="You are using the legacy TorchScript-based ONNX export")


@dataclass(frozen=True)
class Split:
    """Digits images (N, 1, 8, 8) float32 in [0, 1] and int64 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_calib: np.ndarray
    y_calib: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


class DigitsCNN(nn.Module):
    """LeNet-style CNN with BatchNorm and max-pooling for 1x8x8 inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(16 * 2 * 2, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def load_split() -> Split:
    """Load digits, scale to [0, 1] and make the fixed stratified split."""
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    y = digits.target.astype(np.int64)
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=N_TEST, stratify=y, random_state=SEED)
    x_train, x_calib, y_train, y_calib = train_test_split(
        x_rest, y_rest, test_size=N_CALIB, stratify=y_rest, random_state=SEED
    )
    return Split(x_train, y_train, x_calib, y_calib, x_test, y_test)


def train(model: nn.Module, x: np.ndarray, y: np.ndarray, epochs: int, batch_size: int = 64) -> None:
    """Adam with a cosine learning-rate schedule and seeded shuffling."""
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    generator = torch.Generator().manual_seed(SEED)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=generator).split(batch_size):
            optimizer.zero_grad()
            loss_fn(model(xt[idx]), yt[idx]).backward()
            optimizer.step()
        scheduler.step()
    model.eval()


def torch_predict(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).argmax(dim=1).numpy()


def onnx_predict(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {session.get_inputs()[0].name: x})
    return logits.argmax(axis=1)


def export_onnx(model: nn.Module, path: Path) -> None:
    """Classic exporter, opset 13, dynamic batch, BatchNormalization kept."""
    torch.onnx.export(
        model,
        (torch.zeros(1, 1, 8, 8),),
        str(path),
        dynamo=False,
        opset_version=13,
        do_constant_folding=False,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )


def accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(pred == y))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("eventsim/data"),
        help="output directory; relative paths are resolved against the repository root",
    )
    parser.add_argument("--epochs", type=int, default=40)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    out_dir = args.out if args.out.is_absolute() else REPO_ROOT / args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_flush_denormal(True)
    torch.manual_seed(SEED)

    data = load_split()
    model = DigitsCNN()
    train(model, data.x_train, data.y_train, args.epochs)
    test_acc = accuracy(torch_predict(model, data.x_test), data.y_test)
    calib_acc = accuracy(torch_predict(model, data.x_calib), data.y_calib)
    print(f"train {len(data.y_train)} / calib {len(data.y_calib)} / test {len(data.y_test)}")
    print(f"PyTorch accuracy: test {test_acc:.4f}, calibration {calib_acc:.4f}")

    onnx_path = out_dir / "digits_cnn.onnx"
    export_onnx(model, onnx_path)
    ops = sorted({node.op_type for node in onnx.load(str(onnx_path)).graph.node})
    print(f"ONNX ops: {', '.join(ops)}")
    onnx_test_acc = accuracy(onnx_predict(onnx_path, data.x_test), data.y_test)
    print(f"onnxruntime test accuracy: {onnx_test_acc:.4f}")

    np.savez_compressed(
        out_dir / "digits.npz",
        x_calib=data.x_calib,
        y_calib=data.y_calib,
        x_test=data.x_test,
        y_test=data.y_test,
    )
    metadata = {
        "model": ARCHITECTURE,
        "dataset": "scikit-learn load_digits",
        "split": {
            "train": len(data.y_train),
            "calibration": len(data.y_calib),
            "test": len(data.y_test),
            "method": "stratified sklearn train_test_split, random_state=0: test first, "
            "then calibration from the remainder",
        },
        "ann_test_accuracy": test_acc,
        "input_shape": [1, 8, 8],
        "input_scaling": "pixel / 16 -> [0, 1]",
        "classes": 10,
        "trained_by": "examples/train_digits.py",
        "torch_version": torch.__version__,
    }
    (out_dir / "digits_cnn.json").write_text(json.dumps(metadata, indent=2) + "\n")

    total = sum(f.stat().st_size for f in out_dir.iterdir() if f.is_file())
    for f in sorted(out_dir.iterdir()):
        print(f"  {f.name:18s} {f.stat().st_size / 1024:6.1f} KB")
    failures = []
    if "BatchNormalization" not in ops:
        failures.append("BatchNormalization nodes were folded away")
    if test_acc < MIN_TEST_ACCURACY:
        failures.append(f"test accuracy {test_acc:.4f} < {MIN_TEST_ACCURACY}")
    if onnx_test_acc != test_acc:
        failures.append(f"onnxruntime accuracy {onnx_test_acc:.4f} != PyTorch {test_acc:.4f}")
    if total > MAX_DATA_DIR_BYTES:
        failures.append(f"{out_dir} holds {total} bytes > {MAX_DATA_DIR_BYTES}")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
