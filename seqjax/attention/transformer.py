"""Transformer layers (Vaswani et al. 2017): encoder and decoder layers, their stacks, and the KV cache.

An encoder layer is two sublayers, a decoder layer three, each wrapped in a residual connection
and layer normalisation, in one of two arrangements:

    post-norm (the paper, PyTorch's default):   x = LayerNorm(x + Dropout(Sublayer(x)))
    pre-norm  (GPT-2, nanoGPT; norm_first):     x = x + Dropout(Sublayer(LayerNorm(x)))

    encoder layer:  self-attention over the source (padded keys masked)  ->  feed-forward
    decoder layer:  causal self-attention  ->  cross-attention over the encoder's memory  ->  feed-forward
                    (``cross_attention=False``: a decoder-only language model's block)
    feed-forward:   FFN(x) = max(0, x W_1 + b_1) W_2 + b_2   (position-wise; ``activation`` "relu", "gelu" or "gelu_tanh")

A pre-norm stack ends with one more LayerNorm (``final_norm``), as GPT-2 and ``nn.Transformer``.

    layer = DecoderLayer(d_model=256, num_heads=8, d_ff=512)
    decoder = Decoder(layer, num_layers=3)
    params = decoder.init(key)
    ys = decoder(params, xs, memory, key_mask=target_mask, memory_mask=source_mask)      # training: all at once
    state = decoder.start(params, batch=b, length=50, memory=memory, memory_mask=source_mask)
    state, y = decoder.step(params, state, x)                                             # decoding: one position

``step`` keeps each layer's keys and values in a ``KVCache`` (the cross-attention's are computed
once by ``start`` and kept as ``Constant``, which beam search copies per beam but never
reorders), so a token costs one position's work; fed one position at a time, ``step`` gives
the outputs of the full causal pass (tests/test_transformer.py checks it at every step).
Dropout is active only when a ``key`` is given.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from seqjax.core.checks import check_choice, check_positive, check_rate
from seqjax.layers.dense import dense, uniform_init
from seqjax.layers.dropout import Dropout
from seqjax.layers.normalization import LayerNorm
from seqjax.core.masking import Constant
from seqjax.attention.multi_head import KVCache, MultiHeadAttention, attention_mask
from seqjax.core.types import Array, DType, Params, PRNGKey

# "gelu_tanh": GELU's tanh approximation (GPT-2's ``gelu_new``, PyTorch's ``GELU(approximate="tanh")``)
FF_ACTIVATIONS = {"relu": jax.nn.relu, "gelu": lambda x: jax.nn.gelu(x, approximate=False),
                  "gelu_tanh": lambda x: jax.nn.gelu(x, approximate=True)}


def _keys(key: PRNGKey | None, n: int) -> list:
    return list(jax.random.split(key, n)) if key is not None else [None] * n


@dataclasses.dataclass(frozen=True)
class FeedForward:
    """``W_2 · Dropout(φ(W_1 x + b_1)) + b_2`` at every position; params ``{"w1", "w2"}`` as ``dense``
    (``w1 [d_model, d_ff]``), PyTorch's ``nn.Linear`` initialisation."""

    d_model: int
    d_ff: int
    activation: str = "relu"
    dropout: float = 0.0
    param_dtype: DType = jnp.float32

    def __post_init__(self):
        check_positive(self, "d_model", "d_ff")
        check_choice(self, "activation", tuple(FF_ACTIVATIONS))
        check_rate(self, "dropout")

    def init(self, key: PRNGKey) -> Params:
        k = jax.random.split(key, 4)
        d, f = self.d_model, self.d_ff
        return {"w1": {"w": uniform_init(k[0], (d, f), d, self.param_dtype), "b": uniform_init(k[1], (f,), d, self.param_dtype)},
                "w2": {"w": uniform_init(k[2], (f, d), f, self.param_dtype), "b": uniform_init(k[3], (d,), f, self.param_dtype)}}

    def __call__(self, params: Params, x: Array, *, key: PRNGKey | None = None) -> Array:
        p1, p2 = params["w1"], params["w2"]
        h = FF_ACTIVATIONS[self.activation](dense(x, p1["w"].astype(x.dtype), p1["b"].astype(x.dtype)))
        h = Dropout(self.dropout)(h, key=key)
        return dense(h, p2["w"].astype(x.dtype), p2["b"].astype(x.dtype))


@dataclasses.dataclass(frozen=True)
class _Layer:
    """What encoder and decoder layers share: sizes, dropout, the norm arrangement."""

    d_model: int
    num_heads: int
    d_ff: int = 2048
    dropout: float = 0.1
    attention_dropout: float | None = None  # on the attention weights; None: ``dropout`` (as PyTorch)
    activation: str = "relu"
    norm_first: bool = False
    eps: float = 1e-5
    param_dtype: DType = jnp.float32

    def __post_init__(self):
        check_positive(self, "d_model", "num_heads", "d_ff")
        check_rate(self, "dropout")
        if self.attention_dropout is not None:
            check_rate(self, "attention_dropout")
        _ = (self.attention(), self.feed_forward, self.norm)  # building the parts runs their checks (heads dividing d_model, ...)

    def attention(self, kv_features: int | None = None) -> MultiHeadAttention:
        rate = self.dropout if self.attention_dropout is None else self.attention_dropout
        return MultiHeadAttention(self.d_model, self.num_heads, kv_features=kv_features, dropout=rate, param_dtype=self.param_dtype)

    @property
    def feed_forward(self) -> FeedForward:
        return FeedForward(self.d_model, self.d_ff, self.activation, self.dropout, self.param_dtype)

    @property
    def norm(self) -> LayerNorm:
        return LayerNorm(self.d_model, eps=self.eps, param_dtype=self.param_dtype)

    def _in(self, norm: Params, x: Array) -> Array:
        """A sublayer's input: ``LayerNorm(x)`` in pre-norm, ``x`` in post-norm."""
        return self.norm(norm, x) if self.norm_first else x

    def _add(self, norm: Params, x: Array, y: Array, key: PRNGKey | None = None) -> Array:
        """The residual connection around a sublayer's output ``y``."""
        y = Dropout(self.dropout)(y, key=key)
        return x + y if self.norm_first else self.norm(norm, x + y)

    def _feed_forward(self, params: Params, x: Array, k_ff=None, k_drop=None) -> Array:
        return self._add(params["feed_forward_norm"], x, self.feed_forward(params["feed_forward"],
                                                                           self._in(params["feed_forward_norm"], x), key=k_ff), k_drop)


@dataclasses.dataclass(frozen=True)
class EncoderLayer(_Layer):
    """Self-attention, then feed-forward. Params ``{"self_attention", "self_attention_norm",
    "feed_forward", "feed_forward_norm"}``."""

    def init(self, key: PRNGKey) -> Params:
        ka, kf = jax.random.split(key)
        return {"self_attention": self.attention().init(ka), "self_attention_norm": self.norm.init(),
                "feed_forward": self.feed_forward.init(kf), "feed_forward_norm": self.norm.init()}

    def __call__(self, params: Params, x: Array, *, key_mask: Array | None = None, mask: Array | None = None,
                 key: PRNGKey | None = None) -> Array:
        """``x [b, t, d_model]`` -> ``[b, t, d_model]``; ``key_mask [b, t]`` True at real positions."""
        k = _keys(key, 4)
        h = self._in(params["self_attention_norm"], x)
        a, _ = self.attention()(params["self_attention"], h, key_mask=key_mask, mask=mask, key=k[0])
        x = self._add(params["self_attention_norm"], x, a, k[1])
        return self._feed_forward(params, x, k[2], k[3])


class LayerCache(NamedTuple):
    """A decoder layer's decoding state: its self-attention cache and the memory's keys and values."""

    self_attention: KVCache            # [b, L, heads, d_k] each
    cross_attention: Constant | None   # Constant(KVCache) of [b, s, heads, d_k], or None


@dataclasses.dataclass(frozen=True)
class DecoderLayer(_Layer):
    """Causal self-attention, cross-attention over a memory (unless ``cross_attention=False``),
    feed-forward. Params: the encoder layer's, plus ``"cross_attention"`` and ``"cross_attention_norm"``.

    ``memory_size``: the memory's feature size (None: ``d_model``)."""

    cross_attention: bool = True
    memory_size: int | None = None

    def init(self, key: PRNGKey) -> Params:
        ka, kc, kf = jax.random.split(key, 3)
        params = {"self_attention": self.attention().init(ka), "self_attention_norm": self.norm.init()}
        if self.cross_attention:
            params.update(cross_attention=self.attention(self.memory_size).init(kc), cross_attention_norm=self.norm.init())
        params.update(feed_forward=self.feed_forward.init(kf), feed_forward_norm=self.norm.init())
        return params

    def _check_memory(self, memory) -> None:
        if self.cross_attention and memory is None:
            raise ValueError("this DecoderLayer attends over an encoder memory: pass memory= (or build it with cross_attention=False)")
        if not self.cross_attention and memory is not None:
            raise ValueError("this DecoderLayer has no cross-attention (cross_attention=False), but memory= was given")

    def __call__(self, params: Params, x: Array, memory: Array | None = None, *, key_mask: Array | None = None,
                 memory_mask: Array | None = None, key: PRNGKey | None = None,
                 cache_length: int | None = None) -> tuple[Array, LayerCache | None]:
        """``x [b, t, d_model]`` over ``memory [b, s, m]`` -> ``(y [b, t, d_model], cache)``. With
        ``cache_length`` the cache holds this pass's keys and values at positions ``0..t-1`` of
        ``cache_length`` rows (a prompt read at once before ``step``), else it is None."""
        self._check_memory(memory)
        k = _keys(key, 6)
        mha = self.attention()
        h = self._in(params["self_attention_norm"], x)
        q, sk, sv = mha._project(h, params["self_attention"]["q"], params["self_attention"]["k"], params["self_attention"]["v"])
        full = attention_mask(x.shape[0], mha.num_heads, x.shape[1], x.shape[1], key_mask=key_mask, causal=True)
        a, _ = mha.attend(params["self_attention"], q, sk, sv, full, key=k[0])
        x = self._add(params["self_attention_norm"], x, a, k[1])
        cross = None
        if self.cross_attention:
            cross_mha = self.attention(self.memory_size)
            h = self._in(params["cross_attention_norm"], x)
            a, _ = cross_mha(params["cross_attention"], h, memory, key_mask=memory_mask, key=k[2])
            x = self._add(params["cross_attention_norm"], x, a, k[3])
            if cache_length is not None:
                cross = Constant(cross_mha.keys_values(params["cross_attention"], memory))
        y = self._feed_forward(params, x, k[4], k[5])
        if cache_length is None:
            return y, None
        pad = [(0, 0), (0, cache_length - x.shape[1]), (0, 0), (0, 0)]
        return y, LayerCache(KVCache(jnp.pad(sk, pad), jnp.pad(sv, pad)), cross)

    def self_attention_weights(self, params: Params, x: Array, *, key_mask: Array | None = None) -> Array:
        """This layer's causal self-attention weights ``[b, heads, t, t]`` (row: a query position) for
        its input ``x [b, t, d_model]``: what ``__call__`` computes and does not return (for plots)."""
        h = self._in(params["self_attention_norm"], x)
        _, weights = self.attention()(params["self_attention"], h, key_mask=key_mask, causal=True, return_weights=True)
        return weights

    def start(self, params: Params, batch: int, length: int, memory: Array | None = None, dtype: DType = jnp.float32) -> LayerCache:
        """An empty self-attention cache of ``length`` positions, and the memory's keys and values."""
        self._check_memory(memory)
        cross = None
        if self.cross_attention:
            cross = Constant(self.attention(self.memory_size).keys_values(params["cross_attention"], memory.astype(dtype)))
        return LayerCache(self.attention().empty_cache(batch, length, dtype), cross)

    def step(self, params: Params, cache: LayerCache, x: Array, position: Array,
             memory_mask: Array | None = None) -> tuple[LayerCache, Array, Array | None]:
        """One position ``x [b, d_model]`` at ``position [b]`` -> ``(cache, y [b, d_model], cross weights [b, heads, s])``."""
        h = self._in(params["self_attention_norm"], x)
        self_cache, a, _ = self.attention().step(params["self_attention"], cache.self_attention, h, position)
        x = self._add(params["self_attention_norm"], x, a)
        weights = None
        if self.cross_attention:
            mha = self.attention(self.memory_size)
            h = self._in(params["cross_attention_norm"], x)
            memory = cache.cross_attention.value
            mask = None if memory_mask is None else memory_mask[:, None, None, :]
            a, weights = mha.attend(params["cross_attention"], mha.queries(params["cross_attention"], h[:, None]),
                                    memory.k, memory.v, mask, return_weights=True)
            x = self._add(params["cross_attention_norm"], x, a[:, 0])
            weights = weights[:, :, 0]
        return LayerCache(self_cache, cache.cross_attention), self._feed_forward(params, x), weights


# --- stacks ------------------------------------------------------------------------------------


class _Stack:
    """What both stacks share. Fields of each: ``layer``, ``num_layers`` (each layer its own
    parameters), ``final_norm`` (a LayerNorm after the last layer; None: with pre-norm layers only)."""

    def _check_fields(self, kind: type) -> None:
        check_positive(self, "num_layers")
        if not isinstance(self.layer, kind):
            raise ValueError(f"{type(self).__name__}.layer must be a {kind.__name__}, got {type(self.layer).__name__}")

    @property
    def _final(self) -> bool:
        return self.layer.norm_first if self.final_norm is None else self.final_norm

    def init(self, key: PRNGKey) -> Params:
        keys = jax.random.split(key, self.num_layers)
        params = {"layers": tuple(self.layer.init(k) for k in keys)}
        if self._final:
            params["norm"] = self.layer.norm.init()
        return params

    def _finish(self, params: Params, x: Array) -> Array:
        return self.layer.norm(params["norm"], x) if self._final else x

    def _check_params(self, params: Params) -> None:
        if len(params["layers"]) != self.num_layers:
            raise ValueError(f"params hold {len(params['layers'])} layers, but this stack has num_layers={self.num_layers}")


@dataclasses.dataclass(frozen=True)
class Encoder(_Stack):
    """``num_layers`` encoder layers (each its own parameters). Outputs at padded positions are zero."""

    layer: EncoderLayer
    num_layers: int
    final_norm: bool | None = None

    def __post_init__(self):
        self._check_fields(EncoderLayer)

    def __call__(self, params: Params, x: Array, *, key_mask: Array | None = None, key: PRNGKey | None = None) -> Array:
        self._check_params(params)
        for p, k in zip(params["layers"], _keys(key, self.num_layers)):
            x = self.layer(p, x, key_mask=key_mask, key=k)
        x = self._finish(params, x)
        return x if key_mask is None else jnp.where(key_mask[..., None], x, jnp.zeros_like(x))


class DecoderState(NamedTuple):
    """The decoding state of a decoder stack (``seqjax.decoding`` reorders it between beams)."""

    position: Array                  # [b] int32: where the next token goes
    layers: tuple[LayerCache, ...]   # one per layer
    memory_mask: Constant | None     # Constant([b, s] bool), or None
    weights: Array | None            # [b, s]: the last layer's cross-attention, averaged over heads


@dataclasses.dataclass(frozen=True)
class Decoder(_Stack):
    """``num_layers`` decoder layers; ``__call__`` for teacher forcing, ``start``/``step`` to decode."""

    layer: DecoderLayer
    num_layers: int
    final_norm: bool | None = None

    def __post_init__(self):
        self._check_fields(DecoderLayer)

    def __call__(self, params: Params, x: Array, memory: Array | None = None, *, key_mask: Array | None = None,
                 memory_mask: Array | None = None, key: PRNGKey | None = None, cache_length: int | None = None):
        """``x [b, t, d_model]`` -> ``y [b, t, d_model]``; with ``cache_length``, ``(y, DecoderState)``
        ready to ``step`` from position ``t`` (prefill)."""
        self._check_params(params)
        if cache_length is not None and cache_length < x.shape[1]:
            raise ValueError(f"cache_length ({cache_length}) must be at least the length read ({x.shape[1]})")
        caches = []
        for p, k in zip(params["layers"], _keys(key, self.num_layers)):
            x, cache = self.layer(p, x, memory, key_mask=key_mask, memory_mask=memory_mask, key=k, cache_length=cache_length)
            caches.append(cache)
        y = self._finish(params, x)
        if cache_length is None:
            return y
        position = jnp.full((x.shape[0],), x.shape[1], jnp.int32)
        return y, DecoderState(position, tuple(caches), None if memory_mask is None else Constant(memory_mask), self._no_weights(memory))

    def _no_weights(self, memory) -> Array | None:
        return None if memory is None else jnp.zeros(memory.shape[:2], jnp.float32)

    def start(self, params: Params, batch: int, length: int, memory: Array | None = None, memory_mask: Array | None = None,
              dtype: DType = jnp.float32) -> DecoderState:
        """The state before the first token: empty caches of ``length`` positions (the most tokens
        ``step`` may read) and, with a memory, its keys and values for every layer."""
        self._check_params(params)
        if not isinstance(length, int) or length < 1:
            raise ValueError(f"length (the most positions the cache holds) must be a positive int, got {length!r}")
        layers = tuple(self.layer.start(p, batch, length, memory, dtype) for p in params["layers"])
        if memory is not None and memory_mask is None:
            memory_mask = jnp.ones(memory.shape[:2], bool)
        return DecoderState(jnp.zeros((batch,), jnp.int32), layers, None if memory_mask is None else Constant(memory_mask),
                            self._no_weights(memory))

    def step(self, params: Params, state: DecoderState, x: Array) -> tuple[DecoderState, Array]:
        """One position ``x [b, d_model]`` -> ``(state, y [b, d_model])``."""
        mask = None if state.memory_mask is None else state.memory_mask.value
        caches, weights = [], state.weights
        for p, cache in zip(params["layers"], state.layers):
            cache, x, w = self.layer.step(p, cache, x, state.position, mask)
            caches.append(cache)
            if w is not None:
                weights = jnp.mean(w.astype(jnp.float32), axis=1)
        return DecoderState(state.position + 1, tuple(caches), state.memory_mask, weights), self._finish(params, x)
