"""The embedding layer: token ids to vectors, with a padding row that stays zero.

    embed = Embedding(vocab_size=len(vocab), features=256, padding_id=data.PAD_ID)
    params = embed.init(key)                            # {"table": [v, 256]}, row PAD_ID zero
    xs = embed(params, ids)                             # ids [b, t] int -> [b, t, 256]
    logits = embed.attend(params, ys)                   # tied readout: ys [b, t, 256] @ tableᵀ

Pretrained vectors (GloVe, ``seqjax.data.datasets.glove``) come in through
``init(key, pretrained=matrix)``, a ``[vocab_size, features]`` array whose rows follow the
task vocabulary; ``trainable=False`` keeps them fixed (the gradient is stopped here; an
optimizer with weight decay also needs ``seqjax.train.freeze``, since decay moves
parameters whatever their gradient).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from seqjax.core.checks import check_finite, check_positive
from seqjax.core.compiled import staged_check
from seqjax.core.types import Array, DType, Params, PRNGKey


@dataclasses.dataclass(frozen=True)
class Embedding:
    """``x = E[id]`` with ``E [vocab_size, features]``; ``E[padding_id]`` is zero and stays zero.

    The padding row is zero at initialisation and every lookup of ``padding_id`` returns
    zeros whatever the row holds, so its gradient is zero too: padding can never leak
    into a model or be trained. ``padding_id=None`` gives every row a vector.

    Fields:
      vocab_size, features: the table's shape.
      padding_id: the id whose vector is zero (``seqjax.data.PAD_ID`` = 0), or None.
      trainable: False stops the gradient to the table (frozen pretrained vectors).
      stddev: initial N(0, stddev²) entries; None is 1/sqrt(features), which keeps
        ``attend``'s logits of order one when the table is tied to the readout.
    """

    vocab_size: int
    features: int
    padding_id: int | None = 0
    trainable: bool = True
    stddev: float | None = None
    param_dtype: DType = jnp.float32

    def __post_init__(self):
        check_positive(self, "vocab_size", "features")
        check_finite(self, "stddev", low=0.0, low_open=True)
        if self.padding_id is not None and not (isinstance(self.padding_id, int) and 0 <= self.padding_id < self.vocab_size):
            raise ValueError(f"Embedding.padding_id must be an id in [0, {self.vocab_size}) or None, got {self.padding_id!r}")

    def init(self, key: PRNGKey, *, pretrained: Array | np.ndarray | None = None) -> Params:
        """``{"table": [vocab_size, features]}``: random, or ``pretrained`` (its padding row zeroed)."""
        if pretrained is None:
            stddev = self.stddev if self.stddev is not None else self.features ** -0.5
            table = stddev * jax.random.normal(key, (self.vocab_size, self.features), self.param_dtype)
        else:
            table = jnp.asarray(pretrained, self.param_dtype)
            if table.shape != (self.vocab_size, self.features):
                raise ValueError(f"pretrained must have shape [vocab_size, features] = [{self.vocab_size}, {self.features}], "
                                 f"got {tuple(table.shape)}")
            if not bool(jnp.all(jnp.isfinite(table))):
                raise ValueError("pretrained holds NaN or inf values")
        if self.padding_id is not None:
            table = table.at[self.padding_id].set(0)
        return {"table": table}

    def _table(self, params: Params) -> Array:
        table = params["table"]
        if table.shape != (self.vocab_size, self.features):
            raise ValueError(f"params['table'] has shape {tuple(table.shape)}, but {self} expects "
                             f"[{self.vocab_size}, {self.features}]: params from a different vocabulary?")
        return table if self.trainable else jax.lax.stop_gradient(table)

    def __call__(self, params: Params, ids: Array) -> Array:
        """``ids [...]`` (int) -> ``[..., features]`` in the table's dtype."""
        ids = jnp.asarray(ids)
        if not jnp.issubdtype(ids.dtype, jnp.integer):
            raise TypeError(f"ids must be integer token ids, got dtype {ids.dtype}")
        if not isinstance(ids, jax.core.Tracer) and ids.size:
            values = np.asarray(ids)  # NumPy: inside a traced function (a cond branch) jnp would stage this out
            low, high = int(values.min()), int(values.max())
            if low < 0 or high >= self.vocab_size:
                raise ValueError(f"ids must lie in [0, {self.vocab_size}) (the vocabulary), got values in [{low}, {high}]")
        elif ids.size:
            staged_check(lambda: (ids.min() >= 0) & (ids.max() < self.vocab_size),
                         f"ids must lie in [0, {self.vocab_size}) (the vocabulary), got values in [{{low}}, {{high}}]",
                         low=ids.min, high=ids.max)
        xs = jnp.take(self._table(params), ids, axis=0)
        if self.padding_id is not None:
            xs = jnp.where((ids == self.padding_id)[..., None], jnp.zeros_like(xs), xs)
        return xs

    def attend(self, params: Params, ys: Array) -> Array:
        """``ys [..., features] @ tableᵀ``: logits over the vocabulary with the table as the readout
        (weight tying, Press & Wolf 2017)."""
        return ys @ self._table(params).T.astype(ys.dtype)
