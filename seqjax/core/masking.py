"""Masks from lengths, the masked scan, and reversal within lengths: the low-level sequence pieces.

Every model in seqjax marks padding the same way: an int ``lengths [b]``, and step ``t`` of
sequence ``i`` is real where ``t < lengths[i]``. These functions are ``jnp`` only, so they
work inside ``jit`` and ``grad`` (``seqjax.data.mask`` is the NumPy twin for data pipelines).

    sequence_mask(lengths, t)    [b, t] bool, batch-major (losses, attention over a source)
    valid_steps(xs, lengths)     [t, b] bool, time-major (inside scans)
    masked_scan(...)             the one ``lax.scan`` of seqjax: frozen state and zero outputs past a length
    reverse_within_lengths(...)  [a b c _ _] -> [c b a _ _], PyTorch's packed-sequence reversal

A state may hold ``Constant`` parts (an encoder memory an attention decoder reads at every
step): ``select`` and ``masked_scan`` pass them through untouched instead of selecting
between two identical copies at every step.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from seqjax.core.types import Array, State


@jax.tree_util.register_pytree_node_class
class Constant:
    """Marks a part of a state that no step changes: per-sequence data every step reads.

    An attention decoder's state carries the encoder memory it attends over as
    ``Constant(memory)``. ``masked_scan`` never selects it, and beam search
    (``seqjax.decoding``) tiles it once per beam but never reorders it: every beam of a
    sentence holds the same copy. Its leaves still lead with the batch axis.
    """

    def __init__(self, value: Any):
        self.value = value

    def tree_flatten(self):
        return (self.value,), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(children[0])

    def __repr__(self) -> str:
        return f"Constant({self.value!r})"


def is_constant(x: Any) -> bool:
    return isinstance(x, Constant)


def sequence_mask(lengths: Array, length: int) -> Array:
    """``mask[..., t] = t < lengths[...]``: True at real steps, False at padding. Works under ``jit``.

    >>> sequence_mask(jnp.array([3, 1]), 4)
    Array([[ True,  True,  True, False],
           [ True, False, False, False]], dtype=bool)
    """
    lengths = jnp.asarray(lengths)
    steps = jnp.arange(length, dtype=lengths.dtype if jnp.issubdtype(lengths.dtype, jnp.integer) else None)
    return steps < lengths[..., None]


def valid_steps(xs: Array, lengths: Array | None) -> Array:
    """``valid[t, b] = t < lengths[b]`` for time-major ``xs [t, b, ...]``; all True without lengths."""
    t, b = jax.tree_util.tree_leaves(xs)[0].shape[:2]
    if lengths is None:
        return jnp.ones((t, b), bool)
    return sequence_mask(lengths, t).T


def select(valid: Array, new: State, old: State) -> State:
    """``where(valid[b], new, old)`` leaf-wise, for trees whose leaves lead with the batch axis.

    ``Constant`` parts are taken from ``new`` as they are (no step changes them)."""

    def pick(n, o):
        if is_constant(n):
            return n
        return jnp.where(valid.reshape(valid.shape + (1,) * (n.ndim - valid.ndim)), n, o)

    return jax.tree_util.tree_map(pick, new, old, is_leaf=is_constant)


def zero_where_invalid(valid: Array, ys: Any) -> Any:
    """Outputs past a sequence's length become exactly zero (leaf-wise, batch axis first)."""
    return jax.tree_util.tree_map(lambda y: jnp.where(valid.reshape(valid.shape + (1,) * (y.ndim - valid.ndim)), y, jnp.zeros_like(y)), ys)


def masked_scan(
    recur: Callable[[State, Array], tuple[State, Array]],
    state: State,
    xs: Array,
    lengths: Array | None,
    *,
    reverse: bool = False,
    unroll: int = 1,
    remat: bool = False,
) -> tuple[Array, State]:
    """The one ``lax.scan`` of seqjax: ``recur`` over time-major ``xs [t, b, ...]``.

    With ``lengths [b]``, steps at ``t >= lengths[b]`` keep the state and output zeros.
    ``reverse`` here is a plain reversal of the time axis; per-sequence reversal is
    done by ``reverse_within_lengths`` around this call. ``remat`` recomputes each step
    in the backward pass instead of storing its intermediates (``jax.checkpoint``).
    """
    if remat:
        recur = jax.checkpoint(recur)
    if lengths is None:
        state, ys = jax.lax.scan(recur, state, xs, reverse=reverse, unroll=unroll)
        return ys, state

    def body(state, inputs):
        x, v = inputs
        new_state, y = recur(state, x)
        return select(v, new_state, state), zero_where_invalid(v, y)

    state, ys = jax.lax.scan(body, state, (xs, valid_steps(xs, lengths)), reverse=reverse, unroll=unroll)
    return ys, state


def reverse_within_lengths(xs: Array, lengths: Array | None) -> Array:
    """Reverses time-major ``xs [t, b, ...]`` within each sequence's length; padding stays put.

    For a sequence of length 3 in a batch padded to 5: ``[a b c _ _] -> [c b a _ _]``.
    The permutation is its own inverse.
    """
    if lengths is None:
        return jax.tree_util.tree_map(lambda x: x[::-1], xs)
    t = jax.tree_util.tree_leaves(xs)[0].shape[0]
    steps = jnp.arange(t)[:, None]
    index = jnp.where(steps < lengths[None, :], lengths[None, :] - 1 - steps, steps)  # [t, b]

    def gather(x):
        return jnp.take_along_axis(x, index.reshape(index.shape + (1,) * (x.ndim - 2)), axis=0)

    return jax.tree_util.tree_map(gather, xs)
