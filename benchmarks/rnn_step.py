"""One-layer LSTM and GRU: training step (forward, backward, Adam) and inference, seqjax next to the peers.

    python -m benchmarks.rnn_step                                   # all shapes, both cells, both modes
    python -m benchmarks.rnn_step --modes=train --cells=lstm --shapes=64x128x128x256 --reps=5
    python -m benchmarks.rnn_step --help

On a GPU, PyTorch runs there too (cuDNN's LSTM/GRU), and every contender multiplies in
true float32 unless ``--matmul_precision=tensorfloat32`` lets all of them use TF32.
``--cudnn=true`` runs seqjax's LSTM on cuDNN too (``ScanOptions(cudnn=True)``; its GRU keeps
XLA's loop, since JAX exposes no cuDNN GRU).

Shapes are batch x time x input x hidden. FLOPs count the matmuls only: a forward pass
is ``2·b·t·(d+h)·g·h`` (g = 4 gates for LSTM, 3 for GRU) and a training step three times
that (the backward pass computes two matmuls per forward one). ``vs X`` is X's median
time divided by seqjax's: above 1 means seqjax is faster.

The ``floor`` contender is a bound, not a peer: XLA running only the matmuls that the FLOP
count counts, with no gates, no masking and no transposes, in the layout of seqjax's loops
(per step one ``[g·h, d+h] x [d+h, b]`` product; for training, per step one
``[h, g·h] x [g·h, b]`` product backwards, then the three weight and input gradients as
large matmuls). It is a bound in practice, not a proof: every XLA step computes at least
these matmuls, and seqjax's loops use this layout because the others tried (batch-major
``h @ W``, input projections hoisted out of the loop) measured slower. ``vs floor`` (floor
time / seqjax time, about 1 at most) is the share of seqjax's step that is matmul, and
``bound vs fastest`` (the fastest peer's time / floor time) is about the largest ``vs`` an
XLA program could reach against the fastest peer: below 1, that peer's own kernels beat
XLA's matmuls alone.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

import seqjax

from benchmarks.common import Precision, finish, format_table, interleaved_medians, run_main, set_matmul_precision, warm_up
from benchmarks.peers import BUILDERS, PEERS, MissingPeer, build_seqjax


@dataclasses.dataclass(frozen=True)
class Config:
    shapes: tuple[str, ...] = ("64x128x128x256", "64x128x512x512", "16x512x256x1024", "1x1024x64x256")
    cells: tuple[str, ...] = ("lstm", "gru")
    modes: tuple[str, ...] = ("train", "infer")
    peers: tuple[str, ...] = PEERS
    reps: int = 7
    budget_s: float = 20.0     # per contender and shape: stop timing early once spent (at least 2 reps)
    out: str = "benchmarks/results/rnn_step.json"
    floor: bool = True         # also time the floor (XLA's matmuls alone), see above
    matmul_precision: Precision = "float32"  # or "tensorfloat32" / "default" (GPUs only; benchmarks.common)
    compile_threads: int = 0   # contenders compiled (first call) this many at a time; 0: one per CPU core
    cudnn: bool = False        # seqjax's LSTM on cuDNN (ScanOptions(cudnn=True), CUDA GPUs); its GRU keeps XLA's loop


def flops(kind: str, mode: str, b: int, t: int, d: int, h: int) -> float:
    forward = 2.0 * b * t * (d + h) * (4 if kind == "lstm" else 3) * h
    return forward * (3 if mode == "train" else 1)


def floor_program(kind: str, mode: str, b: int, t: int, d: int, h: int):
    """``(function, arguments)`` of the floor: exactly the matmuls of ``flops(kind, mode, ...)``
    and nothing else (tests/test_benchmarks.py counts them)."""
    g = (4 if kind == "lstm" else 3) * h
    rng = np.random.default_rng(0)
    w_t, w_h, w_x, xs, x_rows, h_rows = (jnp.asarray(0.05 * rng.normal(size=s).astype(np.float32)) for s in
                                         ((g, d + h), (h, g), (d, g), (t, d, b), (t * b, d), (t * b, h)))

    def forward(w_t, xs):  # feature-major, as seqjax's loop: z_t = W^T [x_t; h_{t-1}], h_t = z_t[:h]
        def step(state, x):
            z = w_t @ jnp.concatenate([x, state], 0)
            return z[:h], (z if mode == "train" else z[:h])  # training keeps z for the backward loop
        return jax.lax.scan(step, jnp.zeros((h, b), xs.dtype), xs)

    def train(w_t, w_h, w_x, xs, x_rows, h_rows):
        _, zs = forward(w_t, xs)
        dh0, _ = jax.lax.scan(lambda dh, z: (w_h @ z, None), jnp.zeros((h, b), xs.dtype), zs, reverse=True)
        dz = zs.reshape(t * b, g)  # stands in for the gate gradients' rows (a reshape: no transpose is counted)
        return x_rows.T @ dz, h_rows.T @ dz, dz @ w_x.T, dh0

    if mode == "infer":
        return forward, (w_t, xs)
    return train, (w_t, w_h, w_x, xs, x_rows, h_rows)


def build_floor(kind: str, mode: str, b: int, t: int, d: int, h: int):
    function, arguments = floor_program(kind, mode, b, t, d, h)
    step = jax.jit(function)
    return lambda: step(*arguments)


def main(config: Config) -> list[dict]:
    set_matmul_precision(config.matmul_precision)
    builders = dict(BUILDERS)
    if config.cudnn:
        if why := seqjax.cudnn.unavailable("--cudnn=true"):
            raise SystemExit(f"error: {why}")
        builders["seqjax"] = functools.partial(build_seqjax, cudnn=True)
    rows, contenders = [], []
    for mode in config.modes:
        for kind in config.cells:
            for shape in config.shapes:
                b, t, d, h = (int(v) for v in shape.split("x"))
                row = {"mode": mode, "cell": kind, "shape": shape}
                runs = {}
                for peer in config.peers:
                    try:
                        runs[peer] = builders[peer](kind, mode, b, t, d, h)
                    except MissingPeer as error:
                        print(f"  {peer}: missing ({error})")
                        row[f"{peer}_ms"] = None
                if config.floor:
                    runs["floor"] = build_floor(kind, mode, b, t, d, h)
                rows.append(row)
                contenders.append(runs)
    warm_up([run for runs in contenders for run in runs.values()], config.compile_threads)
    for row, runs in zip(rows, contenders):
        b, t, d, h = (int(v) for v in row["shape"].split("x"))
        kind, mode = row["cell"], row["mode"]
        timings = interleaved_medians(runs, reps=config.reps, warmup=1, budget_s=config.budget_s)
        for peer, (seconds, reps) in timings.items():
            row[f"{peer}_ms"] = 1e3 * seconds
            row[f"{peer}_gflops"] = flops(kind, mode, b, t, d, h) / seconds / 1e9
            row[f"{peer}_reps"] = reps
            if peer == "seqjax":
                row["tokens_per_s"] = b * t / seconds
        for peer in config.peers:
            if peer != "seqjax" and row.get(f"{peer}_ms") and row.get("seqjax_ms"):
                row[f"vs_{peer}"] = row[f"{peer}_ms"] / row["seqjax_ms"]
        ran = [p for p in config.peers if p != "seqjax" and row.get(f"{p}_ms")]
        if ran:
            row["fastest_peer"] = min(ran, key=lambda p: row[f"{p}_ms"])
        if row.get("floor_ms") and row.get("seqjax_ms"):
            row["vs_floor"] = row["floor_ms"] / row["seqjax_ms"]
            if ran:
                row["bound_vs_fastest"] = row[f"{row['fastest_peer']}_ms"] / row["floor_ms"]
        print(" ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
    return finish(config, rows, table(rows, config.peers))


def table(rows: list[dict], peers) -> str:
    columns = [("mode", "mode", ""), ("cell", "cell", ""), ("shape", "b×t×d×h", ""), ("tokens_per_s", "seqjax tok/s", ",.0f")]
    columns += [(f"{p}_gflops", f"{p} GFLOP/s", ".1f") for p in peers]
    columns += [(f"vs_{p}", f"vs {p}", ".2f") for p in peers if p != "seqjax"]
    if any("floor_ms" in row for row in rows):
        columns += [("floor_gflops", "floor GFLOP/s", ".1f"), ("vs_floor", "vs floor", ".2f"),
                    ("fastest_peer", "fastest peer", ""), ("bound_vs_fastest", "bound vs fastest", ".2f")]
    return format_table(rows, columns)


if __name__ == "__main__":
    run_main(main, Config(), __doc__)
