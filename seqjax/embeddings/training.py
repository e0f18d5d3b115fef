"""Training word vectors on a corpus, with any of the three objectives, through ``seqjax.train.fit``.

    corpus = Corpus.build((line.lower().split() for line in open("text.txt")), min_count=3)
    vectors = train_vectors(corpus, SkipGram(dim=100, epochs=5))         # word2vec (SGNS)
    vectors = train_vectors(corpus, GloVe(dim=100, epochs=25))           # GloVe, AdaGrad
    vectors = train_vectors(corpus, NextWord(dim=100, epochs=3))         # next-word prediction
    vectors = train_vectors(corpus, SkipGram(), run=Run("runs/w2v"))     # logged, checkpointed, resumable

An objective is a frozen dataclass of hyperparameters with five methods: ``init(key, vocab_size)``
(the parameters), ``opt_init(params, steps)`` (its optimizer's state), ``examples(corpus)`` (how an
epoch's examples are drawn, for ``EpochBatches``), ``make_step(corpus, steps)`` (the jitted
train step ``fit`` calls) and ``vectors(params)`` (the word vectors it yields). Everything else
is shared: the batches, the loop with its progress line, logging, checkpoints and exact resume,
and the finiteness guard (a chunk with a non-finite loss or gradient is never applied).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from seqjax.embeddings.batches import EpochBatches
from seqjax.embeddings.corpus import Corpus
from seqjax.embeddings.vectors import Vectors
from seqjax.train.loop import fit
from seqjax.train.run import Run
from seqjax.train.step import CountingJit, TrainState


def batches_for(objective, corpus: Corpus, *, seed: int = 1) -> EpochBatches:
    """The epochs of examples ``objective`` trains on (``steps`` of them in all)."""
    make_epoch, names = objective.examples(corpus)
    return EpochBatches(make_epoch, names=names, epochs=objective.epochs, batch_size=objective.batch_size,
                        chunk=getattr(objective, "chunk", None), seed=seed, words_per_epoch=corpus.raw_words)


def initial_state(objective, corpus: Corpus, steps: int, *, seed: int = 1) -> TrainState:
    # jitted: one compilation instead of one per eager operation (half a second on a cold start)
    params = jax.jit(objective.init, static_argnums=1)(jax.random.key(seed), objective_vocab_size(objective, corpus))
    opt_state = jax.jit(objective.opt_init, static_argnums=1)(params, steps)
    return TrainState(jnp.zeros((), jnp.int32), params, opt_state, jax.random.key(seed + 1))


def objective_vocab_size(objective, corpus: Corpus) -> int:
    """Rows of the input table: the vocabulary, plus a start-of-sentence row for next-word prediction."""
    return len(corpus) + getattr(objective, "extra_rows", 0)


def train_vectors(corpus: Corpus, objective, *, seed: int = 1, run: Run | None = None, log_every: int = 20,
                  evaluate=None, eval_every: int = 0, return_state: bool = False):
    """Trains ``objective`` on ``corpus`` and returns ``Vectors`` over ``corpus.words`` (with the final
    ``TrainState`` too if ``return_state``). ``evaluate(vectors) -> {metric: float}`` is called every
    ``eval_every`` steps and at the end; ``run`` logs and checkpoints, and a rerun in the same
    directory resumes where the last checkpoint left off, bit for bit."""
    batches = batches_for(objective, corpus, seed=seed)
    step = CountingJit(objective.make_step(corpus, batches.steps))
    state = initial_state(objective, corpus, batches.steps, seed=seed)

    def vectors_of(state) -> Vectors:
        matrix = np.asarray(objective.vectors(state.params))[: len(corpus)]
        return Vectors(corpus.words, matrix)

    with jax.numpy_dtype_promotion("standard"):
        state = fit(state, step, batches, steps=batches.steps, run=run, log_every=log_every, eval_every=eval_every,
                    evaluate=(lambda s: evaluate(vectors_of(s))) if evaluate is not None else None,
                    meta=lambda: {"objective": objective.name, "vocab_size": len(corpus)})
    vectors = vectors_of(state)
    return (vectors, state) if return_state else vectors
