"""Sparse updates for embedding tables, many minibatches per jitted call.

Word2vec and GloVe touch a few hundred rows of a table per minibatch; a dense optimizer step
would read and write every row each time. Their train steps instead update only the rows a
minibatch gathered (``table.at[ids].add(...)``), and ``chunked_step`` runs ``chunk`` such
minibatches in one ``lax.scan``, so Python dispatches once per chunk:

    def update(params, opt_state, minibatch, key, index):     # index: the minibatch's number in the run
        ...
        return params, opt_state, summed_loss, squared_gradient_norm

    train_step = chunked_step(update, chunk=64)                # (state, chunk) -> (state, metrics), for fit

The step keeps ``seqjax.train.fit``'s contract: per-minibatch keys are ``fold_in`` of the
state's key by step and position (a resumed run draws the same noise), ``metrics`` hold the
mean loss per example, the gradient norm, the chunk's word ``count`` and ``finite``; a chunk
whose loss or gradient is not finite leaves the state as it was.

``adagrad_rows`` is AdaGrad on gathered rows as GloVe's C code applies it, one example at a
time: the step divides by the root of the squares accumulated *before* it, then adds its own.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from seqjax.train.step import TrainState


def chunked_step(update: Callable, chunk: int) -> Callable:
    """``train_step(state, batch)`` over ``batch`` arrays ``[chunk, b, ...]`` (and ``batch["count"]``)."""

    def train_step(state: TrainState, batch: dict):
        key = jax.random.fold_in(state.key, state.step)
        data = {k: v for k, v in batch.items() if k != "count"}

        def body(carry, inputs):
            params, opt_state = carry
            minibatch, s = inputs
            params, opt_state, loss, squares = update(params, opt_state, minibatch, jax.random.fold_in(key, s),
                                                      state.step * chunk + s)
            return (params, opt_state), (loss, squares, jnp.sum(minibatch["valid"].astype(jnp.float32)))

        (params, opt_state), (losses, squares, counts) = jax.lax.scan(body, (state.params, state.opt_state),
                                                                      (data, jnp.arange(chunk)))
        loss = jnp.sum(losses) / jnp.maximum(jnp.sum(counts), 1.0)
        grad_norm = jnp.sqrt(jnp.sum(squares))
        finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
        keep = lambda new, old: jax.tree_util.tree_map(lambda n, o: jnp.where(finite, n, o), new, old)  # noqa: E731
        new = TrainState(keep(state.step + 1, state.step), keep(params, state.params), keep(opt_state, state.opt_state), state.key)
        return new, {"loss": loss, "grad_norm": grad_norm, "finite": finite, "count": batch["count"]}

    return train_step


def adagrad_rows(table: jax.Array, squares: jax.Array, ids: jax.Array, grads: jax.Array, rate) -> tuple[jax.Array, jax.Array]:
    """Rows ``ids`` of ``table`` step by ``−rate · g / sqrt(G)`` with G the accumulated squares before
    this step (``squares`` start at 1, as GloVe's ``gradsq``), and G grows by ``g²``. A row given
    twice takes both steps against the same G."""
    table = table.at[ids].add(-rate * grads * jax.lax.rsqrt(squares[ids]))
    return table, squares.at[ids].add(grads * grads)


def noise_table(probabilities: np.ndarray, size: int = 1 << 20) -> np.ndarray:
    """word2vec's unigram table: ``size`` ids, id i filling ``round(p_i · size)`` slots (largest
    remainders, so the slots add up), so one uniform index draws from ``probabilities``. A word
    whose share is under one slot in a million is never drawn as noise (as in word2vec)."""
    probabilities = np.asarray(probabilities, np.float64)
    if probabilities.ndim != 1 or probabilities.size == 0 or np.any(probabilities < 0) or not np.isclose(probabilities.sum(), 1.0):
        raise ValueError("probabilities must be a non-empty 1-D distribution that sums to 1")
    exact = probabilities * size
    slots = np.floor(exact).astype(np.int64)
    slots[np.argsort(slots - exact)[: size - slots.sum()]] += 1
    return np.repeat(np.arange(len(probabilities), dtype=np.int32), slots)
