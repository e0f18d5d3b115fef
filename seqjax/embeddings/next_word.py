"""Word vectors learned by predicting the next word (the lectures' option; Bengio et al. 2003).

The previous ``order`` words are looked up in an embedding layer, their vectors concatenated,
passed through a tanh layer and a softmax over the vocabulary:

    x = [E(w_(t−n)); …; E(w_(t−1))],   h = tanh(x W_h + b_h),   p(w_t | context) = softmax(h W_o + b_o)

trained with Adam on the cross-entropy (``seqjax.train.make_train_step``, the step every model
of the library trains with). The rows of ``E`` are the word vectors. Positions before a
sentence's start hold an extra start word (the embedding's last row), which is never predicted
and not part of the vectors returned.
"""

from __future__ import annotations

import dataclasses

import jax

from seqjax.core.checks import check_finite, check_positive
from seqjax.embeddings.corpus import Corpus
from seqjax.layers.dense import Dense
from seqjax.layers.embedding import Embedding
from seqjax.train.losses import cross_entropy
from seqjax.train.step import make_train_step, optimizer
from seqjax.core.types import Params, PRNGKey


@dataclasses.dataclass(frozen=True)
class NextWord:
    dim: int = 100
    order: int = 4
    hidden: int = 128
    epochs: int = 3
    batch_size: int = 256
    learning_rate: float = 2e-3
    clip_norm: float = 1.0

    name = "next_word"
    extra_rows = 1  # the start-of-sentence word
    chunk = None

    def __post_init__(self):
        check_positive(self, "dim", "order", "hidden", "epochs", "batch_size")
        check_finite(self, "learning_rate", low=0.0, low_open=True)
        check_finite(self, "clip_norm", low=0.0)  # 0 or None: no clipping

    def layers(self, vocab_size: int) -> tuple[Embedding, Dense, Dense]:
        """The embedding (``vocab_size`` includes the start word), the tanh layer, the readout."""
        return (Embedding(vocab_size, self.dim, padding_id=None), Dense(self.order * self.dim, self.hidden, activation="tanh"),
                Dense(self.hidden, vocab_size - self.extra_rows))

    def init(self, key: PRNGKey, vocab_size: int) -> Params:
        embed, hidden, out = self.layers(vocab_size)
        keys = jax.random.split(key, 3)
        return {"embed": embed.init(keys[0]), "hidden": hidden.init(keys[1]), "out": out.init(keys[2])}

    def optimizer(self, steps: int):
        return optimizer(self.learning_rate, name="adam", clip_norm=self.clip_norm, decay_steps=steps)

    def opt_init(self, params: Params, steps: int):
        return self.optimizer(steps).init(params)

    def examples(self, corpus: Corpus):
        """``(make_epoch, names)``: every token with the ``order`` tokens before it, shuffled each epoch."""
        contexts, targets = corpus.next_word_examples(self.order)

        def make_epoch(rng, count_only=False):
            if count_only:
                return len(targets)
            order = rng.permutation(len(targets))
            return contexts[order], targets[order]
        return make_epoch, ("contexts", "targets")

    def logits(self, params: Params, contexts: jax.Array) -> jax.Array:
        """``contexts [b, order]`` ids -> next-word logits ``[b, vocab]``."""
        embed, hidden, out = self.layers(params["embed"]["table"].shape[0])
        x = embed(params["embed"], contexts).reshape(contexts.shape[0], -1)
        return out(params["out"], hidden(params["hidden"], x))

    def loss(self, params: Params, batch: dict, key=None):
        """``(mean cross-entropy, sums)`` over the batch's valid examples."""
        return cross_entropy(self.logits(params, batch["contexts"]), batch["targets"], batch["valid"])

    def make_step(self, corpus: Corpus, steps: int):
        return make_train_step(self.loss, self.optimizer(steps), jit=False)

    def vectors(self, params: Params) -> jax.Array:
        return params["embed"]["table"]
