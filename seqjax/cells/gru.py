"""Gated recurrent unit (Cho et al. 2014), in the lectures' reset-before form and cuDNN's reset-after form."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from seqjax.cells.protocol import Cell, RNNState, dense_params, frozen, split_columns
from seqjax.kernels.options import DEFAULT, ScanOptions, path
from seqjax.core.checks import check_positive
from seqjax.layers.dense import activation, dense, uniform_init
from seqjax.kernels.fused import gru_scan
from seqjax.core.masking import valid_steps
from seqjax.core.types import Array, DType, Params, PRNGKey, State


@frozen
class GRU(Cell):
    """Gated recurrent unit. Gates are fused in the order (r, z, n): ``wx [d, 3h]``, ``wh [h, 3h]``, ``b [3h]``.

    Reset-before (``reset_after=False``, Cho et al. 2014 as written in the lectures):

        r_t = σ(x_t U_r + s_{t-1} W_r + b_r)
        z_t = σ(x_t U_z + s_{t-1} W_z + b_z)
        s̃_t = φ((r_t ⊙ s_{t-1}) W + x_t U + b)
        s_t = z_t ⊙ s_{t-1} + (1 − z_t) ⊙ s̃_t

    Reset-after (``reset_after=True``, cuDNN / ``torch.nn.GRU`` / Keras default), with
    an extra recurrent bias ``bh [h]`` inside the reset (PyTorch's ``b_hn``):

        s̃_t = φ(x_t U + b + r_t ⊙ (s_{t-1} W + b_h))

    Here ``U_* = wx[:, block]``, ``W_* = wh[:, block]``, φ = ``activation`` (tanh).
    Reset-after lets the recurrent matmul of all three blocks run as one
    ``s_{t-1} @ wh``; reset-before needs a second, dependent matmul.
    State: ``RNNState(h=s)``.
    """

    input_size: int
    hidden_size: int
    reset_after: bool = False
    activation: str = "tanh"
    param_dtype: DType = jnp.float32

    def __post_init__(self):
        check_positive(self, "input_size", "hidden_size")
        activation(self.activation)

    def init(self, key: PRNGKey) -> Params:
        k1, k2 = jax.random.split(key)
        params = dense_params(k1, self.input_size, self.hidden_size, 3 * self.hidden_size, self.param_dtype)
        if self.reset_after:
            params["bh"] = uniform_init(k2, (self.hidden_size,), self.hidden_size, self.param_dtype)
        return params

    def project(self, params: Params, x: Array) -> Array:
        return dense(x, params["wx"], params["b"])  # [..., 3h]: the x-parts of r, z and the candidate

    def recur(self, params: Params, state: State, xp: Array) -> tuple[State, Array]:
        s, wh, n = state.h, params["wh"], self.hidden_size
        if self.reset_after:
            hp = s @ wh  # [b, 3h]
            r = jax.nn.sigmoid(xp[..., :n] + hp[..., :n])
            z = jax.nn.sigmoid(xp[..., n : 2 * n] + hp[..., n : 2 * n])
            candidate = activation(self.activation)(xp[..., 2 * n :] + r * (hp[..., 2 * n :] + params["bh"]))
        else:
            wh_rz, wh_n = split_columns(params, "wh", 2 * n)  # wh[:, :2n], wh[:, 2n:]
            rz = jax.nn.sigmoid(xp[..., : 2 * n] + s @ wh_rz)
            r, z = rz[..., :n], rz[..., n:]
            candidate = activation(self.activation)(xp[..., 2 * n :] + (r * s) @ wh_n)
        s = z * s + (1 - z) * candidate
        return RNNState(s), s

    def prepare_loop(self, params: Params) -> Params:
        if self.reset_after:
            return params
        return {**params, "wh_split": split_columns(params, "wh", 2 * self.hidden_size)}

    def scan(self, params: Params, state: State, xs: Array, lengths: Array | None, *, options: ScanOptions = DEFAULT):
        """``recur`` under one ``lax.scan``, or (``seqjax.kernels.options.path``) the same recurrence with
        the hand-written backward pass of ``seqjax.kernels.fused.gru_scan`` (tanh)."""
        options = options.resolved()
        if path(options, fused=self.activation == "tanh") != "fused":
            return super().scan(params, state, xs, lengths, options=options)
        ys, s = gru_scan(params, state.h, xs, valid_steps(xs, lengths), options.unroll, options.hoist, self.reset_after)
        return ys, RNNState(s)
