"""Vanishing gradients: ‖∂E_T/∂s_{T−k}‖ against k for Elman, GRU, LSTM and MinGRU.

Task (needs long memory): read a sequence of random tokens and, at the last step,
name the *first* one; everything in between is distraction. The first step also carries a
start-of-sequence flag (an extra input feature, as a <GO> token would): a gated cell can open
its input gate on it and close it after, which is how an LSTM stores the token.

The gated cells start biased toward keeping their state (``--memory_bias``: the LSTM's forget
gate bias, minus the MinGRU's update gate bias). A dependency of T steps wants a bias of about
log T (Tallec & Ollivier 2018, "chrono" initialisation): with the usual 1.0 the LSTM's forget
gate is σ(1) ≈ 0.73 at the start, 0.73^30 ≈ 1e-4 of the gradient reaches the first token, and
the LSTM stays at chance at T = 30 (so does PyTorch's ``nn.LSTM``); with 3.0 (σ(3)^30 ≈ 0.2) it
learns the task, as the GRU does with its default initialisation, while the Elman network,
which has no gate to hold its state, does not. ``--memory_bias=1`` shows the failure. The loss E_T is the
cross-entropy at the last step, so it can only be lowered through the gradient
that flows back ``T−1`` steps to the first token. We measure that flow at
initialisation and after a short training run, print a table, and save a plot and
a JSON of the numbers. Each cell's training has its own run directory
(``<out_dir>/<cell>/``: config, metrics.jsonl, checkpoint, curves.png).

    python -m experiments.vanishing_gradients                  # defaults: about a minute on 2 CPU cores
    python -m experiments.vanishing_gradients --seq_len=60 --train_steps=600
    python -m experiments.vanishing_gradients --help
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax

import seqjax
from seqjax import data, train
from seqjax.core import plots
from seqjax.train.config import check_config

# -----------------------------------------------------------------------------
# config


@dataclasses.dataclass(frozen=True)
class Config:
    cells: tuple[Literal["elman", "gru", "lstm", "min_gru"], ...] = ("elman", "gru", "lstm", "min_gru")
    seq_len: int = 30          # T: the first token must be carried T-1 steps
    vocab: int = 8             # token 0 is the query marker, 1..vocab-1 are content
    hidden: int = 64
    batch: int = 64
    train_steps: int = 600
    learning_rate: float = 1e-2
    memory_bias: float = 3.0   # initial bias of the gated cells toward keeping their state (about log seq_len)
    log_every: int = 50        # train loss logged (averaged) every this many steps
    eval_batch: int = 512
    seed: int = 0
    out_dir: str = "runs/vanishing_gradients"


CELLS = {  # inputs: a one-hot token and the start flag
    "elman": lambda c: seqjax.Elman(c.vocab + 1, c.hidden),
    "gru": lambda c: seqjax.GRU(c.vocab + 1, c.hidden),
    "lstm": lambda c: seqjax.LSTM(c.vocab + 1, c.hidden, forget_bias=c.memory_bias),
    "min_gru": lambda c: seqjax.MinGRU(c.vocab + 1, c.hidden),
}

# -----------------------------------------------------------------------------
# data: recall the first token


def make_batch(key, config: Config, batch: int):
    tokens = jax.random.randint(key, (batch, config.seq_len), 1, config.vocab)
    tokens = tokens.at[:, -1].set(0)  # the query marker
    start = jnp.zeros((batch, config.seq_len, 1)).at[:, 0].set(1.0)  # the start-of-sequence flag
    return jnp.concatenate([jax.nn.one_hot(tokens, config.vocab), start], axis=-1), tokens[:, 0]


# -----------------------------------------------------------------------------
# model: a cell and a linear readout of its last output


def init_model(cell, key, config: Config):
    k_cell, k_out = jax.random.split(key)
    params = cell.init(k_cell)
    if isinstance(cell, seqjax.MinGRU):  # z_t = σ(x W_z + b_z) is the share written: bias it toward keeping
        params = {**params, "b": params["b"].at[: cell.hidden_size].add(-config.memory_bias)}
    return {"cell": params,
            "readout": {"w": jax.random.normal(k_out, (cell.output_dim, config.vocab)) / np.sqrt(cell.output_dim),
                        "b": jnp.zeros(config.vocab)}}


def last_step_loss(readout, ys, targets):
    """E_T: cross-entropy of the prediction at the last step, summed over the batch."""
    logits = ys[:, -1] @ readout["w"] + readout["b"]
    return jnp.sum(optax.softmax_cross_entropy_with_integer_labels(logits, targets))


def gradient_flow(cell, params, xs, targets):
    return seqjax.gradient_norms_through_time(
        cell, params["cell"], xs, lambda ys, _: last_step_loss(params["readout"], ys, targets))


def accuracy(cell, params, xs, targets):
    ys, _ = seqjax.unroll(cell, params["cell"], xs)
    return jnp.mean(jnp.argmax(ys[:, -1] @ params["readout"]["w"] + params["readout"]["b"], -1) == targets)


# -----------------------------------------------------------------------------
# training


def train_cell(cell, params, config: Config, key, run_dir: pathlib.Path):
    """Trains one model with ``seqjax.train.fit``: a run directory per cell, resumable."""
    optimizer = train.optimizer(config.learning_rate, clip_norm=1.0)

    def loss_fn(params, batch, key):
        ys, _ = seqjax.unroll(cell, params["cell"], batch["xs"])
        logits = ys[:, -1] @ params["readout"]["w"] + params["readout"]["b"]
        return train.cross_entropy(logits, batch["targets"])

    def make(index):  # batch i is a function of i: the stream is resumable
        xs, targets = make_batch(jax.random.fold_in(key, index), config, config.batch)
        return {"xs": xs, "targets": targets}

    run = train.Run(run_dir, config, checkpoint_every=max(config.train_steps, 1), keep=1)
    state = train.TrainState.create(params, optimizer, key)
    state = train.fit(state, train.make_train_step(loss_fn, optimizer), data.Generated(make), steps=config.train_steps,
                      run=run, log_every=config.log_every)
    losses = [m["loss"] for m in run.metrics() if m["split"] == "train"]
    run.plot()
    run.close()
    return state.params, losses


# -----------------------------------------------------------------------------
# the experiment


def main(config: Config) -> dict:
    check_config(config)
    print(config)
    out_dir = pathlib.Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    key = jax.random.key(config.seed)
    eval_xs, eval_targets = make_batch(jax.random.fold_in(key, 10**6), config, config.eval_batch)
    results = {"config": dataclasses.asdict(config), "cells": {}}
    for index, name in enumerate(config.cells):
        start = time.perf_counter()
        cell = CELLS[name](config)
        params = init_model(cell, jax.random.fold_in(key, index), config)
        norms_init = gradient_flow(cell, params, eval_xs, eval_targets)
        acc_init = accuracy(cell, params, eval_xs, eval_targets)
        params, losses = train_cell(cell, params, config, jax.random.fold_in(key, 1), out_dir / name)
        norms_trained = gradient_flow(cell, params, eval_xs, eval_targets)
        acc_trained = accuracy(cell, params, eval_xs, eval_targets)
        results["cells"][name] = {
            "norms_init": np.asarray(norms_init).tolist(), "norms_trained": np.asarray(norms_trained).tolist(),
            "accuracy_init": float(acc_init), "accuracy_trained": float(acc_trained),
            "loss_first": losses[0] if losses else None, "loss_last": losses[-1] if losses else None,
            "seconds": time.perf_counter() - start,
        }
        print(f"{name:8s} trained in {results['cells'][name]['seconds']:.1f}s, accuracy {acc_init:.2f} -> {acc_trained:.2f} "
              f"(chance {1 / (config.vocab - 1):.2f})")
    explain(results, config)
    print_table(results, config)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1))
    plot(results, out_dir / "gradient_flow.png")
    print(f"wrote {out_dir / 'results.json'} and {out_dir / 'gradient_flow.png'}")
    return results


def explain(results: dict, config: Config) -> None:
    """Says in words which cells learnt the dependency, and why the others did not."""
    chance = 1 / (config.vocab - 1)
    learnt = [n for n, r in results["cells"].items() if r["accuracy_trained"] > 0.9]
    failed = [n for n, r in results["cells"].items() if r["accuracy_trained"] < 2 * chance]
    print(f"\nlearnt the {config.seq_len}-step dependency: {', '.join(learnt) or 'none'}; near chance: {', '.join(failed) or 'none'}")
    if "elman" in results["cells"] and "elman" not in learnt:
        print("  elman: no gate holds its state, so the gradient from the last step shrinks at every step back (the table) "
              "and the first token's signal is lost")
    for name in set(failed) & {"lstm", "min_gru"}:
        print(f"  {name}: gated, but --memory_bias={config.memory_bias} keeps too little of the state per step for "
              f"{config.seq_len} steps at initialisation; about log(seq_len) = {np.log(config.seq_len):.1f} lets it learn")


def print_table(results: dict, config: Config) -> None:
    ks = sorted({k for k in (1, 2, 4, 8, 16, 32, 64, 128, config.seq_len) if k <= config.seq_len})
    print("\n‖∂E_T/∂s_{T-k}‖ / ‖∂E_T/∂s_{T-1}‖  (mean over the batch; init → trained)")
    print(f"{'k':>5} " + " ".join(f"{name:>21s}" for name in results["cells"]))
    for k in ks:
        row = []
        for r in results["cells"].values():
            a, b = (r[f"norms_{when}"][k - 1] / max(r[f"norms_{when}"][0], 1e-30) for when in ("init", "trained"))
            row.append(f"{a:9.2e} → {b:9.2e}")
        print(f"{k:>5} " + " ".join(f"{cell:>21s}" for cell in row))


def plot(results: dict, path: pathlib.Path) -> None:
    plt = plots.pyplot()

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, when in zip(axes, ("init", "trained")):
        for name, r in results["cells"].items():
            ax.semilogy(np.arange(1, len(r[f"norms_{when}"]) + 1), np.maximum(np.asarray(r[f"norms_{when}"]), 1e-30), label=f"{name} (acc {r['accuracy_' + when]:.2f})")
        ax.set_title(f"at {'initialisation' if when == 'init' else 'the end of training'}")
        ax.set_xlabel("k (steps back from the end)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    axes[0].set_ylabel("‖∂E_T/∂s_{T−k}‖")
    fig.suptitle(f"Gradient flow through time, recall-first-token task, T = {results['config']['seq_len']}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    from seqjax.train.config import run_main

    run_main(main, Config(), __doc__)
