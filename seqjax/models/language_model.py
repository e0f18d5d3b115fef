"""A decoder-only transformer language model (GPT; nanoGPT's ``GPT`` in seqjax's layers).

    ids ─embed + positions─> N × [causal self-attention, feed-forward] (pre-norm) ─> LayerNorm ─> logits

Every position predicts the next token, all in one parallel pass. Generation reads the prompt
in one pass that fills the key/value cache (``prefill``), then one token per ``step`` through
``seqjax.decoding`` (greedy, sampling, beam search)::

    model = TransformerLM(vocab_size=65, d_model=128, num_heads=4, num_layers=4, context=64)
    params = model.init(key)
    loss, sums = model.loss(params, {"ids": ids[:, :-1], "targets": ids[:, 1:]})
    out = model.generate(params, prompt, method="sample", key=key, max_length=400, temperature=0.8)

Past ``context`` tokens the learned positions run out, so, as nanoGPT's ``generate`` crops its
input, each further step reads the last ``context`` tokens again in one pass (``step`` switches
to this by itself; it costs a full pass per token, the cache's saving is within the context).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from seqjax import decoding
from seqjax.core.compiled import compiled
from seqjax.core.checks import check_positive, check_rate
from seqjax.layers.dense import dense, uniform_init
from seqjax.layers.dropout import Dropout
from seqjax.layers.embedding import Embedding
from seqjax.layers.positional import check_length, positions_by_name
from seqjax.train.losses import cross_entropy
from seqjax.attention.transformer import Decoder, DecoderLayer, DecoderState
from seqjax.core.types import Array, Params, PRNGKey
from seqjax.data.batching import batch_key


class LMState(NamedTuple):
    """Decoding state: the decoder's caches, and the tokens read so far (the last ``context``)."""

    decoder: DecoderState
    window: Array  # [b, context] int32


@dataclasses.dataclass(frozen=True)
class TransformerLM:
    """A GPT-style language model; see the module docstring.

    Fields:
      vocab_size; d_model, num_heads, num_layers; d_ff (None: 4·d_model).
      context: the most positions the model reads (its positional table; nanoGPT's block_size).
      dropout: on embeddings, sublayer outputs, the feed-forward and attention weights.
      activation: "gelu" (GPT) or "relu"; norm_first: pre-norm (GPT-2; True) or post-norm.
      positions: "learned" (GPT) or "sinusoidal"; tie_output: the readout is the embedding table.
      eps: the layer norms' epsilon; attention_dropout: on the attention weights (None: ``dropout``).
    """

    vocab_size: int
    d_model: int = 128
    num_heads: int = 4
    num_layers: int = 4
    d_ff: int | None = None
    context: int = 64
    dropout: float = 0.0
    activation: str = "gelu"
    norm_first: bool = True
    positions: str = "learned"
    tie_output: bool = True
    eps: float = 1e-5
    attention_dropout: float | None = None

    def __post_init__(self):
        check_positive(self, "vocab_size", "context")
        check_rate(self, "dropout")
        _ = (self.decoder, self.position_encoding)  # building the layers runs their checks of the sizes

    @property
    def max_length(self) -> int:
        return self.context

    @property
    def decoder(self) -> Decoder:
        layer = DecoderLayer(self.d_model, self.num_heads, self.d_ff or 4 * self.d_model, dropout=self.dropout,
                             attention_dropout=self.attention_dropout, activation=self.activation, norm_first=self.norm_first,
                             eps=self.eps, cross_attention=False)
        return Decoder(layer, self.num_layers, final_norm=True)

    @property
    def position_encoding(self):
        return positions_by_name(self.positions, self.context, self.d_model)

    @property
    def embed(self) -> Embedding:
        return Embedding(self.vocab_size, self.d_model, padding_id=None, stddev=0.02)

    def init(self, key: PRNGKey) -> Params:
        ke, kp, kd, kr = jax.random.split(key, 4)
        params = {"embed": self.embed.init(ke), "positions": self.position_encoding.init(kp), "decoder": self.decoder.init(kd),
                  "readout": {"b": jnp.zeros((self.vocab_size,))}}
        if not self.tie_output:
            params["readout"]["w"] = uniform_init(kr, (self.d_model, self.vocab_size), self.d_model, jnp.float32)
        return params

    def _inputs(self, params: Params, ids: Array, where: Array, key: PRNGKey | None = None) -> Array:
        x = self.embed(params["embed"], ids)
        return Dropout(self.dropout)(x + self.position_encoding(params["positions"], where).astype(x.dtype), key=key)

    def readout(self, params: Params, ys: Array) -> Array:
        r = params["readout"]
        if self.tie_output:
            return self.embed.attend(params["embed"], ys) + r["b"].astype(ys.dtype)
        return dense(ys, r["w"].astype(ys.dtype), r["b"].astype(ys.dtype))

    # --- training ----------------------------------------------------------------------------------

    @compiled
    def logits(self, params: Params, ids: Array, *, key: PRNGKey | None = None) -> Array:
        """``ids [b, t]`` -> the next token's logits at every position ``[b, t, vocab_size]``."""
        if ids.ndim != 2:
            raise ValueError(f"ids must have shape [batch, length], got {tuple(ids.shape)}")
        check_length(self, ids.shape[1])
        k_in, k_dec = jax.random.split(key) if key is not None else (None, None)
        x = self._inputs(params, ids, jnp.arange(ids.shape[1]), k_in)
        return self.readout(params, self.decoder(params["decoder"], x, key=k_dec))

    @compiled
    def attention_weights(self, params: Params, ids: Array, layer: int = -1) -> Array:
        """Layer ``layer``'s self-attention weights ``[b, heads, t, t]`` for ``ids [b, t]`` (row i: how
        position i attends to positions 0..i), for plots such as ``seqjax.core.plots.attention_heatmap``."""
        if not -self.num_layers <= layer < self.num_layers:
            raise ValueError(f"layer must lie in [-{self.num_layers}, {self.num_layers}) (the model's layers), got {layer}")
        check_length(self, ids.shape[1])
        layer %= self.num_layers
        decoder, x = self.decoder, self._inputs(params, ids, jnp.arange(ids.shape[1]))
        for p in params["decoder"]["layers"][:layer]:
            x, _ = decoder.layer(p, x)
        return decoder.layer.self_attention_weights(params["decoder"]["layers"][layer], x)

    @compiled
    def loss(self, params: Params, batch: dict, key: PRNGKey | None = None):
        """``(mean loss, sums)``: ``batch["ids"] [b, t]`` predicting ``batch["targets"] [b, t]``
        (optional ``batch["lengths"] [b]``: positions past them do not count)."""
        logits = self.logits(params, batch_key(batch, "ids"), key=key)
        return cross_entropy(logits, batch["targets"], lengths=batch.get("lengths"))

    # --- generation ------------------------------------------------------------------------------

    def prefill(self, params: Params, prompt: Array) -> tuple[LMState, Array]:
        """Reads ``prompt [b, t]`` (1 <= t <= context) in one pass: ``(state, logits [b, v])`` of its
        last position, the cache filled for ``step``."""
        check_length(self, prompt.shape[1], "prompt")
        x = self._inputs(params, prompt, jnp.arange(prompt.shape[1]))
        ys, state = self.decoder(params["decoder"], x, cache_length=self.context)
        window = jnp.pad(prompt.astype(jnp.int32), [(0, 0), (0, self.context - prompt.shape[1])])
        return LMState(state, window), self.readout(params, ys[:, -1])

    def step(self, params: Params, state: LMState, token: Array) -> tuple[LMState, Array]:
        """``seqjax.decoding``'s step function: reads ``token [b]`` -> ``(state, logits [b, v])``."""
        position = state.decoder.position

        def cached(state):
            window = jax.vmap(lambda w, t, p: w.at[p].set(t))(state.window, token.astype(jnp.int32), position)
            decoder, y = self.decoder.step(params["decoder"], state.decoder, self._inputs(params, token, position))
            return LMState(decoder, window), self.readout(params, y)

        def slide(state):  # the context is full: read the last `context` tokens again
            window = jnp.concatenate([state.window[:, 1:], token[:, None].astype(jnp.int32)], axis=1)
            state, logits = self.prefill(params, window)
            return state, logits

        return jax.lax.cond(jnp.all(position < self.context), cached, slide, state)

    def decode_start(self, params: Params, prompt: Array, lengths: Array | None = None, *, max_length: int,
                     attention: bool = False) -> decoding.DecodeStart:
        """``seqjax.decoding.Generator``: ``prompt [b, t]`` (int ids; the last ``context`` are read) read
        but for its last token, which the first step reads; no token ends a sequence unless
        ``generate``'s ``eos_id`` says so.

        ``lengths [b]``: prompts of different lengths, right-padded (row ``i``'s tokens are
        ``prompt[i, :lengths[i]]``). One pass reads the whole batch (the causal mask keeps every real
        position from the padding after it); each row then goes on from its own position, and its
        cache's rows past that position are never attended to before they are overwritten. Row
        ``i`` computes what its prompt alone computes; the prompts and the tokens generated must fit
        the context (``max(lengths) + max_length - 1 <= context``): the sliding window that lets
        one prompt run past it reads every row at one position."""
        if attention:
            raise ValueError("attention=True: TransformerLM records no attention weights while generating")
        prompt = decoding.check_prompt(prompt, self.vocab_size)
        lengths = decoding.check_prompt_lengths(lengths, prompt)
        if lengths is not None and (lengths < prompt.shape[1]).any():
            return self._ragged_start(params, prompt, lengths, max_length)
        prompt = prompt[:, -self.context:]
        state, _ = _prefill(self, params, prompt[:, :-1]) if prompt.shape[1] > 1 else (self.start(params, prompt.shape[0]), None)
        return decoding.DecodeStart(params, state, prompt[:, -1].astype(jnp.int32), None)

    def _ragged_start(self, params: Params, prompt: Array, lengths, max_length: int) -> decoding.DecodeStart:
        if int(lengths.max()) + max_length - 1 > self.context:
            raise ValueError(f"prompts of different lengths must fit the context with the tokens generated: the longest "
                             f"({int(lengths.max())}) + max_length ({max_length}) - 1 > context ({self.context})")
        state, _ = _prefill(self, params, prompt[:, :-1]) if prompt.shape[1] > 1 else (self.start(params, prompt.shape[0]), None)
        last = jnp.asarray(lengths - 1, jnp.int32)
        state = state._replace(decoder=state.decoder._replace(position=last))
        return decoding.DecodeStart(params, state, prompt[jnp.arange(prompt.shape[0]), last].astype(jnp.int32), None)

    def generate(self, params: Params, prompt: Array, lengths: Array | None = None, *, max_length: int, method: str | None = None,
                 **options) -> decoding.Decoded:
        """``max_length`` tokens after ``prompt [b, t]`` (``lengths [b]``: right-padded prompts of
        different lengths, see ``decode_start``) by ``method`` "greedy" (the default), "sample" or
        "beam" (``seqjax.decoding.generate``)."""
        method = decoding.generator.default_method(method, options, "TransformerLM")
        inputs = (prompt,) if lengths is None else (prompt, lengths)
        return decoding.generate(self, params, *inputs, max_length=max_length, method=method, **options)

    def start(self, params: Params, batch: int) -> LMState:
        """The state before any token: empty caches."""
        return LMState(self.decoder.start(params["decoder"], batch, self.context), jnp.zeros((batch, self.context), jnp.int32))


@functools.partial(jax.jit, static_argnums=0)
def _prefill(model: TransformerLM, params, prompt):
    return model.prefill(params, prompt)
