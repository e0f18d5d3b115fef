"""seqjax's own speed options side by side: which ``unroll`` settings are fastest on this device.

    python -m benchmarks.unroll_options                       # rnn_step's shapes, LSTM and GRU, train and infer
    python -m benchmarks.unroll_options --shapes=64x128x128x256 --unrolls=1,4

``seqjax.ScanOptions`` (``seqjax/kernels/options.py``) has two switches that change speed and
nothing else (tests/test_fused.py and tests/test_cells.py check the numbers): ``hoist`` (the input
projections of all steps as one large matmul before the loop, or one per step inside it) and
``fused`` (the hand-written backward pass of ``seqjax.kernels.fused``, or autodiff through the
readable step). ``unroll`` is ``lax.scan``'s unroll factor. On a CUDA GPU the LSTM also runs with
``cudnn=True`` (cuDNN's kernel, ``seqjax.kernels.cudnn``). ``hoist=None``, the default, picks by
device: off on the CPU, on elsewhere. This table is the measurement behind that default:
every variant's median time next to the default's, same process, round-robin.
``default / variant`` above 1 means the variant is faster than what users get.
"""

from __future__ import annotations

import dataclasses
import itertools

import jax

import seqjax
from benchmarks.common import Precision, finish, format_table, interleaved_medians, run_main, set_matmul_precision, warm_up
from benchmarks.peers import inputs, jax_runner
from benchmarks.rnn_step import flops


@dataclasses.dataclass(frozen=True)
class Config:
    shapes: tuple[str, ...] = ("64x128x128x256", "64x128x512x512", "16x512x256x1024", "1x1024x64x256")
    cells: tuple[str, ...] = ("lstm", "gru")
    modes: tuple[str, ...] = ("train", "infer")
    unrolls: tuple[int, ...] = (1,)
    reps: int = 7
    budget_s: float = 5.0
    out: str = "benchmarks/results/unroll_options.json"
    matmul_precision: Precision = "float32"
    compile_threads: int = 0   # see benchmarks.rnn_step


def variants(config: Config, mode: str, kind: str) -> dict[str, dict]:
    """``{name: seqjax.ScanOptions}``; the default first. ``fused`` changes only the backward
    pass's code, so inference compares hoisting and unrolling alone. Where cuDNN is available,
    the LSTM also runs on its kernel (``cudnn=True``)."""
    found = {"default": seqjax.ScanOptions()}
    for hoist, fused, unroll in itertools.product((False, True), (True, False) if mode == "train" else (True,),
                                                  config.unrolls):
        name = f"hoist={hoist} fused={fused}" + (f" scan_unroll={unroll}" if len(config.unrolls) > 1 else "")
        found[name] = seqjax.ScanOptions(hoist=hoist, fused=fused, unroll=unroll)
    if kind == "lstm" and seqjax.cudnn.available():
        found["cudnn=True"] = seqjax.ScanOptions(cudnn=True)
    return found


def main(config: Config) -> list[dict]:
    set_matmul_precision(config.matmul_precision)
    rows, contenders = [], []
    for mode, kind, shape in itertools.product(config.modes, config.cells, config.shapes):
        b, t, d, h = (int(v) for v in shape.split("x"))
        cell = seqjax.LSTM(d, h) if kind == "lstm" else seqjax.GRU(d, h, reset_after=True)
        params, xs = cell.init(jax.random.key(0)), inputs(b, t, d)
        runs = {name: jax_runner(lambda p, xs, cell=cell, options=options: seqjax.unroll(cell, p, xs, options=options)[0], params, xs, mode)
                for name, options in variants(config, mode, kind).items()}
        contenders.append(((mode, kind, shape), runs))
    warm_up([run for _, runs in contenders for run in runs.values()], config.compile_threads)
    for (mode, kind, shape), runs in contenders:
        b, t, d, h = (int(v) for v in shape.split("x"))
        timings = interleaved_medians(runs, reps=config.reps, warmup=1, budget_s=config.budget_s)
        default_s = timings["default"][0]
        for name, (seconds, reps) in timings.items():
            row = {"mode": mode, "cell": kind, "shape": shape, "variant": name, "ms": 1e3 * seconds, "reps": reps,
                   "gflops": flops(kind, mode, b, t, d, h) / seconds / 1e9, "default_over_variant": default_s / seconds}
            print(row, flush=True)
            rows.append(row)
    return finish(config, rows, table(rows))


def table(rows: list[dict]) -> str:
    return format_table(rows, [("mode", "mode", ""), ("cell", "cell", ""), ("shape", "b×t×d×h", ""),
                               ("variant", "variant", ""), ("ms", "ms", ".2f"), ("gflops", "GFLOP/s", ".1f"),
                               ("default_over_variant", "default / variant", ".2f")])


if __name__ == "__main__":
    run_main(main, Config(), __doc__)
