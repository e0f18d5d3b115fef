"""Gradient flow through time: how much the loss at the end still "sees" of an early state.

For a loss E_T computed from a run of ``T`` steps, ``gradient_norms_through_time``
measures ``‖∂E_T/∂s_{T−k}‖`` for every ``k``: the vanishing-gradient problem is this
curve falling geometrically with k (roughly like the largest singular value of the
step Jacobian to the power k), the exploding one is it growing.

The derivative with respect to an intermediate state is taken with a zero
perturbation: the scan computes ``s_t = step(s_{t-1} + δ_t, x_t)`` with all ``δ_t = 0``,
so ``∂E/∂δ_t = ∂E/∂s_{t-1}`` exactly, for every t, from a single backward pass.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from seqjax.cells.protocol import Cell, cast_params
from seqjax.core.types import Array, Params, State


def gradient_norms_through_time(
    cell: Cell,
    params: Params,
    xs: Array,
    loss_fn: Callable[[Array, State], Array],
    *,
    initial_state: State | None = None,
) -> Array:
    """``norms[k − 1] = mean_b ‖∂E_T/∂s_{T−k}‖`` for ``k = 1..T``.

    ``s_t`` is the state after reading ``x_1..x_t``: k = 1 is the state that entered the
    last step, k = T the initial state ``s_0``.

    Args:
      cell: a cell with a ``step`` (any cell but ``Bidirectional``).
      params: its parameters.
      xs: float inputs ``[b, t, d]``.
      loss_fn: ``(ys [b, t, o], final_state) -> scalar``, the loss E_T; it should be a
        sum over the batch, so each example's gradient is its own.
      initial_state: defaults to the cell's zero state.

    The norm of a state with several fields (LSTM's ``h`` and ``c``) is taken over
    all of them together; the result is the mean over the batch of per-example norms.
    """
    if xs.ndim != 3:
        raise ValueError(f"xs must have shape [batch, time, {cell.input_size}], got {tuple(xs.shape)}")
    step = cell.stepper(cast_params(params, xs.dtype))
    state0 = cell.initial_state(xs.shape[0], xs.dtype) if initial_state is None else initial_state
    xs_tm = jnp.swapaxes(xs, 0, 1)

    def loss_of_perturbations(deltas):
        def body(state, inputs):
            x, delta = inputs
            return step(jax.tree_util.tree_map(jnp.add, state, delta), x)

        final, ys = jax.lax.scan(body, state0, (xs_tm, deltas))
        return loss_fn(jnp.swapaxes(ys, 0, 1), final)

    zeros = jax.tree_util.tree_map(lambda s: jnp.zeros((xs.shape[1],) + s.shape, s.dtype), state0)
    grads = jax.grad(loss_of_perturbations)(zeros)
    squares = sum(jnp.sum(g.reshape(g.shape[0], g.shape[1], -1).astype(jnp.float32) ** 2, axis=-1)
                  for g in jax.tree_util.tree_leaves(grads))  # [t, b]
    return jnp.mean(jnp.sqrt(squares), axis=1)[::-1]
