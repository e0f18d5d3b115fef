"""Positional encodings: a transformer sees a set of vectors, so each token's position is added to it.

Sinusoidal (Vaswani et al. 2017, section 3.5), fixed, one row per position::

    PE(pos, 2i)     = sin(pos / 10000^(2i / d_model))
    PE(pos, 2i + 1) = cos(pos / 10000^(2i / d_model))

Each pair of dimensions is a rotation at its own frequency, so PE(pos + k) is a linear
function of PE(pos) for every offset k. Learned positions (GPT, nanoGPT's ``wpe``) are a
trained table ``[max_length, d_model]`` instead. Both share one interface::

    positions = SinusoidalPositions(max_length=256, d_model=512)   # or LearnedPositions(...)
    params = positions.init(key)                                   # {} or {"table": [256, 512]}
    x = embedded + positions(params, jnp.arange(t))                # [t, 512], broadcast over the batch

A position at or past ``max_length`` has no row: ``check_length`` raises a ValueError naming
the length and the table's size (under ``jit`` a position past the table cannot raise, and
the lookup would clamp it silently, so models call ``check_length`` on static shapes first).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from seqjax.core.checks import check_finite, check_positive
from seqjax.core.types import Array, DType, Params, PRNGKey


def sinusoidal_table(max_length: int, d_model: int) -> np.ndarray:
    """``PE [max_length, d_model]`` (float32) by the formula above; an odd ``d_model`` ends with a sine."""
    pos = np.arange(max_length, dtype=np.float64)[:, None]
    two_i = np.arange(0, d_model, 2, dtype=np.float64)  # 2i for every pair of dimensions
    angle = pos / np.power(10000.0, two_i / d_model)    # [max_length, ceil(d/2)]
    table = np.zeros((max_length, d_model), np.float64)
    table[:, 0::2] = np.sin(angle)
    table[:, 1::2] = np.cos(angle[:, : d_model // 2])
    return table.astype(np.float32)


def check_length(owner: object, length: int, what: str = "sequence") -> None:
    """A ValueError unless ``length`` positions fit ``owner.max_length``."""
    if length > owner.max_length:
        raise ValueError(f"a {what} of length {length} is longer than the positional table of "
                         f"{type(owner).__name__}(max_length={owner.max_length}); build the model with a larger max_length")


@dataclasses.dataclass(frozen=True)
class SinusoidalPositions:
    """The fixed sinusoidal encoding; no parameters. ``__call__(params, positions)`` with int
    ``positions [...]`` returns ``[..., d_model]``."""

    max_length: int
    d_model: int

    def __post_init__(self):
        check_positive(self, "max_length", "d_model")

    def init(self, key: PRNGKey | None = None) -> Params:
        return {}

    @property
    def table(self) -> Array:
        return jnp.asarray(sinusoidal_table(self.max_length, self.d_model))

    def __call__(self, params: Params, positions: Array) -> Array:
        return jnp.take(self.table, positions, axis=0)


@dataclasses.dataclass(frozen=True)
class LearnedPositions:
    """A trained table of position vectors, ``N(0, stddev²)`` at the start (GPT-2's 0.02)."""

    max_length: int
    d_model: int
    stddev: float = 0.02
    param_dtype: DType = jnp.float32

    def __post_init__(self):
        check_positive(self, "max_length", "d_model")
        check_finite(self, "stddev", low=0.0, low_open=True)

    def init(self, key: PRNGKey) -> Params:
        return {"table": self.stddev * jax.random.normal(key, (self.max_length, self.d_model), self.param_dtype)}

    def __call__(self, params: Params, positions: Array) -> Array:
        table = params["table"]
        if table.shape != (self.max_length, self.d_model):
            raise ValueError(f"params['table'] has shape {tuple(table.shape)}, but {self} expects "
                             f"[{self.max_length}, {self.d_model}]")
        return jnp.take(table, positions, axis=0)


POSITIONS = {"sinusoidal": SinusoidalPositions, "learned": LearnedPositions}


def positions_by_name(name: str, max_length: int, d_model: int):
    if name not in POSITIONS:
        raise ValueError(f"positions must be one of {sorted(POSITIONS)}, got {name!r}")
    return POSITIONS[name](max_length, d_model)
