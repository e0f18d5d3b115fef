"""Dropout (Srivastava et al. 2014), driven by an explicit key: no key, no dropout.

    drop = Dropout(0.3)
    y = drop(x, key=key)          # training: entries zeroed with probability 0.3, the rest scaled by 1/0.7
    y = drop(x)                   # evaluation: y is x

``dropout_mask`` is the mask alone; the recurrent wrappers sample one per sequence and carry
it in their state (variational dropout, ``seqjax.VariationalDropout``).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from seqjax.core.checks import check_rate
from seqjax.core.types import Array, DType, PRNGKey


def dropout_mask(key: PRNGKey | None, rate: float, shape: tuple[int, ...], dtype: DType) -> Array:
    """Inverted-dropout mask: entries 0 with probability ``rate``, else ``1/(1-rate)``; ones without a key."""
    if key is None or rate == 0.0:
        return jnp.ones(shape, dtype)
    keep = jax.random.bernoulli(key, 1.0 - rate, shape)
    return keep.astype(dtype) / jnp.asarray(1.0 - rate, dtype)


@dataclasses.dataclass(frozen=True)
class Dropout:
    """Inverted dropout with a fresh mask for every entry. It has no parameters.

    ``broadcast_axes`` share one mask along those axes (e.g. ``(-2,)`` drops whole feature
    channels of a ``[b, t, d]`` sequence, the same at every step)."""

    rate: float
    broadcast_axes: tuple[int, ...] = ()

    def __post_init__(self):
        check_rate(self, "rate")

    def __call__(self, x: Array, *, key: PRNGKey | None = None) -> Array:
        if key is None or self.rate == 0.0:
            return x
        shape = list(x.shape)
        for axis in self.broadcast_axes:
            shape[axis] = 1
        return x * dropout_mask(key, self.rate, tuple(shape), x.dtype)
