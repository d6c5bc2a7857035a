"""The worst articles the limits let through, typeset: how long the slowest takes and how
much memory the hungriest needs (the README's editor section lists the limits)."""

from __future__ import annotations

import time
import tracemalloc
from typing import Any

from broadsheet.content.findings import FindingSink
from broadsheet.content.typeset import MAX_BLOCK, MAX_BODY, MAX_CELLS, typeset


def _fill(unit: str, length: int) -> str:
    return (unit * (length // len(unit) + 1))[:length]


def worst_bodies() -> dict[str, str]:
    """Bodies just inside every limit, each built to hurt one part of the typesetter."""
    paragraphs = MAX_BODY // (MAX_BLOCK + 2)
    row = "| " + " | ".join(["cell"] * 10) + " |"
    rows = MAX_CELLS // 10 - 1
    table = "\n".join([row, "|" + "---|" * 10, *[row] * rows])
    return {
        # smart quotes: nested opening and closing quotes, as long as a paragraph may be
        "quotes": "\n\n".join([_fill("\"'x", MAX_BLOCK - 1)] * paragraphs),
        "emphasis": "\n\n".join([_fill("*a **b _c ", MAX_BLOCK - 1)] * paragraphs),
        "links": "\n\n".join([_fill("[a](https://e.org/x) ", MAX_BLOCK - 1)] * paragraphs),
        "table": table,
        "nesting": "\n".join(f"{'  ' * (i % 30)}- > item" for i in range(MAX_BODY // 80)),
        "footnotes": "\n\n".join(f"Note[^{i}].\n\n[^{i}]: Text {i}." for i in range(2_000))[
            : MAX_BODY - 1
        ],
    }


def worst_case() -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for name, body in worst_bodies().items():
        sink = FindingSink("worst.md")
        started = time.perf_counter()
        result = typeset(body, 1, "en", sink)
        seconds = time.perf_counter() - started
        tracemalloc.start()
        typeset(body, 1, "en", FindingSink("worst.md"))
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        figures[name] = {
            "characters": len(body),
            "passes": result is not None and not sink.findings,
            "seconds": round(seconds, 2),
            "peak_mb": round(peak, 1),
        }
    return figures


if __name__ == "__main__":
    import json

    print(json.dumps(worst_case(), indent=1))
