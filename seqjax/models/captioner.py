"""One to many: image captioning (Show and Tell, Vinyals et al. 2015; Show, Attend and Tell, Xu et al. 2015).

    image ──ImageCNN──> feature map [h', w', c] ──(+ a learned embedding per location)──> memory [h'·w', c]
                                     │ bridge: tanh(W · LayerNorm(summary) + b) for every recurrent vector of the decoder
    <GO> w_1 .. w_{n-1} ──embed──> decoder (a cell, or an AttentionDecoder over the memory) ──> readout ──> logits

Two ways for the decoder to see the image:

  "init"    (Show and Tell) the image enters only through the decoder's initial state: the
            bridge reads the whole feature map flattened (so where things are is kept);
  "attend"  (Show, Attend and Tell) the decoder attends over the feature map's locations at every
            step (``seqjax.AttentionDecoder``); the bridge reads the mean of the locations, as
            Xu et al. initialise h_0 and c_0.

The summary is layer-normalised before the bridge: the ReLU feature map of an untrained CNN has
no set scale, and a flattened one summed into a tanh saturates it, leaving every image the same
initial state (a test caught exactly that). ``generate(..., attention=True)`` returns, for every
            word, the weights over the ``h'·w'`` locations (they sum to one).

Training is teacher-forced with ``seqjax.train.cross_entropy``; generation is
``seqjax.decoding`` (greedy, sampling, beam search) with ``model.step``.

    model = Captioner.recurrent(vocab_size=len(vocab), image_size=32, kind="attend")
    params = model.init(key)
    loss, sums = model.loss(params, batch, key)   # batch: images [b, s, s, 3], target_inputs, target_outputs, target_lengths
    out = model.generate(params, images, max_length=16, method="beam", beam_width=5)
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp

from seqjax import decoding
from seqjax.attention.scores import AdditiveAttention
from seqjax.attention.decoder import AttentionDecoder
from seqjax.cells.protocol import Cell, replace_state_vectors, state_batch, state_vectors
from seqjax.core.compiled import compiled
from seqjax.core.checks import check_positive, check_rate, sizes_from
from seqjax.sequences.conv import ImageCNN
from seqjax.data.vocab import EOS_ID, GO_ID, PAD_ID, UNK_ID
from seqjax.layers.dense import dense, uniform_init
from seqjax.layers.dropout import Dropout
from seqjax.layers.embedding import Embedding
from seqjax.layers.normalization import LayerNorm
from seqjax.models.seq2seq import attention_weights
from seqjax.train.losses import cross_entropy
from seqjax.core.types import Array, Params, PRNGKey, State
from seqjax.sequences.unroll import unroll

KINDS = ("init", "attend")


@dataclasses.dataclass(frozen=True)
class Captioner:
    """An image encoder and a word decoder; see the module docstring.

    Fields: ``vocab_size``; ``encoder`` (an ``ImageCNN``); ``decoder`` (a cell whose input is the
    word embedding, or an ``AttentionDecoder`` whose memory size is the encoder's channels);
    ``image_size`` (square images, so the feature map's size is known); ``dropout`` on the word
    embeddings and on the decoder's outputs; ``word_dropout``: in training, each input word is
    replaced by <UNK> with this probability (Bowman et al. 2016), so that the decoder leans on the
    image more than on the words it has written.
    """

    vocab_size: int
    encoder: ImageCNN
    decoder: Cell
    image_size: int = 32
    dropout: float = 0.0
    word_dropout: float = 0.0
    pad_id: int = PAD_ID

    def __post_init__(self):
        check_positive(self, "vocab_size", "image_size")
        check_rate(self, "dropout", "word_dropout")
        if not isinstance(self.encoder, ImageCNN):
            raise ValueError(f"Captioner.encoder must be an ImageCNN, got {type(self.encoder).__name__}")
        if not isinstance(self.decoder, Cell):
            raise ValueError(f"Captioner.decoder must be a seqjax cell, got {type(self.decoder).__name__}")
        if self.grid < 1:
            raise ValueError(f"Captioner: {self.image_size}x{self.image_size} images leave no feature map after "
                             f"{len(self.encoder.channels) - 1} poolings; use larger images or fewer layers")
        if self.attends and self.decoder.memory_size != self.encoder.output_dim:
            raise ValueError(f"Captioner: the decoder attends over a memory of size {self.decoder.memory_size}, but the "
                             f"encoder's feature map has {self.encoder.output_dim} channels")

    @classmethod
    def recurrent(cls, vocab_size: int, *, image_size: int = 32, kind: str = "attend", cell: str = "gru",
                  channels: tuple[int, ...] = (3, 32, 64, 64), embed_size: int = 64, hidden_size: int = 256,
                  attention_size: int = 128, **fields) -> "Captioner":
        """A captioner with an ``ImageCNN(channels)`` and a GRU/LSTM decoder; ``kind`` "init" or "attend"."""
        embed, hidden = sizes_from(fields, embed_size, hidden_size, "Captioner.recurrent")
        from seqjax.cells.elman import Elman
        from seqjax.cells.gru import GRU
        from seqjax.cells.lstm import LSTM

        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        makers = {"gru": GRU, "lstm": LSTM, "elman": Elman}
        if cell not in makers:
            raise ValueError(f"cell must be one of {sorted(makers)}, got {cell!r}")
        encoder = ImageCNN(tuple(channels))
        c = encoder.output_dim
        if kind == "init":
            decoder = makers[cell](embed, hidden)
        else:
            decoder = AttentionDecoder(makers[cell](embed + c, hidden), AdditiveAttention(hidden, c, attention_size))
        return cls(vocab_size, encoder, decoder, image_size=image_size, **fields)

    @property
    def attends(self) -> bool:
        return isinstance(self.decoder, AttentionDecoder)

    @property
    def grid(self) -> int:
        """The feature map's side: the image side halved once per layer."""
        return self.image_size // 2 ** (len(self.encoder.channels) - 1)

    @property
    def embedding(self) -> Embedding:
        return Embedding(self.vocab_size, self.decoder.input_size, padding_id=self.pad_id)

    def _core(self) -> Cell:
        return self.decoder.cell if self.attends else self.decoder

    def _bridge_targets(self) -> list:
        targets = [x for _, x in state_vectors(jax.eval_shape(lambda: self._core().initial_state(1)))]
        if self.attends:
            targets.append(jax.ShapeDtypeStruct((1, self.decoder.feed_size), jnp.float32))
        return targets

    def init(self, key: PRNGKey) -> Params:
        ke, kw, kd, kp, kb, kr = jax.random.split(key, 6)
        c, locations = self.encoder.output_dim, self.grid * self.grid
        summary = c if self.attends else c * locations
        targets = self._bridge_targets()
        keys = jax.random.split(kb, len(targets))
        out = self.decoder.output_dim
        return {"encoder": self.encoder.init(ke), "embed": self.embedding.init(kw), "decoder": self.decoder.init(kd),
                "position": 0.1 * jax.random.normal(kp, (locations, c)), "summary_norm": LayerNorm(summary).init(),
                "bridge": tuple({"w": uniform_init(k, (summary, t.shape[-1]), summary, jnp.float32), "b": jnp.zeros((t.shape[-1],))}
                                for k, t in zip(keys, targets)),
                "readout": {"w": uniform_init(kr, (out, self.vocab_size), out, jnp.float32), "b": jnp.zeros((self.vocab_size,))}}

    # --- the image -----------------------------------------------------------------------------------

    def check_images(self, images) -> Array:
        images = jnp.asarray(images)
        s = self.image_size
        if images.ndim != 4 or images.shape[1:] != (s, s, self.encoder.channels[0]):
            raise ValueError(f"images must have shape [batch, {s}, {s}, {self.encoder.channels[0]}], got {tuple(images.shape)}")
        if not jnp.issubdtype(images.dtype, jnp.floating):
            raise ValueError(f"images must be floating point (values in [0, 1]), got {images.dtype}")
        return images

    @compiled
    def encode(self, params: Params, images: Array) -> Array:
        """``images [b, s, s, channels]`` -> memory ``[b, h'·w', c]``: a feature per location, plus that location's embedding."""
        fmap = self.encoder(params["encoder"], images)
        b, h, w, c = fmap.shape
        return fmap.reshape(b, h * w, c) + params["position"].astype(fmap.dtype)

    def start(self, params: Params, memory: Array, *, key: PRNGKey | None = None) -> State:
        """The decoder's initial state from the memory (the bridge; the memory itself for "attend")."""
        b = memory.shape[0]
        summary = jnp.mean(memory, axis=1) if self.attends else memory.reshape(b, -1)
        summary = LayerNorm(summary.shape[-1])(params["summary_norm"], summary)
        vectors = [jnp.tanh(dense(summary, p["w"], p["b"])).astype(memory.dtype) for p in params["bridge"]]
        feed = vectors.pop() if self.attends else None
        core = replace_state_vectors(self._core().initial_state(b, memory.dtype, key=key), vectors)
        return self.decoder.start(params["decoder"], memory, cell_state=core, feed=feed) if self.attends else core

    # --- training ------------------------------------------------------------------------------------

    def readout(self, params: Params, ys: Array) -> Array:
        return dense(ys, params["readout"]["w"], params["readout"]["b"])

    @compiled
    def logits(self, params: Params, images: Array, target_inputs: Array, target_lengths: Array, *, key: PRNGKey | None = None) -> Array:
        """Teacher-forced logits ``[b, t, vocab]`` for ``target_inputs [b, t]`` (<GO> first)."""
        keys = list(jax.random.split(key, 5)) if key is not None else [None] * 5
        state = self.start(params, self.encode(params, images), key=keys[0])
        drop = Dropout(self.dropout)
        if self.word_dropout and key is not None:
            unknown = jax.random.bernoulli(keys[4], self.word_dropout, target_inputs.shape) & (target_inputs != GO_ID)
            target_inputs = jnp.where(unknown & (target_inputs != self.pad_id), UNK_ID, target_inputs)
        xs = drop(self.embedding(params["embed"], target_inputs), key=keys[1])
        ys, _ = unroll(self.decoder, params["decoder"], xs, lengths=target_lengths, initial_state=state, key=keys[2])
        ys = ys.y if isinstance(ys, tuple) else ys
        return self.readout(params, drop(ys, key=keys[3]))

    @compiled
    def loss(self, params: Params, batch: dict, key: PRNGKey | None = None):
        """``(mean loss, sums)`` over the real caption tokens (keys ``images``, ``target_inputs``,
        ``target_outputs``, ``target_lengths``)."""
        logits = self.logits(params, batch["images"], batch["target_inputs"], batch["target_lengths"], key=key)
        return cross_entropy(logits, batch["target_outputs"], lengths=batch["target_lengths"])

    # --- generation ----------------------------------------------------------------------------------

    def step(self, params: Params, state: State, token: Array) -> tuple[State, Array]:
        """``seqjax.decoding``'s step function: previous word ``[n]`` -> ``(state, logits [n, vocab])``."""
        state, y = self.decoder.step(params["decoder"], state, self.embedding(params["embed"], token))
        return state, self.readout(params, y.y if isinstance(y, tuple) else y)

    def decode_start(self, params: Params, images, *, max_length: int, attention: bool = False) -> decoding.DecodeStart:
        """``seqjax.decoding.Generator``: the encoded images, <GO> first, <EOS> ends; ``attention`` records
        each word's weights over the ``grid x grid`` locations (``[b, L, grid²]``; beam ``[b, k, L, grid²]``)."""
        if attention and not self.attends:
            raise ValueError("attention=True needs the 'attend' captioner (an AttentionDecoder)")
        state = _prepare(self, params, self.check_images(images))
        loop = {**params, "decoder": self.decoder.prepare_loop(params["decoder"])}
        return decoding.DecodeStart(loop, state, jnp.full((state_batch(state),), GO_ID, jnp.int32), EOS_ID, self.pad_id,
                                    attention_weights if attention else None)

    def generate(self, params: Params, images, *, max_length: int, method: str = "greedy", **options) -> decoding.Decoded:
        """Captions of ``images``: ``seqjax.decoding.generate`` ("greedy", "beam" or "sample"; ``attention=True``)."""
        return decoding.generate(self, params, images, max_length=max_length, method=method, **options)


@functools.partial(jax.jit, static_argnums=0)
def _prepare(model: Captioner, params, images):
    return model.start(params, model.encode(params, images))
