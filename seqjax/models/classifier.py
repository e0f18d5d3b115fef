"""Many to one: a sentence (or document) classifier built from any encoder of seqjax.

    token ids ──embed──> encoder ──pool over valid steps──> dropout ──> dense ──> class logits

The encoder is any cell, ``Stack`` or ``Bidirectional`` (pooled by ``seqjax.sequences.pooling``: the final
state's features, the last valid output, a masked mean or max, or attention), Kim's ``TextCNN``
(which pools itself: max over time), or a ``ConvRNN`` (convolution features read by a recurrent
cell). Word vectors follow Kim (2014):

    "rand"          the table starts random and is trained
    "static"        pretrained vectors, frozen
    "non-static"    pretrained vectors, trained
    "multichannel"  two tables from the same vectors, one frozen and one trained; a TextCNN
                    applies each filter to both and adds the results

    model = Classifier(vocab_size=len(vocab), num_classes=2, encoder=TextCNN(300), embeddings="non-static")
    params = model.init(key, pretrained=matrix)     # matrix [vocab, 300], e.g. from seqjax.data.datasets.glove
    loss, sums = model.loss(params, batch, key)     # batch: ids [b, t], lengths [b], labels [b]
    train.summarize(sums)                           # accuracy, macro F1, per-class accuracy, confusion

The training loss is ``seqjax.train.classification_loss``; Kim's max-norm constraint on the
output weights is ``seqjax.sequences.conv.max_norm(3.0, where=lambda path: path == "head/w")`` in the
optimizer chain.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from seqjax.sequences import pooling
from seqjax.cells.protocol import Cell
from seqjax.core.compiled import compiled
from seqjax.core.checks import check_choice, check_positive, check_rate
from seqjax.sequences.conv import ConvRNN, TextCNN
from seqjax.layers.dense import dense, uniform_init
from seqjax.layers.dropout import Dropout
from seqjax.layers.embedding import Embedding
from seqjax.train.losses import classification_loss
from seqjax.core.types import Array, Params, PRNGKey
from seqjax.sequences.unroll import unroll

EMBEDDINGS = ("rand", "static", "non-static", "multichannel")


@dataclasses.dataclass(frozen=True)
class Classifier:
    """See the module docstring. Params: ``embed`` (and ``embed_static`` for "multichannel"),
    ``encoder``, ``pool`` (attention pooling only), ``head {"w": [features, classes], "b"}``.
    ``pooling`` ("final", "last", "mean", "max", "attention") applies to recurrent encoders; a
    ``TextCNN`` pools over time itself."""

    vocab_size: int
    num_classes: int
    encoder: object  # Cell | TextCNN | ConvRNN
    pooling: str = "final"
    embeddings: str = "rand"
    dropout: float = 0.5
    attention_size: int = 64
    label_smoothing: float = 0.0
    padding_id: int = 0

    def __post_init__(self):
        check_positive(self, "vocab_size", "num_classes", "attention_size")
        check_choice(self, "pooling", pooling.POOLINGS)
        check_choice(self, "embeddings", EMBEDDINGS)
        check_rate(self, "dropout", "label_smoothing")
        if not isinstance(self.encoder, (Cell, TextCNN, ConvRNN)):
            raise ValueError(f"Classifier.encoder must be a seqjax cell, TextCNN or ConvRNN, got {type(self.encoder).__name__}")
        if self.embeddings == "multichannel" and not isinstance(self.encoder, TextCNN):
            raise ValueError("Classifier(embeddings='multichannel') needs a TextCNN encoder (its filters read both channels)")

    @property
    def embed_size(self) -> int:
        return self.encoder.input_size

    @property
    def features(self) -> int:
        return self.encoder.output_dim

    def _embedding(self, trainable: bool) -> Embedding:
        return Embedding(self.vocab_size, self.embed_size, padding_id=self.padding_id, trainable=trainable)

    def param_shapes(self) -> Params:
        """The parameter tree as ``jax.ShapeDtypeStruct`` leaves (a stand-in for a pretrained table; the
        pretrained kinds check the table's values, so that init runs once, eagerly)."""
        if self.embeddings == "rand":
            return jax.eval_shape(self.init, jax.random.key(0))
        params = self.init(jax.random.key(0), pretrained=np.zeros((self.vocab_size, self.embed_size), np.float32))
        return jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), params)

    def init(self, key: PRNGKey, *, pretrained: np.ndarray | Array | None = None) -> Params:
        """Random parameters; the embedding table(s) from ``pretrained [vocab_size, embed]`` for
        every kind but "rand" (which ignores it)."""
        if self.embeddings != "rand" and pretrained is None:
            raise ValueError(f"Classifier(embeddings={self.embeddings!r}) needs pretrained=, a [vocab_size, {self.embed_size}] matrix")
        ke, ks, kc, kp, kh = jax.random.split(key, 5)
        vectors = None if self.embeddings == "rand" else pretrained
        params = {"embed": self._embedding(self.embeddings != "static").init(ke, pretrained=vectors),
                  "encoder": self.encoder.init(kc)}
        if self.embeddings == "multichannel":
            params["embed_static"] = self._embedding(False).init(ks, pretrained=vectors)
        if self.pooling == "attention" and not isinstance(self.encoder, TextCNN):
            params["pool"] = pooling.AttentionPooling(self.features, self.attention_size).init(kp)
        params["head"] = {"w": uniform_init(kh, (self.features, self.num_classes), self.features, jnp.float32),
                          "b": jnp.zeros((self.num_classes,))}
        return params

    @compiled
    def encode(self, params: Params, ids: Array, lengths: Array, *, key: PRNGKey | None = None) -> Array:
        """``ids [b, t]`` with ``lengths [b]`` -> sentence features ``[b, features]`` (before dropout)."""
        k_drop, k_cell = jax.random.split(key) if key is not None else (None, None)
        xs = self._embedding(self.embeddings != "static")(params["embed"], ids)
        if isinstance(self.encoder, TextCNN):
            channels = (xs, self._embedding(False)(params["embed_static"], ids)) if self.embeddings == "multichannel" else xs
            return self.encoder(params["encoder"], channels, lengths)
        xs = Dropout(self.dropout)(xs, key=k_drop)  # on the inputs of a recurrent encoder (Zaremba et al. 2014)
        if isinstance(self.encoder, ConvRNN):
            ys, state = self.encoder(params["encoder"], xs, lengths, key=k_cell)
            cell = self.encoder.cell
        else:
            ys, state = unroll(self.encoder, params["encoder"], xs, lengths=lengths, key=k_cell)
            cell = self.encoder
        if self.pooling == "final":
            return pooling.final_output(cell, state)
        if self.pooling == "last":
            return pooling.last(ys, lengths)
        if self.pooling == "mean":
            return pooling.masked_mean(ys, lengths)
        if self.pooling == "max":
            return pooling.masked_max(ys, lengths)
        return pooling.AttentionPooling(self.features, self.attention_size)(params["pool"], ys, lengths)[0]

    @compiled
    def logits(self, params: Params, ids: Array, lengths: Array, *, key: PRNGKey | None = None) -> Array:
        k_encode, k_drop = jax.random.split(key) if key is not None else (None, None)
        features = Dropout(self.dropout)(self.encode(params, ids, lengths, key=k_encode), key=k_drop)
        return dense(features, params["head"]["w"].astype(features.dtype), params["head"]["b"].astype(features.dtype))

    @compiled
    def loss(self, params: Params, batch: dict, key: PRNGKey | None = None):
        """``(mean loss, sums)`` for a batch with ``ids``, ``lengths`` and ``labels``."""
        logits = self.logits(params, batch["ids"], batch["lengths"], key=key)
        return classification_loss(logits, batch["labels"], label_smoothing=self.label_smoothing)

    @compiled
    def predict(self, params: Params, ids: Array, lengths: Array) -> Array:
        return jnp.argmax(self.logits(params, ids, lengths), axis=-1)
