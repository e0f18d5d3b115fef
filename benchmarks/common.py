"""Timing, tables and JSON for the benchmarks: warm up, block until ready, report the median.

Follows nanoGPT's bench.py: time exactly what happens in the meat of the loop. The
machine is noisy, so every benchmark runs the contenders side by side in one process
and reports ratios; absolute times are for orientation only.
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import statistics
import time
from typing import Callable

import jax


def block(tree):
    """Waits for JAX arrays (and is a no-op for torch tensors, whose CPU ops are synchronous)."""
    return jax.block_until_ready(tree)


def median_seconds(run: Callable[[], object], *, reps: int, warmup: int = 2, budget_s: float | None = None) -> tuple[float, int]:
    """Median wall time of ``run()`` over ``reps`` timed calls after ``warmup`` untimed ones.

    With ``budget_s``, stops early (after at least 2 timed calls) once the budget is spent,
    so the largest shapes do not take minutes. Returns ``(median, timed calls)``."""
    for _ in range(warmup):
        block(run())
    times: list[float] = []
    start_all = time.perf_counter()
    while len(times) < reps:
        start = time.perf_counter()
        block(run())
        times.append(time.perf_counter() - start)
        if budget_s is not None and len(times) >= 2 and time.perf_counter() - start_all > budget_s:
            break
    return statistics.median(times), len(times)


def machine() -> dict:
    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "jax": jax.__version__, "jax_devices": [str(d) for d in jax.devices()]}
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        info["cpu_model"] = names[0] if names else None
    except OSError:
        pass
    return info


def format_table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """Markdown table; ``columns`` are (key, header, format)."""
    lines = ["| " + " | ".join(h for _, h, _ in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for key, _, fmt in columns:
            value = row.get(key)
            cells.append("—" if value is None else (format(value, fmt) if fmt else str(value)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_json(path: str | pathlib.Path, payload: dict) -> None:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=1))
    print(f"wrote {path}")
