"""MinGRU / MinLSTM (parallel associative scan) against GRU / LSTM (sequential scan): training step and memory.

    python -m benchmarks.parallel_scan                         # T = 512, 4096, 16384
    python -m benchmarks.parallel_scan --lengths=512,4096 --batch=8 --hidden=128

A training step is forward, backward and an Adam update of one layer on ``[batch, T, input]``
inputs. Memory is XLA's own accounting of the compiled training step (``memory_analysis``:
temporaries plus arguments and outputs), so it is exact for the program, not a process RSS.
``speedup vs GRU`` is the GRU's median time divided by this row's. Rows: ``min_*`` use the
associative scan; ``*_sequential`` the chunked path with its hand-written backward pass
(``seqjax.kernels.fused_linear``, the CPU default); ``*_sequential_unfused`` a plain ``lax.scan``
differentiated by autodiff.

``page faults/step`` counts the pages a warm step maps afresh (median of 3 calls). The command
line keeps freed host memory for reuse (``seqjax.core.host_memory``), so it is near 0; with
``SEQJAX_KEEP_FREED_MEMORY=0`` (glibc's default malloc) it is about one per 4 KiB of the
step's large buffers, and the kernel's zero-filling of those pages shows in the step time.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

import seqjax
from seqjax.core import host_memory
from benchmarks.common import Precision, finish, format_table, interleaved_medians, run_main, set_matmul_precision

CELLS = {  # name: (cell, unroll's fused flag)
    "gru": (lambda d, h: seqjax.GRU(d, h, reset_after=True), True),
    "lstm": (lambda d, h: seqjax.LSTM(d, h), True),
    "min_gru": (lambda d, h: seqjax.MinGRU(d, h, mode="associative"), True),
    "min_lstm": (lambda d, h: seqjax.MinLSTM(d, h, mode="associative"), True),
    "min_gru_sequential": (lambda d, h: seqjax.MinGRU(d, h, mode="sequential"), True),
    "min_lstm_sequential": (lambda d, h: seqjax.MinLSTM(d, h, mode="sequential"), True),
    "min_gru_sequential_unfused": (lambda d, h: seqjax.MinGRU(d, h, mode="sequential"), False),
}


@dataclasses.dataclass(frozen=True)
class Config:
    lengths: tuple[int, ...] = (512, 4096, 16384)
    cells: tuple[str, ...] = tuple(CELLS)
    batch: int = 4
    input: int = 64
    hidden: int = 256
    reps: int = 5
    budget_s: float = 15.0
    out: str = "benchmarks/results/parallel_scan.json"
    matmul_precision: Precision = "float32"  # or "tensorfloat32" / "default" (GPUs only; benchmarks.common)


def train_step_fn(cell, fused):
    optimizer = optax.adam(1e-3)

    def train_step(params, opt_state, xs):
        loss, grads = jax.value_and_grad(lambda p: jnp.mean(seqjax.unroll(cell, p, xs, options=seqjax.ScanOptions(fused=fused))[0] ** 2))(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return optimizer, jax.jit(train_step)


def faults_per_step(run, steps: int = 3) -> float:
    """Page faults per call, median of ``steps`` calls after the timing (so the step is warm):
    pages the step had to map afresh (``seqjax.core.host_memory``)."""
    counts = []
    for _ in range(steps):
        before = host_memory.page_faults()
        jax.block_until_ready(run())
        counts.append(host_memory.page_faults() - before)
    return float(np.median(counts))


def main(config: Config) -> list[dict]:
    set_matmul_precision(config.matmul_precision)
    rows = []
    for t in config.lengths:
        xs = jnp.asarray(np.random.default_rng(0).normal(size=(config.batch, t, config.input)).astype(np.float32))
        runs, memory = {}, {}
        for name in config.cells:
            make_cell, fused = CELLS[name]
            cell = make_cell(config.input, config.hidden)
            params = cell.init(jax.random.key(0))
            optimizer, step = train_step_fn(cell, fused)
            state = {"params": params, "opt": optimizer.init(params)}
            analysis = step.lower(state["params"], state["opt"], xs).compile().memory_analysis()
            memory[name] = None if analysis is None else (analysis.temp_size_in_bytes + analysis.argument_size_in_bytes
                                                          + analysis.output_size_in_bytes) / 2**20

            def run(step=step, state=state):
                state["params"], state["opt"], loss = step(state["params"], state["opt"], xs)
                return loss

            runs[name] = run
        timings = interleaved_medians(runs, reps=config.reps, budget_s=config.budget_s)
        base = timings["gru"][0] if "gru" in timings else None
        for name, (seconds, reps) in timings.items():
            row = {"T": t, "cell": name, "ms": 1e3 * seconds, "tokens_per_s": config.batch * t / seconds, "reps": reps,
                   "memory_mb": memory[name], "page_faults": faults_per_step(runs[name]),
                   "speedup_vs_gru": None if base is None else base / seconds}
            print(row, flush=True)
            rows.append(row)
    return finish(config, rows, table(rows))


def table(rows: list[dict]) -> str:
    return format_table(rows, [("T", "T", ""), ("cell", "cell", ""), ("ms", "train step ms", ".1f"),
                               ("tokens_per_s", "tokens/s", ",.0f"), ("memory_mb", "XLA memory MiB", ".1f"),
                               ("page_faults", "page faults/step", ",.0f"),
                               ("speedup_vs_gru", "speedup vs GRU", ".2f")])


if __name__ == "__main__":
    run_main(main, Config(), __doc__)
