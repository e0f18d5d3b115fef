"""Compilations for a stream of variable-length batches: dynamic shapes vs padding to the maximum vs bucketing.

The lectures' question "why is dynamic length slow?", answered by running it: under ``jax.jit``
every new batch shape is a new program to compile.

    python -m benchmarks.compile_counts                       # 150 batches of 32 sentences, LSTM 64->128 training step
    python -m benchmarks.compile_counts --batches=300 --buckets=8,16,32,64,128

The stream is sentences whose lengths follow MR's distribution (log-normal, median
about 20 tokens, clipped at ``max_len``; no data file needed). Every strategy runs the
same jitted many-to-one LSTM training step (embedding, LSTM with lengths, readout, Adam)
over the same examples; only the padding differs:

- dynamic: each batch padded to its own longest sentence (a new shape, a new compile, most batches);
- pad to max: every batch padded to ``max_len`` (one compile, the most padding);
- buckets: each batch padded to the smallest bucket that holds it (at most one compile per bucket);
- buckets + grouping: as buckets, with ``Batches(lengths=...)`` putting similar lengths together.

Columns: compilations (counted by ``CountingJit``), seconds in calls that compiled, the median
step time of the calls that did not compile, total wall seconds for the stream, and padding as a
share of all tokens processed. ``--plot`` draws the four measures side by side (a PNG).
"""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np

import seqjax
from benchmarks.common import finish, format_table, run_main
from seqjax import data, train


@dataclasses.dataclass(frozen=True)
class Config:
    batches: int = 150
    batch: int = 32
    max_len: int = 64
    buckets: tuple[int, ...] = (16, 32, 48, 64)
    vocab: int = 2000
    embed: int = 64
    hidden: int = 128
    seed: int = 0
    out: str = "benchmarks/results/compile_counts.json"
    plot: str = "benchmarks/results/compile_counts.png"   # "" = no plot


def make_examples(config: Config) -> list[tuple[list[int], int]]:
    rng = np.random.default_rng(config.seed)
    lengths = np.clip(np.round(rng.lognormal(np.log(20), 0.5, size=config.batches * config.batch)), 1, config.max_len).astype(int)
    return [(list(rng.integers(4, config.vocab, n)), int(rng.integers(2))) for n in lengths]


def make_step(config: Config):
    cell = seqjax.LSTM(config.embed, config.hidden)
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    params = {"embed": jax.random.normal(k1, (config.vocab, config.embed)) * 0.1, "cell": cell.init(k2),
              "out": jax.random.normal(k3, (config.hidden, 2)) * 0.1}

    def loss_fn(params, batch, key):
        _, state = seqjax.unroll(cell, params["cell"], params["embed"][batch["ids"]], lengths=batch["lengths"])
        return train.cross_entropy(state.h @ params["out"], batch["labels"])

    optimizer = train.optimizer(1e-3)
    return train.TrainState.create(params, optimizer, jax.random.key(1)), train.make_train_step(loss_fn, optimizer)


def collate_with(**pad_args):
    def collate(examples):
        ids, lengths = data.pad([ids for ids, _ in examples], **pad_args)
        return {"ids": ids, "lengths": lengths, "labels": np.array([label for _, label in examples], np.int32)}
    return collate


def run_stream(config: Config, batches) -> dict:
    state, step = make_step(config)
    compile_s, real, padded, steps = 0.0, 0, 0, []
    start = time.perf_counter()
    for batch in batches:
        before, t0 = step.compilations, time.perf_counter()
        state, metrics = step(state, batch)
        jax.block_until_ready(metrics["loss"])
        if step.compilations > before:
            compile_s += time.perf_counter() - t0
        else:
            steps.append(time.perf_counter() - t0)
        real += int(batch["lengths"].sum())
        padded += batch["ids"].size
    return {"compilations": step.compilations, "compile_s": compile_s, "total_s": time.perf_counter() - start,
            "step_ms": 1e3 * float(np.median(steps)) if steps else None, "padding_pct": 100.0 * (padded - real) / padded}


def plot(rows: list[dict], path: str) -> None:
    from seqjax.core.plots import pyplot

    plt = pyplot()

    measures = [("compilations", "compilations"), ("compile_s", "s compiling"), ("step_ms", "ms per step (no compile)"),
                ("total_s", "total s")]
    fig, axes = plt.subplots(1, len(measures), figsize=(4 * len(measures), 3.6))
    names = [r["strategy"].replace(" (", "\n(").replace(" + ", "\n+ ") for r in rows]
    for ax, (key, title) in zip(axes, measures):
        ax.bar(range(len(rows)), [r[key] or 0 for r in rows], color=["C3", "C1", "C0", "C2"][: len(rows)])
        ax.set_xticks(range(len(rows)), names, fontsize=7)
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


def main(config: Config) -> list[dict]:
    examples = make_examples(config)
    common = dict(batch_size=config.batch, seed=config.seed, epochs=1)
    strategies = {
        "dynamic (pad to batch max)": data.Batches(examples, collate=collate_with(), **common),
        "pad to max_len": data.Batches(examples, collate=collate_with(length=config.max_len), **common),
        "buckets": data.Batches(examples, collate=collate_with(buckets=config.buckets), **common),
        "buckets + length grouping": data.Batches(examples, collate=collate_with(buckets=config.buckets),
                                                  lengths=lambda e: len(e[0]), **common),
    }
    rows = []
    with jax.numpy_dtype_promotion("standard"):
        for name, batches in strategies.items():
            row = {"strategy": name, **run_stream(config, batches)}
            rows.append(row)
            print(row, flush=True)
    if config.plot:
        plot(rows, config.plot)
    return finish(config, rows, table(rows))


def table(rows: list[dict]) -> str:
    return format_table(rows, [("strategy", "strategy", ""), ("compilations", "compilations", "d"),
                               ("compile_s", "s in compiling calls", ".1f"), ("step_ms", "ms per step", ".2f"),
                               ("total_s", "total s", ".1f"),
                               ("padding_pct", "padding %", ".0f")])


if __name__ == "__main__":
    run_main(main, Config(), __doc__)
