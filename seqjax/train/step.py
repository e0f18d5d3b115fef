"""The train state and the jitted train step, built from a loss function and any Optax optimizer.

    state = TrainState.create(params, optimizer, key=jax.random.key(0))
    train_step = make_train_step(loss_fn, optimizer)
    state, metrics = train_step(state, batch)

A loss function maps ``(params, batch, key)`` to ``(loss, sums)`` (see
``seqjax.train.losses``). A *stateful* loss function (truncated BPTT for language
models) takes the carried recurrent state too, ``(params, batch, key, carry)``, and
returns ``(loss, (sums, new_carry))``; ``TrainState.create(..., carry=...)`` selects
it. The carry crosses batch boundaries as a value only: its gradient is stopped there.

What the step does, in order (Flax's examples read the same way):

1. ``key = fold_in(state.key, state.step)``: one fresh key per step, reproducible on resume;
2. the loss and its gradient, with params cast to ``compute_dtype`` (bfloat16 mixed
   precision: float32 master params, gradients cast back to float32);
3. the optimizer update (clipping and schedules live in the Optax chain: ``optimizer()``);
4. a finiteness check: if the loss, any gradient or any updated parameter is NaN/inf the
   state is returned unchanged and ``metrics["finite"]`` is False; ``fit`` then stops with the
   step named, and nothing non-finite is ever checkpointed.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from seqjax.cells.protocol import cast_params
from seqjax.core.types import Params, PRNGKey


class TrainState(NamedTuple):
    step: jax.Array          # int32 scalar: updates applied so far
    params: Params
    opt_state: optax.OptState
    key: PRNGKey             # the run's base key; per-step keys are fold_in(key, step)
    carry: Any = None        # recurrent state carried across batches (truncated BPTT), or None

    @classmethod
    def create(cls, params: Params, optimizer: optax.GradientTransformation, key: PRNGKey, carry: Any = None) -> "TrainState":
        return cls(jnp.zeros((), jnp.int32), params, optimizer.init(params), key, carry)


def optimizer(learning_rate: float = 1e-3, *, name: str = "adam", clip_norm: float | None = 1.0, warmup_steps: int = 0,
              decay_steps: int | None = None, weight_decay: float = 0.0) -> optax.GradientTransformation:
    """The usual chain: global-norm clipping, then Adam/AdamW/SGD on a warmup + cosine schedule.

    ``decay_steps=None`` keeps the rate constant after warmup. ``optax.inject_hyperparams``
    exposes the current learning rate in the optimizer state (and so in checkpoints).
    """
    try:
        rate = float(learning_rate)
    except (TypeError, ValueError):
        rate = math.nan
    if isinstance(learning_rate, bool) or not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"learning_rate must be a finite number > 0, got {learning_rate!r}")
    if clip_norm is not None and not (math.isfinite(clip_norm) and clip_norm >= 0):
        raise ValueError(f"clip_norm must be a finite number > 0 (or 0 / None: no clipping), got {clip_norm}; "
                         "a negative norm would turn clipping into gradient ascent")
    for field, value in (("warmup_steps", warmup_steps), ("decay_steps", decay_steps or 0)):
        if value < 0:
            raise ValueError(f"{field} must be >= 0, got {value}")
    if not (math.isfinite(weight_decay) and weight_decay >= 0):
        raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay}")
    if decay_steps is not None:
        schedule = optax.warmup_cosine_decay_schedule(0.0, learning_rate, warmup_steps, max(decay_steps, warmup_steps + 1))
    elif warmup_steps:
        schedule = optax.join_schedules([optax.linear_schedule(0.0, learning_rate, warmup_steps), optax.constant_schedule(learning_rate)], [warmup_steps])
    else:
        schedule = optax.constant_schedule(learning_rate)
    makers = {"adam": lambda lr: optax.adam(lr), "adamw": lambda lr: optax.adamw(lr, weight_decay=weight_decay),
              "sgd": lambda lr: optax.sgd(lr, momentum=0.9)}
    if name not in makers:
        raise ValueError(f"optimizer name must be one of {sorted(makers)}, got {name!r}")
    chain = [optax.clip_by_global_norm(clip_norm)] if clip_norm else []
    return optax.chain(*chain, makers[name](schedule))


def freeze(optimizer: optax.GradientTransformation, frozen: Callable[[str], bool]) -> optax.GradientTransformation:
    """``optimizer`` for every parameter except those whose path ``frozen(path)`` accepts, which
    never change: their updates are zero, also under weight decay, which moves a parameter
    whatever its gradient. Paths read like ``"src_embed/table"`` (dict keys and tuple
    indices joined by ``/``)::

        optimizer = train.freeze(train.optimizer(1e-3, name="adamw"), lambda path: path.startswith("embed"))
    """
    from seqjax.core.types import path_string

    def labels(params):
        return jax.tree_util.tree_map_with_path(lambda path, _: "frozen" if frozen(path_string(path)) else "trained", params)

    return optax.multi_transform({"trained": optimizer, "frozen": optax.set_to_zero()}, labels)


class CountingJit:
    """``jax.jit(fn)`` that counts its compilations (one per new input shape/dtype signature).

    ``compilations`` is what bucketing keeps small: a stream of batches padded to
    ``k`` bucket lengths compiles at most ``k`` times.
    """

    def __init__(self, fn: Callable, **jit_kwargs):
        self.compilations = 0

        def traced(*args, **kwargs):
            self.compilations += 1  # runs only while tracing, i.e. once per compilation
            return fn(*args, **kwargs)

        self._jitted = jax.jit(traced, **jit_kwargs)

    def __call__(self, *args, **kwargs):
        return self._jitted(*args, **kwargs)

    def lower(self, *args, **kwargs):
        return self._jitted.lower(*args, **kwargs)


def _all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def make_train_step(loss_fn: Callable, optimizer: optax.GradientTransformation, *, compute_dtype=None,
                    donate: bool = False, jit: bool = True) -> Callable:
    """``train_step(state, batch) -> (state, metrics)``, jitted (``.compilations`` counts compiles).

    Args:
      loss_fn: ``(params, batch, key) -> (loss, sums)``, or with a carry (see module doc).
      optimizer: any ``optax.GradientTransformation``.
      compute_dtype: e.g. ``jnp.bfloat16`` for mixed precision: the loss sees params
        cast to it; the master params, optimizer state and gradients stay float32.
      donate: let XLA reuse the old state's buffers (saves memory; the caller must not
        touch the old state afterwards).
      jit: False returns the plain Python function (for debugging).

    ``metrics`` holds the loss, the loss function's sums, ``grad_norm`` (before
    clipping), ``finite`` and which part was finite: ``loss_finite``, ``gradient_finite``,
    ``update_finite`` (the parameters after the optimizer's update).
    """

    def train_step(state: TrainState, batch) -> tuple[TrainState, dict]:
        key = jax.random.fold_in(state.key, state.step)
        stateful = state.carry is not None

        def objective(params):
            if compute_dtype is not None:
                params = cast_params(params, compute_dtype)
            if stateful:
                loss, (sums, carry) = loss_fn(params, batch, key, state.carry)
            else:
                (loss, sums), carry = loss_fn(params, batch, key), None
            return loss.astype(jnp.float32), (sums, carry)

        (loss, (sums, carry)), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
        grads = jax.tree_util.tree_map(lambda g, p: g.astype(p.dtype), grads, state.params)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        if stateful:  # truncated BPTT: the next batch starts from this value, with no gradient path back
            carry = jax.tree_util.tree_map(lambda new, old: jax.lax.stop_gradient(new).astype(old.dtype), carry, state.carry)
        # which of the three was non-finite (fit names it): a NaN learning rate makes finite gradients a non-finite update
        checks = {"loss_finite": jnp.isfinite(loss), "gradient_finite": _all_finite(grads), "update_finite": _all_finite(params)}
        finite = checks["loss_finite"] & checks["gradient_finite"] & checks["update_finite"]
        keep_good = lambda new, old: jax.tree_util.tree_map(lambda n, o: jnp.where(finite, n, o), new, old)  # noqa: E731
        new = TrainState(keep_good(state.step + 1, state.step), keep_good(params, state.params),
                         keep_good(opt_state, state.opt_state), state.key, keep_good(carry, state.carry))
        metrics = {"loss": loss, "grad_norm": optax.tree.norm(grads), "finite": finite, **checks, **sums}
        return new, metrics

    if not jit:
        return train_step
    return CountingJit(train_step, donate_argnums=(0,) if donate else ())


def make_eval_step(loss_fn: Callable, *, compute_dtype=None) -> CountingJit:
    """``eval_step(params, batch) -> sums`` for a stateless loss function (no dropout: key=None)."""

    def eval_step(params, batch):
        if compute_dtype is not None:
            params = cast_params(params, compute_dtype)
        _, sums = loss_fn(params, batch, None)
        return sums

    return CountingJit(eval_step)


def evaluate(eval_step: Callable, params: Params, batches) -> dict[str, float]:
    """Runs ``eval_step`` over ``batches`` and summarizes the exact totals."""
    from seqjax.train.losses import add, summarize

    total = None
    for batch in batches:
        total = add(total, eval_step(params, batch))
    if total is None:
        raise ValueError("evaluate got no batches")
    return summarize(total)
