"""Linear recurrences ``h_t = a_t ⊙ h_{t-1} + b_t``: sequential and parallel (associative) scans.

A linear recurrence composes: applying step 1 then step 2 is again a step,
``(a_1, b_1) ∘ (a_2, b_2) = (a_1 a_2, a_2 b_1 + b_2)``, and ``∘`` is associative,
so ``jax.lax.associative_scan`` computes all ``h_t`` in O(log t) depth
(Blelloch 1990; Martin & Cundy 2018). MinGRU and MinLSTM are such recurrences.
Both algorithms compute the same numbers up to float rounding.
"""

from __future__ import annotations

import jax

from seqjax.core.types import Array

SCAN_MODES = ("associative", "sequential")


def _compose(earlier, later):
    a1, b1 = earlier
    a2, b2 = later
    return a1 * a2, a2 * b1 + b2


def linear_scan(a: Array, b: Array, h0: Array, *, mode: str = "associative") -> Array:
    """All states of ``h_t = a_t * h_{t-1} + b_t`` for time-major ``a, b [t, ...]`` and ``h0 [...]``.

    Returns ``hs [t, ...]`` with ``hs[i] = h_{i+1}`` (the state after step i).

    >>> linear_scan(jnp.full((3, 1), 0.5), jnp.ones((3, 1)), jnp.zeros(1))[:, 0]
    Array([1.  , 1.5 , 1.75], dtype=float32)
    """
    if mode == "associative":
        a_cum, b_cum = jax.lax.associative_scan(_compose, (a, b), axis=0)
        return a_cum * h0[None] + b_cum
    if mode == "sequential":

        def body(h, ab):
            h = ab[0] * h + ab[1]
            return h, h

        return jax.lax.scan(body, h0, (a, b))[1]
    raise ValueError(f"mode must be one of {SCAN_MODES}, got {mode!r}")
