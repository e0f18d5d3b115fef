"""Multi-head attention (Vaswani et al. 2017, section 3.2.2), with masks and a key/value cache.

    MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O
    head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V),   Attention(Q, K, V) = softmax(Q Kᵀ / √d_k) V

Each head works in ``d_k = d_model / h`` dimensions, so all heads together cost about as much
as one head over ``d_model``. The projections of all heads are stored side by side: ``W^Q
[d_model, d_model]`` is ``[W_1^Q ... W_h^Q]``, and head ``i`` reads columns ``i·d_k .. (i+1)·d_k``
(PyTorch's and Flax's layout too). The core is ``seqjax.scaled_dot_product_attention``
(``jax.nn.dot_product_attention`` underneath, which picks cuDNN's fused kernel on NVIDIA GPUs).

    mha = MultiHeadAttention(d_model=256, num_heads=8)
    params = mha.init(key)             # {"q", "k", "v", "o"}: each {"w": [in, 256], "b": [256]}
    y, _ = mha(params, x)                                   # self-attention: x [b, t, 256] -> [b, t, 256]
    y, _ = mha(params, x, causal=True, key_mask=mask)       # a decoder's: no peeking, no padding
    y, w = mha(params, x, memory, key_mask=memory_mask, return_weights=True)   # cross-attention; w [b, 8, t, s]

Masks are bool, True where a query may attend: ``key_mask [b, tk]`` marks real keys
(``seqjax.sequence_mask(lengths, tk)``), ``mask`` is any other mask broadcastable to
``[b, heads, tq, tk]`` (given as ``[tq, tk]``, ``[b, tq, tk]`` or ``[b, heads, tq, tk]``),
and ``causal`` hides every key after its query. Padded keys get exactly zero weight.

Incremental decoding: ``step`` reads one new position of a sequence, writes its key and value
into a ``KVCache`` at that position and attends over the cache up to it, so generating ``n``
tokens costs ``O(n)`` projections instead of ``O(n²)``. ``keys_values`` projects an encoder's
memory once for cross-attention.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from seqjax.attention.scores import scaled_dot_product_attention
from seqjax.core.checks import check_positive, check_rate
from seqjax.layers.dense import INITIALIZERS, dense, uniform_init
from seqjax.core.types import Array, DType, Params, PRNGKey


class KVCache(NamedTuple):
    """The keys and values of a sequence, one row per position: ``k, v [b, L, heads, d_k]``."""

    k: Array
    v: Array


def _check_bool(name: str, x, expected: str) -> None:
    if not hasattr(x, "dtype") or x.dtype != jnp.bool_:
        raise ValueError(f"{name} must be a bool array {expected} (True where a query may attend), "
                         f"got {getattr(x, 'dtype', type(x).__name__)} {tuple(jnp.shape(x))}")


def attention_mask(b: int, heads: int, tq: int, tk: int, *, key_mask: Array | None = None, mask: Array | None = None,
                   causal: bool = False) -> Array | None:
    """The three kinds of mask combined into one bool array broadcastable to ``[b, heads, tq, tk]``
    (None when there is none), after checking each one's shape and dtype."""
    combined = None
    if key_mask is not None:
        _check_bool("key_mask", key_mask, f"[batch, keys] = [{b}, {tk}]")
        if key_mask.shape != (b, tk):
            raise ValueError(f"key_mask must have shape [batch, keys] = [{b}, {tk}], got {tuple(key_mask.shape)}")
        combined = key_mask[:, None, None, :]
    if mask is not None:
        _check_bool("mask", mask, f"broadcastable to [batch, heads, queries, keys] = [{b}, {heads}, {tq}, {tk}]")
        full = {2: (tq, tk), 3: (b, tq, tk), 4: (b, heads, tq, tk)}.get(mask.ndim)
        if full is None or any(m not in (1, f) for m, f in zip(mask.shape, full)):
            raise ValueError(f"mask must have shape [queries, keys] = [{tq}, {tk}], [batch, queries, keys] or "
                             f"[batch, heads, queries, keys] = [{b}, {heads}, {tq}, {tk}] (1 broadcasts), got {tuple(mask.shape)}")
        mask = mask.reshape((1,) * (4 - mask.ndim) + mask.shape) if mask.ndim != 3 else mask[:, None]
        combined = mask if combined is None else combined & mask
    if causal:
        if tq != tk:
            raise ValueError(f"causal=True needs as many queries as keys (self-attention), got {tq} and {tk}")
        lower = jnp.tril(jnp.ones((tq, tk), bool))[None, None]
        combined = lower if combined is None else combined & lower
    return combined


@dataclasses.dataclass(frozen=True)
class MultiHeadAttention:
    """``h`` heads of scaled dot-product attention between learned projections (module docstring).

    Fields:
      d_model: the size of queries and outputs; ``num_heads`` must divide it.
      num_heads: ``h``; each head has ``d_k = d_model // num_heads`` dimensions.
      kv_features: the size of the keys' and values' inputs (an encoder memory of another size);
        None: ``d_model``.
      dropout: on the attention weights, while training (a ``key`` is given).
      use_bias: biases on the four projections.

    Params ``{"q", "k", "v", "o"}``, each ``{"w": [in, d_model], "b": [d_model]}``: Glorot-uniform
    Q/K/V weights (as PyTorch's ``in_proj_weight``), U(±1/√d_model) for ``W^O``, zero biases.
    """

    d_model: int
    num_heads: int
    kv_features: int | None = None
    dropout: float = 0.0
    use_bias: bool = True
    param_dtype: DType = jnp.float32

    def __post_init__(self):
        check_positive(self, "d_model", "num_heads")
        if self.kv_features is not None:
            check_positive(self, "kv_features")
        check_rate(self, "dropout")
        if self.d_model % self.num_heads:
            raise ValueError(f"MultiHeadAttention.d_model ({self.d_model}) must be divisible by num_heads "
                             f"({self.num_heads}): each head gets d_model / num_heads dimensions")

    @property
    def head_size(self) -> int:
        return self.d_model // self.num_heads

    @property
    def memory_size(self) -> int:
        return self.kv_features or self.d_model

    def init(self, key: PRNGKey) -> Params:
        kq, kk, kv, ko = jax.random.split(key, 4)
        d, glorot = self.d_model, INITIALIZERS["glorot_uniform"]

        def projection(k, fan_in, w):
            p = {"w": w(k, (fan_in, d), self.param_dtype)}
            if self.use_bias:
                p["b"] = jnp.zeros((d,), self.param_dtype)
            return p

        return {"q": projection(kq, d, glorot), "k": projection(kk, self.memory_size, glorot),
                "v": projection(kv, self.memory_size, glorot),
                "o": projection(ko, d, lambda k, shape, dtype: uniform_init(k, shape, d, dtype))}

    # --- projections ------------------------------------------------------------------------------

    def _project(self, x: Array, *ps: Params) -> list[Array]:
        """``x @ [W_1 ... W_n] + [b_1 ... b_n]`` as one matmul, split into heads ``[..., h, d_k]`` each."""
        w = jnp.concatenate([p["w"] for p in ps], axis=1).astype(x.dtype) if len(ps) > 1 else ps[0]["w"].astype(x.dtype)
        b = None
        if self.use_bias:
            b = jnp.concatenate([p["b"] for p in ps]).astype(x.dtype) if len(ps) > 1 else ps[0]["b"].astype(x.dtype)
        y = dense(x, w, b)
        return [part.reshape(*x.shape[:-1], self.num_heads, self.head_size) for part in jnp.split(y, len(ps), axis=-1)]

    def queries(self, params: Params, x: Array) -> Array:
        """``x [..., d_model]`` -> ``Q [..., heads, d_k]``."""
        return self._project(x, params["q"])[0]

    def keys_values(self, params: Params, memory: Array) -> KVCache:
        """``memory [b, s, kv_features]`` -> its keys and values ``[b, s, heads, d_k]`` (once per source)."""
        k, v = self._project(memory, params["k"], params["v"])
        return KVCache(k, v)

    def empty_cache(self, batch: int, length: int, dtype: DType = jnp.float32) -> KVCache:
        """A self-attention cache for ``length`` positions, all zeros."""
        zeros = jnp.zeros((batch, length, self.num_heads, self.head_size), dtype)
        return KVCache(zeros, zeros)

    def _output(self, params: Params, context: Array) -> Array:
        """``Concat(head_1..head_h) W^O``: ``[..., heads, d_k]`` -> ``[..., d_model]``."""
        p = params["o"]
        merged = context.reshape(*context.shape[:-2], self.d_model)
        return dense(merged, p["w"].astype(merged.dtype), p["b"].astype(merged.dtype) if self.use_bias else None)

    def attend(self, params: Params, q: Array, k: Array, v: Array, mask: Array | None = None, *, key: PRNGKey | None = None,
               return_weights: bool = False) -> tuple[Array, Array | None]:
        """The attention of projected heads ``q [b, tq, h, d_k]`` over ``k, v [b, tk, h, d_k]``, then ``W^O``."""
        context, weights = scaled_dot_product_attention(q, k.astype(q.dtype), v.astype(q.dtype), mask=mask,
                                                        return_weights=return_weights, dropout=self.dropout, dropout_key=key)
        return self._output(params, context), weights

    # --- the layer ---------------------------------------------------------------------------------

    def __call__(self, params: Params, query: Array, memory: Array | None = None, *, key_mask: Array | None = None,
                 mask: Array | None = None, causal: bool = False, key: PRNGKey | None = None,
                 return_weights: bool = False) -> tuple[Array, Array | None]:
        """``query [b, tq, d_model]`` attends over ``memory [b, tk, kv_features]`` (None: over
        itself). Returns ``(outputs [b, tq, d_model], weights [b, heads, tq, tk] or None)``."""
        if query.ndim != 3 or query.shape[-1] != self.d_model:
            raise ValueError(f"query must have shape [batch, length, d_model={self.d_model}], got {tuple(query.shape)}")
        b, tq = query.shape[:2]
        if memory is None:
            if self.memory_size != self.d_model:
                raise ValueError(f"self-attention needs kv_features == d_model; this layer's keys read {self.memory_size} "
                                 f"features: pass memory=")
            q, k, v = self._project(query, params["q"], params["k"], params["v"])  # one fused matmul
        else:
            if memory.ndim != 3 or memory.shape[0] != b or memory.shape[-1] != self.memory_size:
                raise ValueError(f"memory must have shape [batch={b}, length, kv_features={self.memory_size}], got {tuple(memory.shape)}")
            q = self.queries(params, query)
            k, v = self.keys_values(params, memory)
        full = attention_mask(b, self.num_heads, tq, k.shape[1], key_mask=key_mask, mask=mask, causal=causal)
        return self.attend(params, q, k, v, full, key=key, return_weights=return_weights)

    def step(self, params: Params, cache: KVCache, x: Array, position: Array, *,
             return_weights: bool = False) -> tuple[KVCache, Array, Array | None]:
        """Causal self-attention of one new position: ``x [b, d_model]`` at ``position [b]`` (int).

        Its key and value are written into ``cache`` at ``position``, and the query attends over
        the cache's positions ``0..position``. Returns ``(cache, y [b, d_model], weights)``; a
        sequence fed through ``step`` one position at a time gives the outputs of ``causal=True``.
        A position past the cache's length cannot raise under ``jit``: callers check lengths
        (the models' ``generate`` does)."""
        if cache.k.shape[0] != x.shape[0] or cache.k.shape[2:] != (self.num_heads, self.head_size):
            raise ValueError(f"cache must hold [batch={x.shape[0]}, length, heads={self.num_heads}, d_k={self.head_size}] "
                             f"keys, got {tuple(cache.k.shape)}: a cache of another layer or batch?")
        q, k, v = self._project(x[:, None], params["q"], params["k"], params["v"])  # [b, 1, h, d_k]

        def write(rows, new, p):  # one sequence's cache [L, h, d_k], its new row [1, h, d_k]
            return jax.lax.dynamic_update_slice_in_dim(rows, new.astype(rows.dtype), p, axis=0)

        position = position.astype(jnp.int32)
        cache = KVCache(jax.vmap(write)(cache.k, k, position), jax.vmap(write)(cache.v, v, position))
        seen = (jnp.arange(cache.k.shape[1]) <= position[:, None])[:, None, None, :]  # [b, 1, 1, L]
        y, weights = self.attend(params, q, cache.k, cache.v, seen, return_weights=return_weights)
        return cache, y[:, 0], weights
