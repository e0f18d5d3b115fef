"""GloVe (Pennington et al. 2014): weighted least squares on log co-occurrence counts, with AdaGrad.

For every pair of words (i, j) that co-occur (``X_ij > 0``, ``Corpus.cooccurrence``), the model
fits the log count with a word vector w_i, a context vector w̃_j and two biases:

    J = ½ Σ_(i,j) f(X_ij) (w_i · w̃_j + b_i + b̃_j − log X_ij)²,    f(x) = min(1, (x / x_max)^α)

(the ½ is the paper's C code's, whose learning rate 0.05 assumes it). f gives rare pairs little
weight and caps frequent ones. Each epoch visits every nonzero entry once in a new random
order; the parameters start uniform in ±0.5/dim and every entry's step is AdaGrad's with
accumulators that start at 1 (``seqjax.embeddings.sparse.adagrad_rows``), as in the C code.
The word vectors are ``w + w̃`` (the paper's choice: the sum is slightly better than either).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from seqjax.core.checks import check_positive
from seqjax.embeddings.corpus import Corpus
from seqjax.embeddings.sparse import adagrad_rows, chunked_step
from seqjax.core.types import Params, PRNGKey


def entry_loss(w: jax.Array, w_ctx: jax.Array, b: jax.Array, b_ctx: jax.Array, x: jax.Array, weight: jax.Array,
               x_max: float, alpha: float) -> jax.Array:
    """J over a minibatch of entries: rows ``w, w_ctx [n, d]``, biases ``b, b_ctx [n]``, counts ``x [n]``
    (positive), ``weight [n]`` 0 for padding."""
    f = jnp.minimum(1.0, (x / x_max) ** alpha)
    diff = jnp.sum(w * w_ctx, -1) + b + b_ctx - jnp.log(x)
    return 0.5 * jnp.sum(weight * f * diff * diff)


@dataclasses.dataclass(frozen=True)
class GloVe:
    """The paper's hyperparameters (x_max 100, α 3/4, window 10, rate 0.05); ``batch_size`` entries per update."""

    dim: int = 100
    window: int = 10
    x_max: float = 100.0
    alpha: float = 0.75
    learning_rate: float = 0.05
    epochs: int = 25
    batch_size: int = 256
    chunk: int = 64
    weighting: str = "harmonic"

    name = "glove"

    def __post_init__(self):
        check_positive(self, "dim", "window", "epochs", "batch_size", "chunk")
        for field in ("x_max", "alpha", "learning_rate"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
                raise ValueError(f"GloVe.{field} must be a finite number > 0, got {value!r}")

    def init(self, key: PRNGKey, vocab_size: int) -> Params:
        keys = jax.random.split(key, 4)
        start = lambda k, shape: (jax.random.uniform(k, shape) - 0.5) / self.dim  # noqa: E731
        return {"w": start(keys[0], (vocab_size, self.dim)), "w_ctx": start(keys[1], (vocab_size, self.dim)),
                "b": start(keys[2], (vocab_size,)), "b_ctx": start(keys[3], (vocab_size,))}

    def opt_init(self, params: Params, steps: int):
        return jax.tree_util.tree_map(jnp.ones_like, params)  # AdaGrad's squared-gradient sums, from 1

    def examples(self, corpus: Corpus):
        """``(make_epoch, names)``: the co-occurrence entries, counted once, in a new order each epoch."""
        rows, cols, values = corpus.cooccurrence(window=self.window, weighting=self.weighting)

        def make_epoch(rng, count_only=False):
            if count_only:
                return len(values)
            order = rng.permutation(len(values))
            return rows[order], cols[order], values[order]
        return make_epoch, ("rows", "cols", "values")

    def loss(self, params: Params, batch: dict) -> jax.Array:
        """J over one minibatch of entries (what the step descends)."""
        i, j = batch["rows"], batch["cols"]
        return entry_loss(params["w"][i], params["w_ctx"][j], params["b"][i], params["b_ctx"][j], batch["values"],
                          batch["valid"].astype(params["w"].dtype), self.x_max, self.alpha)

    def adagrad_update(self, params: Params, squares: Params, batch: dict) -> tuple[Params, Params, jax.Array, jax.Array]:
        """One minibatch's AdaGrad step on the rows it names; returns params, squares, J and the squared gradient norm."""
        i, j = batch["rows"], batch["cols"]
        x = jnp.where(batch["valid"], batch["values"], 1.0)  # padding rows: any positive count, weight 0
        weight = batch["valid"].astype(params["w"].dtype)
        rows = (params["w"][i], params["w_ctx"][j], params["b"][i], params["b_ctx"][j])
        loss, grads = jax.value_and_grad(entry_loss, argnums=(0, 1, 2, 3))(*rows, x, weight, self.x_max, self.alpha)
        new, new_squares = {}, {}
        for name, ids, g in zip(("w", "w_ctx", "b", "b_ctx"), (i, j, i, j), grads):
            new[name], new_squares[name] = adagrad_rows(params[name], squares[name], ids, g, self.learning_rate)
        return new, new_squares, loss, sum(jnp.sum(g * g) for g in grads)

    def make_step(self, corpus: Corpus, steps: int):
        return chunked_step(lambda params, squares, batch, key, index: self.adagrad_update(params, squares, batch), self.chunk)

    def vectors(self, params: Params) -> jax.Array:
        return params["w"] + params["w_ctx"]
