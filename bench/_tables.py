"""What the table benchmarks share: writing their markdown and JSON side by side."""

from __future__ import annotations

import json
from pathlib import Path


def write_table(out: Path | None, stem: str, text: str, rows) -> None:
    """Print the markdown; with ``out``, also write ``stem``.md and ``stem``.json there."""
    print(text)
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{stem}.md").write_text(text + "\n")
        (out / f"{stem}.json").write_text(json.dumps(rows, indent=2))
