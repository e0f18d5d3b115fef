"""Pooling a sequence into one vector over its valid steps only (many-to-one models).

    last(ys, lengths)                 the output at each sequence's last valid step
    final_output(cell, state)         the right "last" features of a final state (Bidirectional, Stack)
    masked_mean(ys, lengths)          the mean over valid steps
    masked_max(ys, lengths)           the maximum over valid steps (max-over-time, Kim 2014)
    AttentionPooling(d, a)            Σ_t p_t y_t with p = softmax(vᵀ tanh(W y_t + b)) over valid steps

``ys`` is batch-major ``[b, t, d]`` with ``lengths [b]``; padding never changes a result (a
property test pads further and compares). A sequence of length 0 pools to zeros.

Bidirectional outputs: at step ``t`` a ``Bidirectional`` layer outputs ``[f_t; b_t]``, where
``b_t`` has read ``x_T .. x_t``. ``last(ys)`` therefore gives ``[f_T; b_T]``, whose backward half
has read only the last token. The summary of the whole sentence is ``[f_T; b_1]``: the forward
cell's final state and the backward cell's final state, which is what ``final_output(cell,
state)`` returns from ``unroll``'s final state (for a ``Stack``, of its last layer).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from seqjax.attention.scores import masked_softmax
from seqjax.core.checks import check_positive
from seqjax.layers.dense import dense, uniform_init
from seqjax.core.masking import sequence_mask
from seqjax.core.types import Array, DType, Params, PRNGKey, State


def _mask(ys: Array, lengths: Array | None) -> Array:
    if lengths is None:
        return jnp.ones(ys.shape[:2], bool)
    return sequence_mask(lengths, ys.shape[1])


def last(ys: Array, lengths: Array | None) -> Array:
    """``ys[b, lengths[b] - 1]`` (zeros for a sequence of length 0): ``[b, d]``."""
    if lengths is None:
        return ys[:, -1]
    index = jnp.clip(lengths - 1, 0, ys.shape[1] - 1)
    picked = jnp.take_along_axis(ys, index[:, None, None], axis=1)[:, 0]
    return jnp.where((lengths > 0)[:, None], picked, jnp.zeros_like(picked))


def masked_mean(ys: Array, lengths: Array | None) -> Array:
    """The mean of ``ys [b, t, d]`` over each sequence's valid steps: ``[b, d]``."""
    mask = _mask(ys, lengths)[..., None]
    total = jnp.sum(jnp.where(mask, ys, jnp.zeros_like(ys)), axis=1)
    count = jnp.maximum(jnp.sum(mask, axis=1), 1).astype(ys.dtype)
    return total / count


def masked_max(ys: Array, lengths: Array | None) -> Array:
    """The maximum of ``ys [b, t, d]`` over each sequence's valid steps: ``[b, d]``."""
    mask = _mask(ys, lengths)[..., None]
    lowest = jnp.finfo(ys.dtype).min
    pooled = jnp.max(jnp.where(mask, ys, lowest), axis=1)
    return jnp.where(jnp.any(mask, axis=1), pooled, jnp.zeros_like(pooled))


def final_output(cell, state: State) -> Array:
    """``cell.final_output(state)``: the summary vector of a sequence from ``unroll``'s final state
    (the first field ``h``; ``[forward; backward]`` for a ``Bidirectional``, each direction's final
    state; the last layer's for a ``Stack``). Every cell answers it (``seqjax.cells.protocol.RecurrentCell``)."""
    return cell.final_output(state)


@dataclasses.dataclass(frozen=True)
class AttentionPooling:
    """``Σ_t p_t y_t`` with ``p = softmax_t(vᵀ tanh(y_t W + b))`` over valid steps (Yang et al. 2016's
    word attention). Params ``w [d, a]``, ``b [a]``, ``v [a]``. Returns ``(pooled [b, d], p [b, t])``."""

    features: int
    attention_size: int
    param_dtype: DType = jnp.float32

    def __post_init__(self):
        check_positive(self, "features", "attention_size")

    def init(self, key: PRNGKey) -> Params:
        kw, kv = jax.random.split(key)
        return {"w": uniform_init(kw, (self.features, self.attention_size), self.features, self.param_dtype),
                "b": jnp.zeros((self.attention_size,), self.param_dtype),
                "v": uniform_init(kv, (self.attention_size,), self.attention_size, self.param_dtype)}

    def __call__(self, params: Params, ys: Array, lengths: Array | None) -> tuple[Array, Array]:
        scores = jnp.tanh(dense(ys, params["w"].astype(ys.dtype), params["b"].astype(ys.dtype))) @ params["v"].astype(ys.dtype)
        weights = masked_softmax(scores, _mask(ys, lengths))
        return jnp.einsum("bt,btd->bd", weights, ys), weights


POOLINGS = ("last", "final", "mean", "max", "attention")
