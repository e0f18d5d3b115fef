"""Sequence to sequence (Sutskever et al. 2014; with attention, Bahdanau et al. 2015, Luong et al. 2015, GNMT).

    source ids ──embed──> encoder (any cell: Bidirectional, residual Stack, ...) ──> memory, final state
                                                                   │ bridge
    <GO> y_1 .. y_{n-1} ──embed──> decoder (any cell, or an AttentionDecoder over the memory) ──> readout ──> logits

Training is teacher-forced: the decoder reads the gold previous token (``target_inputs``
start with <GO>) and predicts the next one (``target_outputs`` end with <EOS>), all in one
``unroll``; ``sampling_ratio`` > 0 feeds back the model's own samples instead, at that rate
(scheduled sampling, Bengio et al. 2015). Generation goes through ``seqjax.decoding``
(greedy, sampling, beam search) with ``model.step`` as the step function.

    model = Seq2Seq(src_vocab_size=len(src_vocab), tgt_vocab_size=len(tgt_vocab),
                    encoder=seqjax.Bidirectional(seqjax.GRU(256, 512)),
                    decoder=seqjax.AttentionDecoder(seqjax.GRU(256 + 1024, 512),
                                                    seqjax.AdditiveAttention(512, 1024, 512)))
    params = model.init(key)
    loss, sums = model.loss(params, batch, key)             # batch: source, source_lengths, target_inputs, ...
    out = model.generate(params, batch["source"], batch["source_lengths"], method="beam", beam_width=5, max_length=50)

The bridge sets the decoder's initial state from the encoder's final state: "dense" (each
recurrent vector of the decoder, and an attention decoder's first query or fed-back vector,
is ``tanh(W s + b)`` of all the encoder's final vectors concatenated, as ``s_0`` in Bahdanau
et al.), "copy" (the encoder's final vectors themselves; same shapes needed) or "zeros".
Dropout masks in either state are left alone.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp

from seqjax import decoding
from seqjax.attention.decoder import AttentionDecoder
from seqjax.cells.protocol import Cell, replace_state_vectors, state_batch, state_vectors
from seqjax.core.compiled import compiled
from seqjax.core.checks import check_choice, check_positive, check_rate, sizes_from
from seqjax.data.vocab import GO_ID, PAD_ID
from seqjax.layers.dense import dense, uniform_init
from seqjax.layers.dropout import Dropout
from seqjax.layers.embedding import Embedding
from seqjax.core.masking import masked_scan
from seqjax.train.losses import cross_entropy
from seqjax.core.types import Array, Params, PRNGKey, State
from seqjax.sequences.unroll import unroll

def attention_weights(state: State) -> Array:
    """``record`` for ``seqjax.decoding``: an attention decoder's weights of the step ``[b, s]``."""
    return state.weights


@dataclasses.dataclass(frozen=True)
class Seq2Seq:
    """An encoder–decoder over token ids; see the module docstring.

    Fields:
      src_vocab_size, tgt_vocab_size: vocabulary sizes (``len(vocab)``; ids 0..3 are the specials).
      encoder: a cell over the embedded source; its ``input_size`` is the source embedding size.
      decoder: a cell over the embedded target, usually an ``AttentionDecoder`` whose attention's
        ``memory_size`` is the encoder's output size; its ``input_size`` is the target embedding size.
      bridge: "dense", "copy" or "zeros" (module docstring).
      share_embeddings: one table for source and target (same vocabulary and sizes).
      tie_output: the readout multiplies with the target embedding table (a projection
        ``[decoder output, embedding]`` first when the sizes differ).
      readout_hidden: a tanh layer of this size between the decoder's outputs and the vocabulary
        (Bahdanau et al.'s "deep output"); None maps the outputs to the vocabulary directly.
        With a large vocabulary the readout is most of a training step's work, so a small layer
        here makes a step several times faster (``[y; a]`` of 1536 features to 6,000 words).
      dropout: on the embedded inputs and on the decoder's outputs before the readout.
      label_smoothing: ε of the training loss (``seqjax.train.cross_entropy``).
    """

    src_vocab_size: int
    tgt_vocab_size: int
    encoder: Cell
    decoder: Cell
    bridge: str = "dense"
    share_embeddings: bool = False
    tie_output: bool = False
    readout_hidden: int | None = None
    dropout: float = 0.0
    label_smoothing: float = 0.0
    pad_id: int = PAD_ID

    def __post_init__(self):
        check_positive(self, "src_vocab_size", "tgt_vocab_size")
        check_choice(self, "bridge", ("dense", "copy", "zeros"))
        check_rate(self, "dropout", "label_smoothing")
        if self.readout_hidden is not None:
            check_positive(self, "readout_hidden")
        for name in ("encoder", "decoder"):
            if not isinstance(getattr(self, name), Cell):
                raise ValueError(f"Seq2Seq.{name} must be a seqjax cell, got {type(getattr(self, name)).__name__}")
        if isinstance(self.decoder, AttentionDecoder) and self.decoder.memory_size != self.encoder.output_dim:
            raise ValueError(f"Seq2Seq: the decoder attends over a memory of size {self.decoder.memory_size}, but the "
                             f"encoder outputs {self.encoder.output_dim} features")
        if self.share_embeddings and (self.src_vocab_size, self.encoder.input_size) != (self.tgt_vocab_size, self.decoder.input_size):
            raise ValueError("Seq2Seq.share_embeddings needs equal vocabularies and embedding sizes on both sides")
        if self.bridge == "copy":
            enc = [x.shape for _, x in state_vectors(jax.eval_shape(lambda: self.encoder.initial_state(1)))]
            dec = [x.shape for _, x in state_vectors(jax.eval_shape(lambda: self._core.initial_state(1)))]
            if enc != dec:
                raise ValueError(f"Seq2Seq(bridge='copy') needs the encoder's final state vectors {enc} to match the "
                                 f"decoder's {dec}; use bridge='dense'")

    @classmethod
    def recurrent(cls, src_vocab_size: int, tgt_vocab_size: int, *, cell="gru", embed_size: int = 256, hidden_size: int = 512,
                  encoder_layers: int = 1, decoder_layers: int = 1, bidirectional: bool = True, attention: str = "additive",
                  style: str = "bahdanau", input_feeding: bool = False, residual: bool = False, dropout: float = 0.0,
                  **fields) -> "Seq2Seq":
        """The usual recurrent encoder–decoder, by name.

        Encoder: ``encoder_layers`` of ``cell`` ("gru", "lstm", "elman", or any
        ``(input_size, hidden_size) -> Cell``, e.g. ``functools.partial(GRU, reset_after=True)``), the first
        ``bidirectional`` (each direction ``hidden_size``), then unidirectional ones; with
        ``residual``, residual connections from the third layer on (GNMT). Decoder:
        ``decoder_layers`` of ``cell`` of size ``hidden_size`` with ``attention`` "additive"
        (Bahdanau), "dot", "general", "scaled_dot" (Luong's scores) or "none" over the encoder's
        outputs, in the given ``style``. ``dropout`` applies to embeddings, between layers
        and before the readout. Other ``Seq2Seq`` fields pass through (``bridge``, ``tie_output``, ...).
        ``embed_size`` is the token vectors' size on both sides.
        """
        embed, hidden = sizes_from(fields, embed_size, hidden_size, "Seq2Seq.recurrent")
        from seqjax.attention.scores import AdditiveAttention, LuongAttention
        from seqjax.cells.elman import Elman
        from seqjax.cells.gru import GRU
        from seqjax.cells.lstm import LSTM
        from seqjax.sequences.wrappers import Bidirectional, Stack

        cells = {"gru": GRU, "lstm": LSTM, "elman": Elman}
        if not callable(cell) and cell not in cells:
            raise ValueError(f"cell must be one of {sorted(cells)} or a function (input_size, hidden_size) -> cell, got {cell!r}")
        if attention not in ("additive", "dot", "general", "scaled_dot", "none"):
            raise ValueError(f"attention must be 'additive', 'dot', 'general', 'scaled_dot' or 'none', got {attention!r}")
        make = cell if callable(cell) else cells[cell]
        first = Bidirectional(make(embed, hidden)) if bidirectional else make(embed, hidden)
        layers = [first] + [make(first.output_dim if i == 1 else hidden, hidden) for i in range(1, encoder_layers)]
        encoder = layers[0] if encoder_layers == 1 else Stack(tuple(layers), dropout=dropout, residual_from=1 if residual else None)
        memory = encoder.output_dim

        def stack(input_size):
            sizes = [input_size] + [hidden] * decoder_layers
            cells_ = [make(sizes[i], sizes[i + 1]) for i in range(decoder_layers)]
            return cells_[0] if decoder_layers == 1 else Stack(tuple(cells_), dropout=dropout,
                                                                residual_from=1 if residual else None)

        if attention == "none":
            decoder = stack(embed)
        else:
            scorer = (AdditiveAttention(hidden, memory, hidden) if attention == "additive"
                      else LuongAttention(hidden, memory, score=attention))
            extra = memory if style == "bahdanau" else (hidden if input_feeding else 0)
            decoder = AttentionDecoder(stack(embed + extra), scorer, style=style, input_feeding=input_feeding)
        return cls(src_vocab_size, tgt_vocab_size, encoder, decoder, dropout=dropout, **fields)

    # --- parts ----------------------------------------------------------------------------------

    @property
    def _core(self) -> Cell:
        """The decoder's recurrent cell: what the bridge initialises."""
        return self.decoder.cell if isinstance(self.decoder, AttentionDecoder) else self.decoder

    @property
    def src_embed(self) -> Embedding:
        return Embedding(self.src_vocab_size, self.encoder.input_size, padding_id=self.pad_id)

    @property
    def tgt_embed(self) -> Embedding:
        return Embedding(self.tgt_vocab_size, self.decoder.input_size, padding_id=self.pad_id)

    def init(self, key: PRNGKey) -> Params:
        ks, kt, ke, kd, kb, kr = jax.random.split(key, 6)
        params = {"src_embed": self.src_embed.init(ks), "encoder": self.encoder.init(ke), "decoder": self.decoder.init(kd)}
        if not self.share_embeddings:
            params["tgt_embed"] = self.tgt_embed.init(kt)
        if self.bridge == "dense":
            fan = sum(x.shape[-1] for _, x in state_vectors(jax.eval_shape(lambda: self.encoder.initial_state(1))))
            targets = self._bridge_targets()
            keys = jax.random.split(kb, max(len(targets), 1))
            params["bridge"] = tuple({"w": uniform_init(k, (fan, x.shape[-1]), fan, jnp.float32), "b": jnp.zeros((x.shape[-1],))}
                                     for k, (_, x) in zip(keys, targets))
        out, embed = self.decoder.output_dim, self.decoder.input_size
        hidden = {}
        if self.readout_hidden:
            kh, kr = jax.random.split(kr)
            hidden = {"hidden": {"w": uniform_init(kh, (out, self.readout_hidden), out, jnp.float32), "b": jnp.zeros((self.readout_hidden,))}}
            out = self.readout_hidden
        if self.tie_output:
            params["readout"] = {"b": jnp.zeros((self.tgt_vocab_size,))}
            if out != embed:
                params["readout"]["w"] = uniform_init(kr, (out, embed), out, jnp.float32)
        else:
            params["readout"] = {"w": uniform_init(kr, (out, self.tgt_vocab_size), out, jnp.float32),
                                 "b": jnp.zeros((self.tgt_vocab_size,))}
        params["readout"].update(hidden)
        return params

    def _bridge_targets(self) -> list[tuple[str, Array]]:
        """What the dense bridge sets: the decoder cell's vectors and, with attention, its first feed."""
        targets = state_vectors(jax.eval_shape(lambda: self._core.initial_state(1)))
        if isinstance(self.decoder, AttentionDecoder):
            targets.append(("feed", jax.ShapeDtypeStruct((1, self.decoder.feed_size), jnp.float32)))
        return targets

    def _tgt_params(self, params: Params) -> Params:
        return params["src_embed"] if self.share_embeddings else params["tgt_embed"]

    def embed_target(self, params: Params, ids: Array) -> Array:
        return self.tgt_embed(self._tgt_params(params), ids)

    def readout(self, params: Params, ys: Array) -> Array:
        """Decoder outputs ``[..., o]`` -> logits ``[..., tgt_vocab_size]``."""
        r = params["readout"]
        if "hidden" in r:
            ys = jnp.tanh(dense(ys, r["hidden"]["w"], r["hidden"]["b"]))
        if self.tie_output:
            if "w" in r:
                ys = dense(ys, r["w"])
            return self.tgt_embed.attend(self._tgt_params(params), ys) + r["b"]
        return dense(ys, r["w"], r["b"])

    # --- encoding and the decoder's start ----------------------------------------------------------

    @compiled
    def encode(self, params: Params, source: Array, source_lengths: Array, *, key: PRNGKey | None = None) -> tuple[Array, State]:
        """``source [b, s]`` ids -> ``(memory [b, s, m], encoder final state)``."""
        k_drop, k_cell = jax.random.split(key) if key is not None else (None, None)
        xs = Dropout(self.dropout)(self.src_embed(params["src_embed"], source), key=k_drop)
        return unroll(self.encoder, params["encoder"], xs, lengths=source_lengths, key=k_cell)

    def start(self, params: Params, memory: Array, source_lengths: Array, final: State, *, key: PRNGKey | None = None) -> State:
        """The decoder's initial state: the bridge of the encoder's ``final`` state (and the memory)."""
        b = memory.shape[0]
        core, feed = self._core.initial_state(b, memory.dtype, key=key), None
        if self.bridge == "dense":
            summary = jnp.concatenate([x for _, x in state_vectors(final)], axis=-1)
            vectors = [jnp.tanh(dense(summary, p["w"], p["b"])).astype(memory.dtype) for p in params["bridge"]]
            if isinstance(self.decoder, AttentionDecoder):
                vectors, feed = vectors[:-1], vectors[-1]
            core = replace_state_vectors(core, vectors)
        elif self.bridge == "copy":
            core = replace_state_vectors(core, [x for _, x in state_vectors(final)])
        if isinstance(self.decoder, AttentionDecoder):
            return self.decoder.start(params["decoder"], memory, source_lengths, cell_state=core, feed=feed)
        return core

    def prepare(self, params: Params, source: Array, source_lengths: Array) -> State:
        """Encoder, bridge and the decoder's initial state, for generation (no dropout)."""
        memory, final = self.encode(params, source, source_lengths)
        return self.start(params, memory, source_lengths, final)

    # --- training ----------------------------------------------------------------------------------

    @compiled
    def logits(self, params: Params, source: Array, source_lengths: Array, target_inputs: Array, target_lengths: Array, *,
               key: PRNGKey | None = None, sampling_ratio: float = 0.0) -> Array:
        """Teacher-forced logits ``[b, t, tgt_vocab_size]`` for ``target_inputs [b, t]`` (<GO> first)."""
        keys = list(jax.random.split(key, 5)) if key is not None else [None] * 5
        memory, final = self.encode(params, source, source_lengths, key=keys[0])
        state = self.start(params, memory, source_lengths, final, key=keys[1])
        drop = Dropout(self.dropout)
        if sampling_ratio > 0.0 and key is not None:
            ys = self._scheduled(params, state, target_inputs, target_lengths, keys[2], sampling_ratio)
        else:
            xs = drop(self.embed_target(params, target_inputs), key=keys[2])
            ys, _ = unroll(self.decoder, params["decoder"], xs, lengths=target_lengths, initial_state=state, key=keys[3])
        if isinstance(ys, tuple):  # AttentionOutput
            ys = ys.y
        return self.readout(params, drop(ys, key=keys[4]))

    def _scheduled(self, params, state, target_inputs, target_lengths, key, ratio) -> Array:
        """Decoder outputs when each step after the first reads, with probability ``ratio``, a token
        sampled from the model's previous prediction instead of the gold one."""
        b, t = target_inputs.shape
        k_coin, k_sample = jax.random.split(key)
        coins = jax.random.uniform(k_coin, (t, b)) < ratio
        decoder_step = self.decoder.stepper(params["decoder"])

        def step(carry, inputs):
            state, previous = carry
            gold, coin, i = inputs
            own = jax.random.categorical(jax.random.fold_in(k_sample, i), previous).astype(gold.dtype)
            token = jnp.where(coin & (i > 0), own, gold)
            state, y = decoder_step(state, self.embed_target(params, token))
            y = y.y if isinstance(y, tuple) else y
            return (state, jax.lax.stop_gradient(self.readout(params, y)).astype(jnp.float32)), y

        previous = jnp.zeros((b, self.tgt_vocab_size))
        ys, _ = masked_scan(step, (state, previous), (target_inputs.T, coins, jnp.arange(t)), target_lengths)
        return jnp.swapaxes(ys, 0, 1)

    @compiled
    def loss(self, params: Params, batch: dict, key: PRNGKey | None = None, *, sampling_ratio: float = 0.0):
        """``(mean loss, sums)`` over the real target tokens of ``batch`` (the keys ``source``,
        ``source_lengths``, ``target_inputs``, ``target_outputs``, ``target_lengths``)."""
        logits = self.logits(params, batch["source"], batch["source_lengths"], batch["target_inputs"], batch["target_lengths"],
                             key=key, sampling_ratio=sampling_ratio)
        return cross_entropy(logits, batch["target_outputs"], lengths=batch["target_lengths"], label_smoothing=self.label_smoothing)

    # --- generation ------------------------------------------------------------------------------

    def step(self, params: Params, state: State, token: Array) -> tuple[State, Array]:
        """``seqjax.decoding``'s step function: the previous token ``[n]`` -> ``(state, logits [n, v])``."""
        state, y = self.decoder.step(params["decoder"], state, self.embed_target(params, token))
        return state, self.readout(params, y.y if isinstance(y, tuple) else y)

    def decode_start(self, params: Params, source: Array, source_lengths: Array, *, max_length: int,
                     attention: bool = False) -> decoding.DecodeStart:
        """``seqjax.decoding.Generator``: the encoded source, <GO> first, <EOS> ends; ``attention`` records
        the attention weights (``[b, L, s]``; beam search ``[b, k, L, s]``)."""
        from seqjax.data.vocab import EOS_ID

        if attention and not isinstance(self.decoder, AttentionDecoder):
            raise ValueError("attention=True needs a decoder with attention (seqjax.AttentionDecoder)")
        source, source_lengths = check_source(source, source_lengths, self.src_vocab_size)
        state = _prepare(self, params, source, source_lengths)
        loop = {**params, "decoder": self.decoder.prepare_loop(params["decoder"])}
        return decoding.DecodeStart(loop, state, jnp.full((state_batch(state),), GO_ID, jnp.int32), EOS_ID, self.pad_id,
                                    attention_weights if attention else None)

    def generate(self, params: Params, source: Array, source_lengths: Array, *, max_length: int, method: str = "greedy",
                 **options) -> decoding.Decoded:
        """Translations of ``source [b, s]``: ``seqjax.decoding.generate`` (``method`` "greedy", "beam" or
        "sample", its options, ``attention=True`` for the weights in ``records``)."""
        return decoding.generate(self, params, source, source_lengths, max_length=max_length, method=method, **options)


def check_source(source, source_lengths, vocab_size: int) -> tuple[Array, Array]:
    """``source [b, s]`` ids in the vocabulary and ``source_lengths [b]`` in [1, s], or a ValueError
    that says which (an empty source sentence has nothing to translate or attend to)."""
    source, source_lengths = jnp.asarray(source), jnp.asarray(source_lengths)
    if source.ndim != 2 or not jnp.issubdtype(source.dtype, jnp.integer):
        raise ValueError(f"source must be int token ids of shape [batch, length], got {source.dtype} {tuple(source.shape)}")
    if source_lengths.shape != source.shape[:1] or not jnp.issubdtype(source_lengths.dtype, jnp.integer):
        raise ValueError(f"source_lengths must be ints of shape [{source.shape[0]}], got {source_lengths.dtype} {tuple(source_lengths.shape)}")
    if source.size and (int(source.min()) < 0 or int(source.max()) >= vocab_size):
        raise ValueError(f"source ids must lie in [0, {vocab_size}) (the source vocabulary), got [{int(source.min())}, {int(source.max())}]")
    if source_lengths.size and int(source_lengths.min()) < 1:
        raise ValueError(f"source sentence {int(jnp.argmin(source_lengths))} is empty (length 0): there is nothing to translate")
    if source_lengths.size and int(source_lengths.max()) > source.shape[1]:
        raise ValueError(f"source_lengths must be at most the source axis ({source.shape[1]}), got {int(source_lengths.max())}")
    return source, source_lengths


@functools.partial(jax.jit, static_argnums=0)
def _prepare(model: Seq2Seq, params, source, source_lengths):
    return model.prepare(params, source, source_lengths)
