"""One-layer LSTM and GRU: training step (forward, backward, Adam) and inference, seqjax next to the peers.

    python -m benchmarks.rnn_step                                   # all shapes, both cells, both modes
    python -m benchmarks.rnn_step --modes=train --cells=lstm --shapes=64x128x128x256 --reps=5
    python -m benchmarks.rnn_step --help

Shapes are batch x time x input x hidden. FLOPs count the matmuls only: a forward pass
is ``2·b·t·(d+h)·g·h`` (g = 4 gates for LSTM, 3 for GRU) and a training step three times
that (the backward pass computes two matmuls per forward one). ``vs X`` is X's median
time divided by seqjax's: above 1 means seqjax is faster.
"""

from __future__ import annotations

import dataclasses

from benchmarks.common import format_table, interleaved_medians, run_main, write_json
from benchmarks.peers import BUILDERS, PEERS, MissingPeer


@dataclasses.dataclass(frozen=True)
class Config:
    shapes: tuple[str, ...] = ("64x128x128x256", "64x128x512x512", "16x512x256x1024", "1x1024x64x256")
    cells: tuple[str, ...] = ("lstm", "gru")
    modes: tuple[str, ...] = ("train", "infer")
    peers: tuple[str, ...] = PEERS
    reps: int = 7
    budget_s: float = 20.0     # per contender and shape: stop timing early once spent (at least 2 reps)
    out: str = "benchmarks/results/rnn_step.json"


def flops(kind: str, mode: str, b: int, t: int, d: int, h: int) -> float:
    forward = 2.0 * b * t * (d + h) * (4 if kind == "lstm" else 3) * h
    return forward * (3 if mode == "train" else 1)


def main(config: Config) -> list[dict]:
    rows = []
    for mode in config.modes:
        for kind in config.cells:
            for shape in config.shapes:
                b, t, d, h = (int(v) for v in shape.split("x"))
                row = {"mode": mode, "cell": kind, "shape": shape}
                runs = {}
                for peer in config.peers:
                    try:
                        runs[peer] = BUILDERS[peer](kind, mode, b, t, d, h)
                    except MissingPeer as error:
                        print(f"  {peer}: missing ({error})")
                        row[f"{peer}_ms"] = None
                timings = interleaved_medians(runs, reps=config.reps, budget_s=config.budget_s)
                for peer, (seconds, reps) in timings.items():
                    row[f"{peer}_ms"] = 1e3 * seconds
                    row[f"{peer}_gflops"] = flops(kind, mode, b, t, d, h) / seconds / 1e9
                    row[f"{peer}_reps"] = reps
                    if peer == "seqjax":
                        row["tokens_per_s"] = b * t / seconds
                for peer in config.peers:
                    if peer != "seqjax" and row.get(f"{peer}_ms") and row.get("seqjax_ms"):
                        row[f"vs_{peer}"] = row[f"{peer}_ms"] / row["seqjax_ms"]
                print(" ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
                rows.append(row)
    print()
    print(table(rows, config.peers))
    write_json(config.out, {"config": dataclasses.asdict(config), "rows": rows})
    return rows


def table(rows: list[dict], peers) -> str:
    columns = [("mode", "mode", ""), ("cell", "cell", ""), ("shape", "b×t×d×h", ""), ("tokens_per_s", "seqjax tok/s", ",.0f")]
    columns += [(f"{p}_gflops", f"{p} GFLOP/s", ".1f") for p in peers]
    columns += [(f"vs_{p}", f"vs {p}", ".2f") for p in peers if p != "seqjax"]
    return format_table(rows, columns)


if __name__ == "__main__":
    run_main(main, Config(), __doc__)
