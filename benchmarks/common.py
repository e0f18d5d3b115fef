"""Timing, tables and JSON for the benchmarks: warm up, block until ready, time the contenders
round-robin, report the median.

Follows nanoGPT's bench.py: time exactly what happens in the meat of the loop. The
machine is noisy, so every benchmark runs the contenders side by side in one process
and reports ratios; absolute times are for orientation only.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import pathlib
import platform
import statistics
import sys
import time
import typing
from typing import Callable, Literal

import jax

# A benchmark's command line is the experiments' one: it keeps freed host memory (process-wide, so
# every contender gets it alike), parses the --field=value overrides and runs.
from seqjax.train.config import run_main as run_main
from seqjax.core import host_memory


def block(tree):
    """Waits for JAX arrays (and is a no-op for torch tensors: a torch contender synchronizes its
    own device at the end of each call, see ``torch_device``)."""
    return jax.block_until_ready(tree)


# --matmul_precision: what a float32 matmul computes with. "float32" is true float32 for every
# contender; "tensorfloat32" lets both JAX and PyTorch (matmuls and cuDNN) use TF32 tensor cores.
# On the CPU both give float32. "default" leaves each framework at its own default, which differ on
# GPUs: JAX uses TF32 for float32 dots there, PyTorch only inside cuDNN's RNNs and convolutions.
Precision = Literal["float32", "tensorfloat32", "default"]
PRECISIONS = typing.get_args(Precision)


def set_matmul_precision(name: Precision) -> None:
    if name not in PRECISIONS:
        raise ValueError(f"matmul_precision must be one of {PRECISIONS}, got {name!r}")
    if name == "default":
        return
    jax.config.update("jax_default_matmul_precision", name)
    try:
        import torch
    except ImportError:
        return
    tf32 = name == "tensorfloat32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


def torch_device():
    """Where a torch contender runs: the GPU when JAX runs on one too (so the peers share a device),
    else the CPU. Returns ``(device, sync)``; a contender calls ``sync()`` at the end of each call,
    since CUDA kernels run asynchronously."""
    import torch

    if jax.default_backend() == "gpu" and torch.cuda.is_available():
        return torch.device("cuda"), torch.cuda.synchronize
    return torch.device("cpu"), lambda: None


def torch_train_step(module, optimizer, inputs: list, sync: Callable[[], None]) -> Callable[[], object]:
    """One training step of a PyTorch peer whose forward returns its loss: zero the gradients,
    forward, backward, update, synchronise the device."""

    def step():
        optimizer.zero_grad()
        loss = module(*inputs)
        loss.backward()
        optimizer.step()
        sync()
        return loss

    return step


def warm_up(runs: list[Callable[[], object]], threads: int | None = None) -> None:
    """Calls every contender once, ``threads`` at a time (default: one per CPU core), so that their
    compilations overlap: XLA compiles off the GIL, and on a GPU each compilation autotunes its
    kernels for seconds. Timing is untouched: the contenders are then timed round-robin, alone."""
    threads = threads or os.cpu_count() or 1
    if threads == 1:
        for run in runs:
            block(run())
        return
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda run: block(run()), runs))  # list(): re-raises a contender's error here


def interleaved_medians(runs: dict[str, Callable[[], object]], *, reps: int, warmup: int = 2,
                        budget_s: float | None = None) -> dict[str, tuple[float, int]]:
    """Median wall time of each contender, timed round-robin: every round calls each contender
    once, so a slow spell of this shared machine hits all of them alike instead of whichever
    happened to be running (their ratios are what the benchmarks report).

    ``budget_s`` is per contender: timing stops after the round in which the rounds' total
    time passed ``budget_s`` times the number of contenders (at least 2 rounds). Returns
    ``{name: (median seconds, timed calls)}``."""
    for run in runs.values():
        for _ in range(warmup):
            block(run())
    times: dict[str, list[float]] = {name: [] for name in runs}
    start_all = time.perf_counter()
    for round_ in range(reps):
        for name, run in runs.items():
            start = time.perf_counter()
            block(run())
            times[name].append(time.perf_counter() - start)
        if budget_s is not None and round_ >= 1 and time.perf_counter() - start_all > budget_s * len(runs):
            break
    return {name: (statistics.median(t), len(t)) for name, t in times.items()}


def machine() -> dict:
    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "jax": jax.__version__, "jax_devices": [str(d) for d in jax.devices()],
            "keep_freed_memory": host_memory.in_effect(), "jax_backend": jax.default_backend(),
            "accelerator": jax.devices()[0].device_kind if jax.default_backend() != "cpu" else None,
            "jax_matmul_precision": jax.config.jax_default_matmul_precision, "xla_flags": os.environ.get("XLA_FLAGS")}
    try:
        import torch

        info["torch"] = torch.__version__
        if jax.default_backend() == "gpu" and torch.cuda.is_available():
            info["torch_cuda"] = torch.version.cuda
            info["torch_cudnn"] = torch.backends.cudnn.version()
            info["torch_allow_tf32"] = {"matmul": torch.backends.cuda.matmul.allow_tf32,
                                        "cudnn": torch.backends.cudnn.allow_tf32}
    except ImportError:
        pass
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


def command_line() -> str | None:
    """The command that is running, as ``python -m benchmarks.NAME --field=value ...``; None when the
    program is not a benchmark's command line (a test, a notebook)."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    if spec is None or not spec.name.startswith("benchmarks."):
        return None
    return " ".join(["python -m", spec.name, *sys.argv[1:]])


def write_json(path: str | pathlib.Path, payload: dict) -> None:
    """Writes ``payload`` with the machine and the command line that produced it."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": machine(), "command": command_line(), **payload}, indent=1))
    print(f"wrote {path}")


def finish(config, rows: list[dict], table: str, **extra) -> list[dict]:
    """A suite's last step: prints its table and writes ``config.out`` (config, rows and ``extra``)."""
    print()
    print(table)
    write_json(config.out, {"config": dataclasses.asdict(config), "rows": rows, **extra})
    return rows
