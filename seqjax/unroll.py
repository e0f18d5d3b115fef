"""Running a cell over a sequence: ``unroll`` (one ``lax.scan``) and ``loop_unroll`` (a plain loop).

Semantics, written as the loop that ``loop_unroll`` runs (batch-major ``xs [b, t, d]``)::

    state = initial_state or cell.initial_state(b)
    for t in range(T):
        new_state, y = cell.step(params, state, xs[:, t])
        valid = t < lengths                       # [b]; all True without lengths
        state = where(valid, new_state, state)    # frozen after the last valid step
        ys[:, t] = where(valid, y, 0)             # padding outputs are exactly zero

so the final state is the state at each sequence's last valid step and padding
never changes a result. ``reverse=True`` reverses each sequence *within its own
length* (as PyTorch does for packed sequences): position ``t < length`` of the
output is the state after reading ``x[length-1], ..., x[t]``.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from seqjax import cudnn as seqjax_cudnn
from seqjax.cell import Cell, ScanOptions, cast_params
from seqjax.types import Array, Params, PRNGKey, State


def _where_valid(valid: Array, new, old):
    """``where(valid[b], new, old)`` leaf-wise for pytrees whose leaves lead with the batch axis."""

    def pick(n, o):
        return jnp.where(valid.reshape(valid.shape + (1,) * (n.ndim - 1)), n, o)

    return jax.tree_util.tree_map(pick, new, old)


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
    valid = jnp.arange(jax.tree_util.tree_leaves(xs)[0].shape[0])[:, None] < lengths[None, :]  # [t, b]

    def body(state, inputs):
        x, v = inputs
        new_state, y = recur(state, x)
        return _where_valid(v, new_state, state), _where_valid(v, y, jnp.zeros_like(y))

    state, ys = jax.lax.scan(body, state, (xs, valid), reverse=reverse, unroll=unroll)
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


def run(cell: Cell, params: Params, state: State, xs: Array, lengths: Array | None, *, reverse: bool = False,
        options: ScanOptions = ScanOptions()) -> tuple[Array, State]:
    """``cell.scan`` over time-major ``xs``, optionally reversed within lengths (used by wrappers)."""
    if not reverse:
        return cell.scan(params, state, xs, lengths, options=options)
    ys, state = cell.scan(params, state, reverse_within_lengths(xs, lengths), lengths, options=options)
    return reverse_within_lengths(ys, lengths), state


def unroll(
    cell: Cell,
    params: Params,
    xs: Array,
    *,
    lengths: Array | None = None,
    initial_state: State | None = None,
    reverse: bool = False,
    key: PRNGKey | None = None,
    scan_unroll: int = 1,
    hoist: bool | None = None,
    remat: bool = False,
    fused: bool = True,
    cudnn: bool = False,
) -> tuple[Array, State]:
    """Runs ``cell`` over batch-major ``xs [b, t, d]`` (or unbatched ``[t, d]``) with one ``lax.scan``.

    Args:
      cell: any seqjax cell or wrapper.
      params: the cell's parameter tree (``cell.init(key)``).
      xs: float inputs ``[b, t, d]``, or ``[t, d]`` for a single sequence.
      lengths: int ``[b]`` (a scalar when unbatched) in ``[0, t]``; steps past a
        sequence's length output zeros and leave its state unchanged.
      initial_state: defaults to ``cell.initial_state(b, xs.dtype, key=key)``.
      reverse: run each sequence backwards within its own length.
      key: PRNG key for stochastic cells (dropout masks); None means deterministic.
      scan_unroll: ``lax.scan``'s unroll factor (speed only; results are identical).
      hoist: compute the input projections of all steps before the scan (see
        ``ScanOptions``); None picks by measurement: on off the CPU, off on the CPU.
      remat: recompute each step in the backward pass rather than store its
        intermediates (``jax.checkpoint``): less memory for long sequences, same gradients.
      fused: use a cell's hand-written backward pass where it has one (LSTM, GRU;
        ``seqjax.fused``); False differentiates the readable step instead. Same numbers.
        Forward-mode autodiff (``jax.jvp``, ``jax.jacfwd``) cannot pass through a custom
        VJP: use ``fused=False`` for it.
      cudnn: run ``seqjax.LSTM`` layers (tanh, float32) on cuDNN's LSTM kernel; CUDA GPUs
        only (``seqjax.cudnn``). Other cells keep XLA's loop. Same numbers to float32 rounding.

    Returns:
      ``(ys, final_state)``: ``ys [b, t, o]`` (``[t, o]`` unbatched) and the state
      after each sequence's last valid step.

    >>> cell = seqjax.GRU(input_size=3, hidden_size=5)
    >>> params = cell.init(jax.random.key(0))
    >>> ys, h = seqjax.unroll(cell, params, jnp.ones((2, 7, 3)), lengths=jnp.array([7, 4]))
    >>> ys.shape, h.h.shape
    ((2, 7, 5), (2, 5))
    """
    xs, lengths, initial_state, batched = _prepare(cell, params, xs, lengths, initial_state, key)
    params = cast_params(params, xs.dtype)
    if hoist is None:
        hoist = jax.default_backend() != "cpu"
    if cudnn and (why := seqjax_cudnn.unavailable("cudnn=True")):
        raise ValueError(f"{why} (use cudnn=False)")
    options = ScanOptions(hoist=hoist, unroll=scan_unroll, remat=remat, fused=fused, cudnn=cudnn)
    ys, state = run(cell, params, initial_state, jnp.swapaxes(xs, 0, 1), lengths, reverse=reverse, options=options)
    return _finish(jnp.swapaxes(ys, 0, 1), state, batched)


def loop_unroll(
    cell: Cell,
    params: Params,
    xs: Array,
    *,
    lengths: Array | None = None,
    initial_state: State | None = None,
    reverse: bool = False,
    key: PRNGKey | None = None,
) -> tuple[Array, State]:
    """The same as ``unroll``, as a Python loop over ``cell.step``: the readable reference path."""
    xs, lengths, state, batched = _prepare(cell, params, xs, lengths, initial_state, key)
    params = cast_params(params, xs.dtype)
    xs = jnp.swapaxes(xs, 0, 1)
    if reverse:
        xs = reverse_within_lengths(xs, lengths)
    ys = []
    for t in range(xs.shape[0]):
        new_state, y = cell.step(params, state, xs[t])
        if lengths is None:
            state = new_state
        else:
            valid = t < lengths
            state = _where_valid(valid, new_state, state)
            y = _where_valid(valid, y, jnp.zeros_like(y))
        ys.append(y)
    ys = jnp.stack(ys) if ys else jnp.zeros((0, xs.shape[1], cell.output_dim), xs.dtype)
    if reverse:
        ys = reverse_within_lengths(ys, lengths)
    return _finish(jnp.swapaxes(ys, 0, 1), state, batched)


# --- argument checks: clear errors before any tracing error can surface -------------


def _prepare(cell, params, xs, lengths, initial_state, key):
    if not isinstance(cell, Cell):
        raise TypeError(f"cell must be a seqjax cell (e.g. seqjax.LSTM(...)), got {type(cell).__name__}")
    xs = jnp.asarray(xs) if not isinstance(xs, jax.Array) else xs
    if not jnp.issubdtype(xs.dtype, jnp.floating):
        raise TypeError(f"xs must be a float array (float32, bfloat16, ...), got dtype {xs.dtype}; embed integer tokens first")
    if xs.ndim not in (2, 3) or xs.shape[-1] != cell.input_size:
        raise ValueError(
            f"xs must have shape [batch, time, {cell.input_size}] or [time, {cell.input_size}] "
            f"for {type(cell).__name__}(input_size={cell.input_size}), got shape {tuple(xs.shape)}"
        )
    batched = xs.ndim == 3
    if not batched:
        xs = xs[None]
    b, t = xs.shape[0], xs.shape[1]
    check_params(cell, params)
    if lengths is not None:
        lengths = _check_lengths(lengths, b, t, batched)
    if initial_state is None:
        initial_state = cell.initial_state(b, xs.dtype, key=key)
    else:
        if not batched:
            initial_state = jax.tree_util.tree_map(lambda s: jnp.asarray(s)[None], initial_state)
        _check_state(cell, initial_state, b, xs.dtype, key)
        initial_state = cast_params(initial_state, xs.dtype)
    return xs, lengths, initial_state, batched


def _finish(ys, state, batched):
    if batched:
        return ys, state
    return ys[0], jax.tree_util.tree_map(lambda s: s[0], state)


def _check_lengths(lengths, b, t, batched):
    lengths = jnp.asarray(lengths)
    expected = (b,) if batched else ()
    if lengths.shape != expected:
        want = f"[{b}] (one length per sequence)" if batched else "a scalar (xs is a single sequence)"
        raise ValueError(f"lengths must have shape {want}, got shape {tuple(lengths.shape)}")
    if not jnp.issubdtype(lengths.dtype, jnp.integer):
        raise TypeError(f"lengths must be an integer array, got dtype {lengths.dtype}")
    if not isinstance(lengths, jax.core.Tracer):
        values = np.asarray(lengths)
        if values.size and (values.min() < 0 or values.max() > t):
            raise ValueError(f"lengths must lie in [0, {t}] (the time axis of xs), got values in [{values.min()}, {values.max()}]")
    return lengths.reshape(b)


def check_params(cell: Cell, params: Params) -> None:
    """Raises ValueError naming the first leaf whose path or shape differs from ``cell.init``'s."""
    expected = cell.param_shapes()
    got_flat, got_def = jax.tree_util.tree_flatten_with_path(params)
    want_flat, want_def = jax.tree_util.tree_flatten_with_path(expected)
    name = type(cell).__name__
    if got_def != want_def:
        raise ValueError(
            f"params do not match {name}: expected a tree like {jax.tree_util.tree_map(lambda s: s.shape, expected)}, "
            f"got {jax.tree_util.tree_map(lambda p: getattr(p, 'shape', p), params)}"
        )
    for (path, got), (_, want) in zip(got_flat, want_flat):
        if tuple(jnp.shape(got)) != tuple(want.shape):
            raise ValueError(
                f"params{jax.tree_util.keystr(path)} has shape {tuple(jnp.shape(got))}, but {name}(input_size="
                f"{cell.input_size}, hidden_size={cell.hidden_size}) expects {tuple(want.shape)}: params from a different cell size?"
            )


def _check_state(cell, state, b, dtype, key):
    want = jax.eval_shape(functools.partial(cell.initial_state, b, dtype, key=key))
    got_flat, got_def = jax.tree_util.tree_flatten(state)
    want_flat, want_def = jax.tree_util.tree_flatten(want)
    if got_def != want_def or any(tuple(jnp.shape(g)) != tuple(w.shape) for g, w in zip(got_flat, want_flat)):
        raise ValueError(
            f"initial_state must match {type(cell).__name__}.initial_state({b}): expected shapes "
            f"{jax.tree_util.tree_map(lambda s: s.shape, want)}, got {jax.tree_util.tree_map(jnp.shape, state)}"
        )
