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

import dataclasses
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from seqjax.core.compiled import staged_check
from seqjax.cells.protocol import Cell, cast_params
from seqjax.kernels.options import DEFAULT, ScanOptions
from seqjax.core.masking import reverse_within_lengths, select, zero_where_invalid
from seqjax.core.types import Array, Params, PRNGKey, State


def run(cell: Cell, params: Params, state: State, xs: Array, lengths: Array | None, *, reverse: bool = False,
        options: ScanOptions = DEFAULT) -> tuple[Array, State]:
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
    options: ScanOptions = DEFAULT,
    time_major: bool = False,
    **deprecated,
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
      options: how the loop computes (``seqjax.ScanOptions``: hoisting, unrolling, remat, fused
        and cuDNN kernels); speed and memory only, the numbers are the same. The old keywords
        ``scan_unroll``, ``hoist``, ``remat``, ``fused`` and ``cudnn`` still work for one release,
        with a DeprecationWarning.
      time_major: ``xs`` is ``[t, b, d]`` and ``ys`` comes back ``[t, b, o]`` (PyTorch's default
        layout); the state is per sequence either way.

    Returns:
      ``(ys, final_state)``: ``ys [b, t, o]`` (``[t, o]`` unbatched) and the state
      after each sequence's last valid step.

    >>> cell = seqjax.GRU(input_size=3, hidden_size=5)
    >>> params = cell.init(jax.random.key(0))
    >>> ys, h = seqjax.unroll(cell, params, jnp.ones((2, 7, 3)), lengths=jnp.array([7, 4]))
    >>> ys.shape, h.h.shape
    ((2, 7, 5), (2, 5))
    """
    options = _options(options, deprecated)
    if time_major:
        if jnp.ndim(xs) != 3:
            raise ValueError(f"time_major=True expects xs [time, batch, features], got shape {tuple(jnp.shape(xs))}")
        ys, state = unroll(cell, params, jnp.swapaxes(xs, 0, 1), lengths=lengths, initial_state=initial_state, reverse=reverse,
                           key=key, options=options)
        return _swap(ys), state
    xs, lengths, initial_state, batched = _prepare(cell, params, xs, lengths, initial_state, key)
    params = cast_params(params, xs.dtype)
    ys, state = run(cell, params, initial_state, jnp.swapaxes(xs, 0, 1), lengths, reverse=reverse, options=options)
    return _finish(*_nan_where_lengths_are_out_of_range(_swap(ys), state, lengths, xs.shape[1]), batched)


_OLD_KEYWORDS = {"scan_unroll": "unroll", "hoist": "hoist", "remat": "remat", "fused": "fused", "cudnn": "cudnn"}


def _options(options: ScanOptions, deprecated: dict) -> ScanOptions:
    """``options`` resolved for this platform, with the old per-flag keywords (deprecated) folded in."""
    if not isinstance(options, ScanOptions):
        raise TypeError(f"options must be a seqjax.ScanOptions, got {type(options).__name__}")
    unknown = sorted(set(deprecated) - set(_OLD_KEYWORDS))
    if unknown:
        raise TypeError(f"unroll() got unexpected keyword argument(s) {', '.join(unknown)}")
    if deprecated:
        warnings.warn(f"unroll({', '.join(f'{k}=' for k in deprecated)}...) is deprecated: pass "
                      f"options=seqjax.ScanOptions({', '.join(f'{_OLD_KEYWORDS[k]}=...' for k in deprecated)})", DeprecationWarning, stacklevel=3)
        options = dataclasses.replace(options, **{_OLD_KEYWORDS[k]: v for k, v in deprecated.items()})
    return options.resolved()


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
            state = select(valid, new_state, state)
            y = zero_where_invalid(valid, y)
        ys.append(y)
    ys = jax.tree_util.tree_map(lambda *y: jnp.stack(y), *ys) if ys else jnp.zeros((0, xs.shape[1], cell.output_dim), xs.dtype)
    if reverse:
        ys = reverse_within_lengths(ys, lengths)
    return _finish(*_nan_where_lengths_are_out_of_range(_swap(ys), state, lengths, xs.shape[0]), batched)


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
        # padding never reaches a cell, as a value or through a gradient (where's gradient is 0 · NaN = NaN)
        xs = jnp.where((jnp.arange(t)[None, :] < lengths[:, None])[..., None], xs, jnp.zeros((), xs.dtype))
    if initial_state is None:
        initial_state = cell.initial_state(b, xs.dtype, key=key)
    else:
        if not batched:
            initial_state = jax.tree_util.tree_map(lambda s: jnp.asarray(s)[None], initial_state)
        cell.check_state(initial_state, b, xs.dtype, key)
        initial_state = cast_params(initial_state, xs.dtype)
    return xs, lengths, initial_state, batched


def _nan_where_lengths_are_out_of_range(ys, state, lengths, t):
    """Under tracing a length cannot be checked (eagerly it is an error): a sequence whose length lies
    outside [0, t] gets NaN outputs and state, so a wrong length is loud (and ``fit`` refuses the step)
    rather than silently clamped."""
    if not isinstance(lengths, jax.core.Tracer):
        return ys, state
    bad = (lengths < 0) | (lengths > t)

    def poison(a):
        if not jnp.issubdtype(a.dtype, jnp.floating) or a.ndim == 0 or a.shape[0] != bad.shape[0]:
            return a
        return jnp.where(bad.reshape((-1,) + (1,) * (a.ndim - 1)), jnp.nan, a)

    return jax.tree_util.tree_map(poison, ys), jax.tree_util.tree_map(poison, state)


def _swap(ys):
    """Time-major <-> batch-major, for outputs that may be a tree (``AttentionOutput(y, weights)``)."""
    return jax.tree_util.tree_map(lambda y: jnp.swapaxes(y, 0, 1), ys)


def _finish(ys, state, batched):
    if batched:
        return ys, state
    return jax.tree_util.tree_map(lambda y: y[0], ys), jax.tree_util.tree_map(lambda s: s[0], state)


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
    elif lengths.size:
        staged_check(lambda: (lengths.min() >= 0) & (lengths.max() <= t),
                     f"lengths must lie in [0, {t}] (the time axis of xs), got values in [{{low}}, {{high}}]", low=lengths.min, high=lengths.max)
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
