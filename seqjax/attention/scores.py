"""Attention: a query reads a weighted average of a memory (the lectures' GNMT form).

For a query ``q`` (the decoder's state) and a memory ``x_1..x_T`` (the encoder's outputs)::

    s_t = score(q, x_t)                 one number per memory position
    p_t = softmax(s)_t                  zero at padded positions, summing to one over the rest
    a   = Σ_t p_t x_t                   the context vector

The scores, each a pure function below (all return ``(context, weights)``):

    additive            s_t = vᵀ tanh(W_q q + W_k x_t + b)        Bahdanau et al. 2015, GNMT ("concat" in Luong)
    dot                 s_t = qᵀ x_t                              Luong et al. 2015
    general             s_t = qᵀ W x_t                            Luong et al. 2015
    scaled dot-product  softmax(Q Kᵀ / √d_k) V                    Vaswani et al. 2017 (``jax.nn.dot_product_attention``)

Padding: ``mask [b, t]`` (True at real positions; ``seqjax.core.masking.sequence_mask(lengths, t)``)
sets padded scores to the dtype's lowest value before the softmax and the weights there to
exactly zero after it, so extra padding never changes a context. A row with no real position
gets all-zero weights and a zero context.

The layers ``AdditiveAttention`` and ``LuongAttention`` hold the parameters and share one
interface, which ``seqjax.AttentionDecoder`` calls at every step::

    keys = attention.keys(params, memory)              # once per source: [b, t, k]
    context, weights = attention(params, query, keys, memory, mask)   # query [b, q] -> [b, m], [b, t]
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from seqjax.core.checks import check_choice, check_positive
from seqjax.layers.dense import dense, uniform_init
from seqjax.layers.dropout import dropout_mask
from seqjax.core.types import Array, DType, Params, PRNGKey


def masked_softmax(scores: Array, mask: Array | None) -> Array:
    """``softmax(scores)`` over the last axis, computed in float32 at least (bfloat16 exponentials
    lose the small weights); exactly zero where ``mask`` is False."""
    compute = scores.dtype if jnp.finfo(scores.dtype).bits >= 32 else jnp.float32
    s = scores.astype(compute)
    if mask is None:
        return jax.nn.softmax(s, axis=-1).astype(scores.dtype)
    s = jnp.where(mask, s, jnp.finfo(compute).min)
    weights = jax.nn.softmax(s, axis=-1)
    return jnp.where(mask, weights, 0.0).astype(scores.dtype)


def _read(weights: Array, values: Array) -> Array:
    """``Σ_t p_t x_t``: ``weights [..., t]``, ``values [..., t, m]`` -> ``[..., m]``."""
    return jnp.einsum("...t,...tm->...m", weights, values.astype(weights.dtype))


def additive_attention(query: Array, keys: Array, values: Array, v: Array, mask: Array | None = None) -> tuple[Array, Array]:
    """``s_t = vᵀ tanh(query + keys_t)`` with both sides already projected: ``query [b, a]`` is
    ``W_q q``, ``keys [b, t, a]`` is ``W_k x + b``. Returns ``(context [b, m], weights [b, t])``."""
    scores = jnp.tanh(query[..., None, :] + keys) @ v.astype(keys.dtype)
    weights = masked_softmax(scores, mask)
    return _read(weights, values), weights


def dot_attention(query: Array, keys: Array, values: Array, mask: Array | None = None, *, scale: float = 1.0) -> tuple[Array, Array]:
    """``s_t = scale · qᵀ k_t`` for ``query [b, d]``, ``keys [b, t, d]``. Returns ``(context, weights)``."""
    scores = jnp.einsum("...d,...td->...t", query, keys.astype(query.dtype)) * jnp.asarray(scale, query.dtype)
    weights = masked_softmax(scores, mask)
    return _read(weights, values), weights


def general_attention(query: Array, keys: Array, values: Array, w: Array, mask: Array | None = None) -> tuple[Array, Array]:
    """``s_t = qᵀ W k_t`` (``W [q, k]``), computed as ``(q W)ᵀ k_t``: one small matmul per query."""
    return dot_attention(query @ w.astype(query.dtype), keys, values, mask)


def scaled_dot_product_attention(query: Array, key: Array, value: Array, *, mask: Array | None = None,
                                 causal: bool = False, scale: float | None = None,
                                 return_weights: bool = False, dropout: float = 0.0,
                                 dropout_key: PRNGKey | None = None) -> tuple[Array, Array | None]:
    """``softmax(Q Kᵀ / √d_k) V`` per head, the layout of ``jax.nn.dot_product_attention``.

    Args:
      query: ``[b, tq, heads, d]``; key: ``[b, tk, heads, d]``; value: ``[b, tk, heads, dv]``.
      mask: bool, broadcastable to ``[b, heads, tq, tk]``, True where a query may attend
        (a key-padding mask is ``sequence_mask(lengths, tk)[:, None, None, :]``).
      causal: also mask keys after each query (``tq == tk``, self-attention in a decoder).
      scale: defaults to ``1/√d``.
      return_weights: also return the weights ``[b, heads, tq, tk]``.
      dropout, dropout_key: inverted dropout on the weights before they mix the values
        (training; Vaswani et al. drop the sum instead, PyTorch and Flax drop the weights).
        The returned weights are those before dropout.

    Without ``return_weights`` this is ``jax.nn.dot_product_attention``, which picks cuDNN's
    fused kernel on NVIDIA GPUs where it applies and never forms the weights. With it, the
    formula is written out (the fused kernels do not return weights); both give the same
    numbers (tests/test_attention.py).
    """
    d = query.shape[-1]
    scale = d ** -0.5 if scale is None else scale
    if causal:
        tq, tk = query.shape[-3], key.shape[-3]
        lower = jnp.tril(jnp.ones((tq, tk), bool))
        mask = lower if mask is None else mask & lower
    drop = dropout > 0.0 and dropout_key is not None
    # float64 (gradient checks) takes the written-out path: jax.nn's promotes the scores with float32
    if not (return_weights or drop or query.dtype == jnp.float64):
        with jax.numpy_dtype_promotion("standard"):  # it promotes bfloat16 scores to float32 internally
            return jax.nn.dot_product_attention(query, key, value, mask=mask, scale=scale), None
    scores = jnp.einsum("bqhd,bkhd->bhqk", query, key) * jnp.asarray(scale, query.dtype)
    weights = masked_softmax(scores, None if mask is None else jnp.broadcast_to(mask, scores.shape))
    mixing = weights * dropout_mask(dropout_key, dropout, weights.shape, weights.dtype) if drop else weights
    context = jnp.einsum("bhqk,bkhd->bqhd", mixing, value.astype(weights.dtype))
    return context.astype(query.dtype), (weights if return_weights else None)


class Memory(NamedTuple):
    """What a decoder attends over, computed once per source batch."""

    values: Array  # [b, t, m]  the encoder's outputs
    keys: Array    # [b, t, k]  their projection for the score (``attention.keys``)
    mask: Array    # [b, t]     True at real source positions


@dataclasses.dataclass(frozen=True)
class AdditiveAttention:
    """Bahdanau (additive, "concat") attention: ``s_t = vᵀ tanh(W_q q + W_k x_t + b)``.

    Params: ``wq [q, a]``, ``wk [m, a]``, ``b [a]``, ``v [a]`` (``q`` query size, ``m`` memory
    size, ``a`` attention size). ``keys`` precomputes ``W_k x + b`` for the whole source, so
    each decoder step costs one ``[q, a]`` matmul and a ``tanh`` over ``[b, t, a]``.
    """

    query_size: int
    memory_size: int
    attention_size: int
    param_dtype: DType = jnp.float32

    def __post_init__(self):
        check_positive(self, "query_size", "memory_size", "attention_size")

    def init(self, key: PRNGKey) -> Params:
        kq, kk, kv = jax.random.split(key, 3)
        a = self.attention_size
        return {"wq": uniform_init(kq, (self.query_size, a), self.query_size, self.param_dtype),
                "wk": uniform_init(kk, (self.memory_size, a), self.memory_size, self.param_dtype),
                "b": jnp.zeros((a,), self.param_dtype),
                "v": uniform_init(kv, (a,), a, self.param_dtype)}

    def keys(self, params: Params, memory: Array) -> Array:
        return dense(memory, params["wk"].astype(memory.dtype), params["b"].astype(memory.dtype))

    def __call__(self, params: Params, query: Array, keys: Array, values: Array, mask: Array | None = None) -> tuple[Array, Array]:
        return additive_attention(query @ params["wq"].astype(query.dtype), keys, values, params["v"], mask)


@dataclasses.dataclass(frozen=True)
class LuongAttention:
    """Multiplicative attention (Luong et al. 2015): ``score="dot"`` (``qᵀ x_t``, needs
    ``query_size == memory_size``), ``"general"`` (``qᵀ W x_t``, ``W [q, m]``) or
    ``"scaled_dot"`` (``qᵀ x_t / √m``, the transformer's scaling, through
    ``scaled_dot_product_attention``)."""

    query_size: int
    memory_size: int
    score: str = "general"
    param_dtype: DType = jnp.float32

    def __post_init__(self):
        check_positive(self, "query_size", "memory_size")
        check_choice(self, "score", ("dot", "general", "scaled_dot"))
        if self.score != "general" and self.query_size != self.memory_size:
            raise ValueError(f"LuongAttention(score={self.score!r}) needs query_size == memory_size, got "
                             f"{self.query_size} and {self.memory_size}; use score='general'")

    def init(self, key: PRNGKey) -> Params:
        if self.score != "general":
            return {}
        return {"w": uniform_init(key, (self.query_size, self.memory_size), self.query_size, self.param_dtype)}

    def keys(self, params: Params, memory: Array) -> Array:
        return memory

    def __call__(self, params: Params, query: Array, keys: Array, values: Array, mask: Array | None = None) -> tuple[Array, Array]:
        if self.score == "general":
            return general_attention(query, keys, values, params["w"], mask)
        if self.score == "dot":
            return dot_attention(query, keys, values, mask)
        context, weights = scaled_dot_product_attention(
            query[:, None, None, :], keys[:, :, None, :], values[:, :, None, :],
            mask=None if mask is None else mask[:, None, None, :], return_weights=True)
        return context[:, 0, 0], weights[:, 0, 0]


ATTENTIONS = (AdditiveAttention, LuongAttention)
