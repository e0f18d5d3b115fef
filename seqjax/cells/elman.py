"""Simple recurrent networks: Elman (1990) and Jordan (1986).

The lectures' basic RNN ``h_t = tanh(W_A (x_t ⊕ h_{t-1}) + b_A)`` with a softmax
output is ``Elman(..., activation="tanh", output_size=V, output_activation="softmax")``:
splitting ``W_A = [W_h; U_h]`` along its input axis gives
``W_A (x ⊕ h) = W_h x + U_h h``, and seqjax stores the two blocks as ``wx`` and
``wh`` so that the ``x`` part can be computed for all time steps at once.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from seqjax.cells.protocol import Cell, RNNState, dense_params, frozen
from seqjax.core.checks import check_positive
from seqjax.layers.dense import activation, dense, uniform_init
from seqjax.core.types import Array, DType, Params, PRNGKey, State


def _output_params(key: PRNGKey, hidden_size: int, output_size: int, dtype: DType) -> dict[str, Array]:
    kw, kb = jax.random.split(key)
    return {"wy": uniform_init(kw, (hidden_size, output_size), hidden_size, dtype),
            "by": uniform_init(kb, (output_size,), hidden_size, dtype)}


@frozen
class Elman(Cell):
    """Elman network: the hidden state feeds back.

        h_t = σ_h(x_t W_x + h_{t-1} W_h + b_h)        # wx [d, h], wh [h, h], b [h]
        y_t = σ_y(h_t W_y + b_y)                       # wy [h, o], by [o]; y_t = h_t if output_size is None

    ``activation`` is σ_h ("tanh" or "relu" as in ``torch.nn.RNN``, or any name in
    ``seqjax.layers.ACTIVATIONS``) and ``output_activation`` is σ_y.
    State: ``RNNState(h)``.
    """

    input_size: int
    hidden_size: int
    output_size: int | None = None
    activation: str = "tanh"
    output_activation: str = "identity"
    param_dtype: DType = jnp.float32

    def __post_init__(self):
        check_positive(self, "input_size", "hidden_size")
        if self.output_size is not None:
            check_positive(self, "output_size")
        activation(self.activation), activation(self.output_activation)

    @property
    def output_dim(self) -> int:
        return self.hidden_size if self.output_size is None else self.output_size

    def init(self, key: PRNGKey) -> Params:
        k1, k2 = jax.random.split(key)
        params = dense_params(k1, self.input_size, self.hidden_size, self.hidden_size, self.param_dtype)
        if self.output_size is not None:
            params.update(_output_params(k2, self.hidden_size, self.output_size, self.param_dtype))
        return params

    def project(self, params: Params, x: Array) -> Array:
        return dense(x, params["wx"], params["b"])

    def recur(self, params: Params, state: State, xp: Array) -> tuple[State, Array]:
        h = activation(self.activation)(xp + state.h @ params["wh"])
        if self.output_size is None:
            return RNNState(h), h
        return RNNState(h), activation(self.output_activation)(h @ params["wy"] + params["by"])


@frozen
class Jordan(Cell):
    """Jordan network: the previous *output* feeds back, not the hidden state.

        h_t = σ_h(x_t W_x + y_{t-1} W_y' + b_h)        # wx [d, h], wh [o, h], b [h]
        y_t = σ_y(h_t W_y + b_y)                        # wy [h, o], by [o]

    State: ``RNNState(h=y_{t-1})`` of shape ``[b, o]`` (the fed-back vector is the output).
    """

    input_size: int
    hidden_size: int
    output_size: int
    activation: str = "tanh"
    output_activation: str = "identity"
    param_dtype: DType = jnp.float32

    def __post_init__(self):
        check_positive(self, "input_size", "hidden_size", "output_size")
        activation(self.activation), activation(self.output_activation)

    @property
    def output_dim(self) -> int:
        return self.output_size

    def init(self, key: PRNGKey) -> Params:
        kx, kh, kb, ky = jax.random.split(key, 4)
        return {
            "wx": uniform_init(kx, (self.input_size, self.hidden_size), self.hidden_size, self.param_dtype),
            "wh": uniform_init(kh, (self.output_size, self.hidden_size), self.hidden_size, self.param_dtype),
            "b": uniform_init(kb, (self.hidden_size,), self.hidden_size, self.param_dtype),
            **_output_params(ky, self.hidden_size, self.output_size, self.param_dtype),
        }

    def initial_state(self, batch_size=None, dtype=jnp.float32, *, key=None) -> State:
        shape = (self.output_size,) if batch_size is None else (batch_size, self.output_size)
        return RNNState(jnp.zeros(shape, dtype))

    def project(self, params: Params, x: Array) -> Array:
        return dense(x, params["wx"], params["b"])

    def recur(self, params: Params, state: State, xp: Array) -> tuple[State, Array]:
        h = activation(self.activation)(xp + state.h @ params["wh"])
        y = activation(self.output_activation)(h @ params["wy"] + params["by"])
        return RNNState(y), y
