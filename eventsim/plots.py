"""Figures (matplotlib, headless)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def accuracy_vs_steps_png(table: dict, title: str = "") -> bytes:
    """PNG of test accuracy against time steps, one line per preset, the ANN as a dashed line."""
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for preset, row in table["presets"].items():
        ax.plot(table["steps"], [100 * a for a in row["accuracy"]], marker="o", label=preset)
    ax.axhline(100 * table["ann_accuracy"], color="black", linestyle="--", label="ANN")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("time steps T")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
