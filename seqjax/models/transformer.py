"""The encoder–decoder Transformer (Vaswani et al. 2017) for sequence to sequence, same interface as ``Seq2Seq``.

    source ids ─embed·√d + PE─> Encoder (N × [self-attention, feed-forward]) ──> memory
    <GO> y_1 .. y_{n-1} ─embed·√d + PE─> Decoder (N × [causal self-attention, cross-attention, feed-forward]) ─> logits

Training is teacher-forced in one parallel pass (the causal mask keeps each position from
seeing the tokens after it); generation goes through ``seqjax.decoding`` with ``model.step``,
which reads one token with a key/value cache, so the call that decodes a recurrent
``Seq2Seq`` decodes a transformer::

    model = Transformer(len(src_vocab), len(tgt_vocab), d_model=256, num_heads=8, encoder_layers=3,
                        decoder_layers=3, d_ff=512, dropout=0.1)
    params = model.init(key)
    loss, sums = model.loss(params, batch, key)      # batch: source, source_lengths, target_inputs, target_outputs, target_lengths
    out = model.generate(params, source, source_lengths, method="beam", beam_width=5, max_length=50)

    state = model.prepare(params, source, source_lengths, max_length=50)      # or by hand:
    out = seqjax.decoding.greedy(model.step, params, state, start_tokens, max_length=50, eos_id=EOS_ID)

The embeddings are multiplied by √d_model before the positions are added (section 3.4), and
the readout is tied to the target embedding by default (``tie_output``).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp

from seqjax import decoding
from seqjax.core.compiled import compiled
from seqjax.core.checks import check_positive, check_rate
from seqjax.data.vocab import EOS_ID, GO_ID, PAD_ID
from seqjax.layers.dense import dense, uniform_init
from seqjax.layers.dropout import Dropout
from seqjax.layers.embedding import Embedding
from seqjax.core.masking import sequence_mask
from seqjax.models.seq2seq import attention_weights, check_source
from seqjax.layers.positional import check_length, positions_by_name
from seqjax.train.losses import cross_entropy
from seqjax.attention.transformer import Decoder, DecoderLayer, DecoderState, Encoder, EncoderLayer
from seqjax.core.types import Array, Params, PRNGKey


@dataclasses.dataclass(frozen=True)
class Transformer:
    """An encoder–decoder transformer over token ids; see the module docstring.

    Fields:
      src_vocab_size, tgt_vocab_size: vocabulary sizes (ids 0..3 are the specials).
      d_model, num_heads, d_ff: the layers' sizes; ``num_heads`` divides ``d_model``.
      encoder_layers, decoder_layers: how many layers each stack has.
      dropout: on embeddings + positions, on every sublayer's output, inside the feed-forward
        and (unless ``attention_dropout`` says otherwise) on the attention weights.
      activation: the feed-forward's, "relu" (the paper) or "gelu".
      norm_first: pre-norm layers (and a final LayerNorm per stack) instead of the paper's post-norm.
      positions: "sinusoidal" (the paper) or "learned"; ``max_length`` positions on each side.
      share_embeddings: one table for both sides (equal vocabularies); tie_output: the readout
        is the target embedding table (the paper ties both).
      label_smoothing: ε of the training loss (the paper's 0.1).
    """

    src_vocab_size: int
    tgt_vocab_size: int
    d_model: int = 512
    num_heads: int = 8
    encoder_layers: int = 6
    decoder_layers: int = 6
    d_ff: int = 2048
    dropout: float = 0.1
    attention_dropout: float | None = None
    activation: str = "relu"
    norm_first: bool = False
    positions: str = "sinusoidal"
    max_length: int = 256
    share_embeddings: bool = False
    tie_output: bool = True
    label_smoothing: float = 0.0
    pad_id: int = PAD_ID

    def __post_init__(self):
        check_positive(self, "src_vocab_size", "tgt_vocab_size", "encoder_layers", "decoder_layers", "max_length")
        check_rate(self, "dropout", "label_smoothing")
        _ = (self.encoder, self.decoder, self.position_encoding)  # building the layers runs their checks of the sizes
        if self.share_embeddings and self.src_vocab_size != self.tgt_vocab_size:
            raise ValueError("Transformer.share_embeddings needs equal source and target vocabularies, got "
                             f"{self.src_vocab_size} and {self.tgt_vocab_size}")

    # --- parts ----------------------------------------------------------------------------------

    def _layer(self, kind):
        return kind(self.d_model, self.num_heads, self.d_ff, dropout=self.dropout, attention_dropout=self.attention_dropout,
                    activation=self.activation, norm_first=self.norm_first)

    @property
    def encoder(self) -> Encoder:
        return Encoder(self._layer(EncoderLayer), self.encoder_layers)

    @property
    def decoder(self) -> Decoder:
        return Decoder(self._layer(DecoderLayer), self.decoder_layers)

    @property
    def position_encoding(self):
        return positions_by_name(self.positions, self.max_length, self.d_model)

    @property
    def src_embed(self) -> Embedding:
        return Embedding(self.src_vocab_size, self.d_model, padding_id=self.pad_id)

    @property
    def tgt_embed(self) -> Embedding:
        return Embedding(self.tgt_vocab_size, self.d_model, padding_id=self.pad_id)

    def init(self, key: PRNGKey) -> Params:
        ks, kt, ke, kd, kp, kq, kr = jax.random.split(key, 7)
        params = {"src_embed": self.src_embed.init(ks), "src_positions": self.position_encoding.init(kp),
                  "tgt_positions": self.position_encoding.init(kq), "encoder": self.encoder.init(ke), "decoder": self.decoder.init(kd)}
        if not self.share_embeddings:
            params["tgt_embed"] = self.tgt_embed.init(kt)
        params["readout"] = {"b": jnp.zeros((self.tgt_vocab_size,))}
        if not self.tie_output:
            params["readout"]["w"] = uniform_init(kr, (self.d_model, self.tgt_vocab_size), self.d_model, jnp.float32)
        return params

    def _tgt_params(self, params: Params) -> Params:
        return params["src_embed"] if self.share_embeddings else params["tgt_embed"]

    def _embed(self, embedding: Embedding, table: Params, positions: Params, ids: Array, where: Array) -> Array:
        """``E[ids]·√d_model + PE[where]``."""
        x = embedding(table, ids)
        return x * jnp.asarray(math.sqrt(self.d_model), x.dtype) + self.position_encoding(positions, where).astype(x.dtype)

    def readout(self, params: Params, ys: Array) -> Array:
        """Decoder outputs ``[..., d_model]`` -> logits ``[..., tgt_vocab_size]``."""
        r = params["readout"]
        if self.tie_output:
            return self.tgt_embed.attend(self._tgt_params(params), ys) + r["b"].astype(ys.dtype)
        return dense(ys, r["w"].astype(ys.dtype), r["b"].astype(ys.dtype))

    # --- training ----------------------------------------------------------------------------------

    @compiled
    def encode(self, params: Params, source: Array, source_lengths: Array, *, key: PRNGKey | None = None) -> tuple[Array, Array]:
        """``source [b, s]`` -> ``(memory [b, s, d_model], mask [b, s])``; memory is zero at padding."""
        check_length(self, source.shape[1], "source")
        k_drop, k_enc = jax.random.split(key) if key is not None else (None, None)
        mask = sequence_mask(source_lengths, source.shape[1])
        x = self._embed(self.src_embed, params["src_embed"], params["src_positions"], source, jnp.arange(source.shape[1]))
        x = Dropout(self.dropout)(x, key=k_drop)
        return self.encoder(params["encoder"], x, key_mask=mask, key=k_enc), mask

    @compiled
    def logits(self, params: Params, source: Array, source_lengths: Array, target_inputs: Array, target_lengths: Array, *,
               key: PRNGKey | None = None) -> Array:
        """Teacher-forced logits ``[b, t, tgt_vocab_size]`` for ``target_inputs [b, t]`` (<GO> first)."""
        check_length(self, target_inputs.shape[1], "target")
        k_enc, k_drop, k_dec = jax.random.split(key, 3) if key is not None else (None, None, None)
        memory, memory_mask = self.encode(params, source, source_lengths, key=k_enc)
        y = self._embed(self.tgt_embed, self._tgt_params(params), params["tgt_positions"], target_inputs,
                        jnp.arange(target_inputs.shape[1]))
        y = Dropout(self.dropout)(y, key=k_drop)
        # no key mask on the target: causality alone keeps real positions from reading padding after them
        ys = self.decoder(params["decoder"], y, memory, memory_mask=memory_mask, key=k_dec)
        return self.readout(params, ys)

    @compiled
    def loss(self, params: Params, batch: dict, key: PRNGKey | None = None):
        """``(mean loss, sums)`` over the real target tokens (``Seq2Seq.loss``'s batch keys)."""
        logits = self.logits(params, batch["source"], batch["source_lengths"], batch["target_inputs"], batch["target_lengths"], key=key)
        return cross_entropy(logits, batch["target_outputs"], lengths=batch["target_lengths"], label_smoothing=self.label_smoothing)

    # --- generation ------------------------------------------------------------------------------

    def prepare(self, params: Params, source: Array, source_lengths: Array, *, max_length: int) -> DecoderState:
        """The encoder's memory and an empty cache for ``max_length`` target tokens (no dropout)."""
        check_length(self, max_length, "generated sequence (max_length)")
        memory, mask = self.encode(params, source, source_lengths)
        return self.decoder.start(params["decoder"], source.shape[0], max_length, memory, mask, memory.dtype)

    def step(self, params: Params, state: DecoderState, token: Array) -> tuple[DecoderState, Array]:
        """``seqjax.decoding``'s step function: the previous token ``[n]`` -> ``(state, logits [n, v])``."""
        x = self._embed(self.tgt_embed, self._tgt_params(params), params["tgt_positions"], token, state.position)
        state, y = self.decoder.step(params["decoder"], state, x)
        return state, self.readout(params, y)

    def decode_start(self, params: Params, source: Array, source_lengths: Array, *, max_length: int,
                     attention: bool = False) -> decoding.DecodeStart:
        """``seqjax.decoding.Generator``: the encoder's memory and a cache of ``max_length``, <GO> first,
        <EOS> ends; ``attention`` records the last decoder layer's cross-attention averaged over heads."""
        source, source_lengths = check_source(source, source_lengths, self.src_vocab_size)
        state = _prepare(self, params, source, source_lengths, max_length)
        return decoding.DecodeStart(params, state, jnp.full((source.shape[0],), GO_ID, jnp.int32), EOS_ID, self.pad_id,
                                    attention_weights if attention else None)

    def generate(self, params: Params, source: Array, source_lengths: Array, *, max_length: int, method: str = "greedy",
                 **options) -> decoding.Decoded:
        """Translations of ``source [b, s]``, as ``Seq2Seq.generate`` (``seqjax.decoding.generate``)."""
        return decoding.generate(self, params, source, source_lengths, max_length=max_length, method=method, **options)


@functools.partial(jax.jit, static_argnums=(0, 4))
def _prepare(model: Transformer, params, source, source_lengths, max_length):
    return model.prepare(params, source, source_lengths, max_length=max_length)
