"""Long short-term memory: the standard LSTM, the lectures' prototype LSTM, and the peephole LSTM."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from seqjax.cells.protocol import Cell, LSTMState, RNNState, dense_params, frozen, split_columns
from seqjax.kernels.options import DEFAULT, ScanOptions, path
from seqjax.core.checks import check_finite, check_positive
from seqjax.layers.dense import activation, dense, uniform_init
from seqjax.kernels import cudnn
from seqjax.kernels.fused import lstm_scan
from seqjax.core.masking import valid_steps
from seqjax.core.types import Array, DType, Params, PRNGKey, State


def _lstm_params(cell, key: PRNGKey, gates: int, forget_block: int) -> Params:
    """Fused ``wx [d, gh]``, ``wh [h, gh]``, ``b [gh]`` with ``forget_bias`` added to the forget block."""
    h = cell.hidden_size
    params = dense_params(key, cell.input_size, h, gates * h, cell.param_dtype)
    params["b"] = params["b"].at[forget_block * h : (forget_block + 1) * h].add(cell.forget_bias)
    return params


@frozen
class LSTM(Cell):
    """Standard LSTM (Hochreiter & Schmidhuber 1997 with the forget gate of Gers et al. 2000),
    as in TF/Keras and ``torch.nn.LSTM``. Gates fused in the order (i, f, g, o):
    ``wx [d, 4h]``, ``wh [h, 4h]``, ``b [4h]``.

        i_t = σ(x_t U_i + h_{t-1} W_i + b_i)
        f_t = σ(x_t U_f + h_{t-1} W_f + b_f)
        g_t = φ(x_t U_g + h_{t-1} W_g + b_g)
        o_t = σ(x_t U_o + h_{t-1} W_o + b_o)
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        h_t = o_t ⊙ φ(c_t)

    ``forget_bias`` (default 1.0, Jozefowicz et al. 2015; Keras ``unit_forget_bias``)
    is added to ``b_f`` at initialisation. φ = ``activation`` (tanh).
    State: ``LSTMState(h, c)``; output ``y_t = h_t``.
    """

    input_size: int
    hidden_size: int
    forget_bias: float = 1.0
    activation: str = "tanh"
    param_dtype: DType = jnp.float32

    def __post_init__(self):
        check_positive(self, "input_size", "hidden_size")
        check_finite(self, "forget_bias")
        activation(self.activation)

    def init(self, key: PRNGKey) -> Params:
        return _lstm_params(self, key, 4, forget_block=1)

    def initial_state(self, batch_size=None, dtype=jnp.float32, *, key=None) -> State:
        shape = (self.hidden_size,) if batch_size is None else (batch_size, self.hidden_size)
        return LSTMState(jnp.zeros(shape, dtype), jnp.zeros(shape, dtype))

    def project(self, params: Params, x: Array) -> Array:
        return dense(x, params["wx"], params["b"])

    def recur(self, params: Params, state: State, xp: Array) -> tuple[State, Array]:
        phi = activation(self.activation)
        i, f, g, o = jnp.split(xp + state.h @ params["wh"], 4, axis=-1)
        c = jax.nn.sigmoid(f) * state.c + jax.nn.sigmoid(i) * phi(g)
        h = jax.nn.sigmoid(o) * phi(c)
        return LSTMState(h, c), h

    def scan(self, params: Params, state: State, xs: Array, lengths: Array | None, *, options: ScanOptions = DEFAULT):
        """``recur`` under one ``lax.scan``, or (``seqjax.kernels.options.path``) the same recurrence with
        the hand-written backward pass of ``seqjax.kernels.fused.lstm_scan`` (tanh), or cuDNN's LSTM
        kernel (``seqjax.kernels.cudnn``: tanh, float32, no ``lengths``)."""
        options = options.resolved()
        chosen = path(options, fused=self.activation == "tanh", cudnn=bool(xs.shape[0]) and cudnn.applies(self.activation, xs.dtype, lengths))
        if chosen == "cudnn":
            ys, h, c = cudnn.lstm_scan(params, state.h, state.c, xs)
        elif chosen == "fused":
            ys, h, c = lstm_scan(params, state.h, state.c, xs, valid_steps(xs, lengths), options.unroll, options.hoist)
        else:
            return super().scan(params, state, xs, lengths, options=options)
        return ys, LSTMState(h, c)


@frozen
class PrototypeLSTM(Cell):
    """The lectures' prototype LSTM: one state ``s``, the output gate acts on the past state
    inside the candidate. Fused order (i, f, o, g): ``wx [d, 4h]``, ``wh [h, 4h]``, ``b [4h]``.

        i_t = σ(x_t U_i + s_{t-1} W_i + b_i)
        f_t = σ(x_t U_f + s_{t-1} W_f + b_f)
        o_t = σ(x_t U_o + s_{t-1} W_o + b_o)
        s̃_t = φ((o_t ⊙ s_{t-1}) W + x_t U + b)
        s_t = f_t ⊙ s_{t-1} + i_t ⊙ s̃_t

    ``forget_bias`` is added to ``b_f`` at initialisation. State: ``RNNState(h=s)``; ``y_t = s_t``.
    """

    input_size: int
    hidden_size: int
    forget_bias: float = 1.0
    activation: str = "tanh"
    param_dtype: DType = jnp.float32

    def __post_init__(self):
        check_positive(self, "input_size", "hidden_size")
        check_finite(self, "forget_bias")
        activation(self.activation)

    def init(self, key: PRNGKey) -> Params:
        return _lstm_params(self, key, 4, forget_block=1)

    def project(self, params: Params, x: Array) -> Array:
        return dense(x, params["wx"], params["b"])

    def prepare_loop(self, params: Params) -> Params:
        return {**params, "wh_split": split_columns(params, "wh", 3 * self.hidden_size)}

    def recur(self, params: Params, state: State, xp: Array) -> tuple[State, Array]:
        s, n = state.h, self.hidden_size
        wh_ifo, wh_g = split_columns(params, "wh", 3 * n)  # wh[:, :3n], wh[:, 3n:]
        i, f, o = jnp.split(jax.nn.sigmoid(xp[..., : 3 * n] + s @ wh_ifo), 3, axis=-1)
        candidate = activation(self.activation)(xp[..., 3 * n :] + (o * s) @ wh_g)
        s = f * s + i * candidate
        return RNNState(s), s


@frozen
class PeepholeLSTM(Cell):
    """LSTM with peephole connections (Gers & Schmidhuber 2000): the gates also see the cell state.
    Same fused (i, f, g, o) weights as ``LSTM`` plus diagonal peepholes ``peephole [3, h]`` (rows p_i, p_f, p_o).

        i_t = σ(x_t U_i + h_{t-1} W_i + p_i ⊙ c_{t-1} + b_i)
        f_t = σ(x_t U_f + h_{t-1} W_f + p_f ⊙ c_{t-1} + b_f)
        g_t = φ(x_t U_g + h_{t-1} W_g + b_g)
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        o_t = σ(x_t U_o + h_{t-1} W_o + p_o ⊙ c_t + b_o)       # the output gate sees the new c_t
        h_t = o_t ⊙ φ(c_t)

    State: ``LSTMState(h, c)``; output ``y_t = h_t``.
    """

    input_size: int
    hidden_size: int
    forget_bias: float = 1.0
    activation: str = "tanh"
    param_dtype: DType = jnp.float32

    def __post_init__(self):
        check_positive(self, "input_size", "hidden_size")
        check_finite(self, "forget_bias")
        activation(self.activation)

    def init(self, key: PRNGKey) -> Params:
        k1, k2 = jax.random.split(key)
        params = _lstm_params(self, k1, 4, forget_block=1)
        params["peephole"] = uniform_init(k2, (3, self.hidden_size), self.hidden_size, self.param_dtype)
        return params

    initial_state = LSTM.initial_state
    project = LSTM.project

    def recur(self, params: Params, state: State, xp: Array) -> tuple[State, Array]:
        phi, p = activation(self.activation), params["peephole"]
        i, f, g, o = jnp.split(xp + state.h @ params["wh"], 4, axis=-1)
        c = jax.nn.sigmoid(f + p[1] * state.c) * state.c + jax.nn.sigmoid(i + p[0] * state.c) * phi(g)
        h = jax.nn.sigmoid(o + p[2] * c) * phi(c)
        return LSTMState(h, c), h
