"""MinGRU and MinLSTM (Feng et al. 2024, "Were RNNs All We Needed?").

Their gates depend on ``x_t`` only, so the recurrence is linear in the state,
``h_t = a_t ⊙ h_{t-1} + b_t``, and a whole sequence is computed in parallel by
``seqjax.core.scan.linear_scan`` (training); ``step`` runs it one token at a time
(generation). Both paths give the same numbers (tests check this).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from seqjax.cells.protocol import Cell, RNNState, frozen
from seqjax.kernels.options import DEFAULT, ScanOptions, path
from seqjax.core.checks import check_positive
from seqjax.layers.dense import dense, uniform_init
from seqjax.kernels.fused_linear import chunk_length, linear_recurrence_scan
from seqjax.core.masking import valid_steps
from seqjax.core.scan import SCAN_MODES, linear_scan
from seqjax.core.types import Array, DType, Params, PRNGKey, State


@frozen
class _LinearRecurrence(Cell):
    """A cell whose ``recur`` is ``h = a ⊙ h + b`` with ``(a, b) = self.coefficients(xp)``."""

    input_size: int
    hidden_size: int
    mode: str = "auto"
    param_dtype: DType = jnp.float32
    _blocks = 0

    def __post_init__(self):
        check_positive(self, "input_size", "hidden_size")
        if self.mode not in ("auto",) + SCAN_MODES:
            raise ValueError(f"{type(self).__name__}.mode must be one of {('auto',) + SCAN_MODES}, got {self.mode!r}")

    @property
    def algorithm(self) -> str:
        """The mode in effect: "auto" is "sequential" on the CPU (measured fastest there,
        BENCHMARKS.md) and "associative" (parallel) on accelerators."""
        if self.mode == "auto":
            return "sequential" if jax.default_backend() == "cpu" else "associative"
        return self.mode

    def init(self, key: PRNGKey) -> Params:
        kw, kb = jax.random.split(key)
        width = self._blocks * self.hidden_size
        return {"wx": uniform_init(kw, (self.input_size, width), self.hidden_size, self.param_dtype),
                "b": uniform_init(kb, (width,), self.hidden_size, self.param_dtype)}

    def project(self, params: Params, x: Array) -> Array:
        return dense(x, params["wx"], params["b"])

    def coefficients(self, xp: Array) -> tuple[Array, Array]:
        raise NotImplementedError

    def recur(self, params: Params, state: State, xp: Array) -> tuple[State, Array]:
        a, b = self.coefficients(xp)
        h = a * state.h + b
        return RNNState(h), h

    def scan(self, params: Params, state: State, xs: Array, lengths: Array | None, *, options: ScanOptions = DEFAULT) -> tuple[Array, State]:
        mode = self.algorithm
        if path(options, fused=mode == "sequential" and bool(xs.shape[0]), fused_saves_memory=True) == "fused":  # seqjax.kernels.fused_linear
            valid = valid_steps(xs, lengths)
            ys, h = linear_recurrence_scan(self.coefficients, params, state.h, xs, valid, chunk_length(*xs.shape[:2]))
            return ys, RNNState(h)
        a, b = self.coefficients(self.project(params, xs))  # [t, b, h] each
        if lengths is not None:  # padding steps become the identity h -> 1*h + 0
            valid = valid_steps(xs, lengths)[..., None]
            a, b = jnp.where(valid, a, 1), jnp.where(valid, b, 0)
        hs = linear_scan(a, b, state.h, mode=mode)
        final = RNNState(hs[-1]) if xs.shape[0] else state
        return (hs if lengths is None else jnp.where(valid, hs, 0)), final


@frozen
class MinGRU(_LinearRecurrence):
    """Minimal GRU. ``wx [d, 2h]`` (blocks z, h̃), ``b [2h]``; no recurrent weights.

        z_t = σ(x_t W_z + b_z)
        h̃_t = x_t W_h + b_h
        h_t = (1 − z_t) ⊙ h_{t-1} + z_t ⊙ h̃_t

    ``1 − σ(k)`` is computed as ``σ(−k)``, which keeps precision when ``z_t → 1``.
    ``mode`` picks the sequence algorithm: "associative" (parallel, O(log t) depth),
    "sequential" (with ``fused``, the chunked path of ``seqjax.kernels.fused_linear``, the fastest
    on the CPU with about a third of the memory: BENCHMARKS.md, "Speed options") or "auto" (the default:
    sequential on the CPU, associative on accelerators). State: ``RNNState(h)``.
    """

    _blocks = 2

    def coefficients(self, xp: Array) -> tuple[Array, Array]:
        k, candidate = jnp.split(xp, 2, axis=-1)
        return jax.nn.sigmoid(-k), jax.nn.sigmoid(k) * candidate


@frozen
class MinLSTM(_LinearRecurrence):
    """Minimal LSTM. ``wx [d, 3h]`` (blocks f, i, h̃), ``b [3h]``; no recurrent weights.

        f_t = σ(x_t W_f + b_f),   i_t = σ(x_t W_i + b_i),   h̃_t = x_t W_h + b_h
        f'_t = f_t / (f_t + i_t),  i'_t = i_t / (f_t + i_t)      # normalised: time-independent scale
        h_t = f'_t ⊙ h_{t-1} + i'_t ⊙ h̃_t

    State: ``RNNState(h)``.
    """

    _blocks = 3

    def coefficients(self, xp: Array) -> tuple[Array, Array]:
        kf, ki, candidate = jnp.split(xp, 3, axis=-1)
        f, i = jax.nn.sigmoid(kf), jax.nn.sigmoid(ki)
        return f / (f + i), i / (f + i) * candidate
