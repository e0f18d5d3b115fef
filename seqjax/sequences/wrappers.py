"""Cells built from cells: deep (and residual) stacks, bidirectional layers, variational dropout.

Dropout here is variational (Gal & Ghahramani 2016): one mask per sequence, sampled
by ``initial_state(batch, key=key)`` and carried unchanged in the state, so every
time step sees the same mask. Without a key the masks are all ones (deterministic,
e.g. evaluation), and the state tree has the same structure either way.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from seqjax.cells.protocol import Cell, frozen
from seqjax.kernels.options import DEFAULT
from seqjax.core.checks import check_rate
from seqjax.layers.dropout import dropout_mask
from seqjax.core.masking import masked_scan, valid_steps
from seqjax.core.types import Array, Params, PRNGKey, State
from seqjax.sequences.unroll import run


def _mask_shape(batch_size: int | None, size: int) -> tuple[int, ...]:
    return (size,) if batch_size is None else (batch_size, size)


class DropoutState(NamedTuple):
    cell: State          # the wrapped cell's state, never masked itself
    input_mask: Array    # [b, d]
    recurrent_mask: Array  # [b, size of the cell state's first field]


@frozen
class VariationalDropout(Cell):
    """Input and recurrent dropout around ``cell``, one mask per sequence:

        x̂_t = x_t ⊙ m_x,    ĥ_{t-1} = h_{t-1} ⊙ m_h,    (state_t, y_t) = cell.step(state with ĥ_{t-1}, x̂_t)

    ``m_h`` multiplies the first field of the wrapped cell's state (``h``; for LSTMs
    only ``h``, not ``c``, as in Gal & Ghahramani). State: ``DropoutState``.
    """

    cell: Cell
    input_rate: float = 0.0
    recurrent_rate: float = 0.0

    def __post_init__(self):
        check_rate(self, "input_rate", "recurrent_rate")
        if self.recurrent_rate > 0.0 and not hasattr(self.cell.initial_state(1)[0], "shape"):
            raise ValueError(f"VariationalDropout.recurrent_rate needs a cell whose state's first field is its fed-back "
                             f"output h; {type(self.cell).__name__}'s is not. Wrap each layer instead, e.g. "
                             f"Stack((VariationalDropout(layer, recurrent_rate=...), ...))")

    input_size = property(lambda self: self.cell.input_size)
    hidden_size = property(lambda self: self.cell.hidden_size)
    output_dim = property(lambda self: self.cell.output_dim)

    def init(self, key: PRNGKey) -> Params:
        return self.cell.init(key)

    def initial_state(self, batch_size=None, dtype=jnp.float32, *, key=None) -> State:
        ki, kr = jax.random.split(key) if key is not None else (None, None)
        inner = self.cell.initial_state(batch_size, dtype)
        fed_back = jax.tree_util.tree_leaves(inner)[0].shape[-1]
        return DropoutState(inner, dropout_mask(ki, self.input_rate, _mask_shape(batch_size, self.input_size), dtype),
                            dropout_mask(kr, self.recurrent_rate, _mask_shape(batch_size, fed_back), dtype))

    def _masked(self, inner: State, mask: Array) -> State:
        return inner._replace(**{inner._fields[0]: inner[0] * mask})

    def step(self, params: Params, state: State, x: Array) -> tuple[State, Array]:
        inner, y = self.cell.step(params, self._masked(state.cell, state.recurrent_mask), x * state.input_mask)
        return state._replace(cell=inner), y

    def prepare_loop(self, params: Params) -> Params:
        return self.cell.prepare_loop(params)

    def final_output(self, state: State) -> Array:
        return self.cell.final_output(state.cell)

    def scan(self, params, state, xs, lengths, *, options=DEFAULT):
        xs = xs * state.input_mask  # [t, b, d] * [b, d]
        if self.recurrent_rate == 0.0:
            ys, inner = self.cell.scan(params, state.cell, xs, lengths, options=options)
        else:
            xp, inner_step = (self.cell.project(params, xs), self.cell.recur) if options.resolved().hoist else (xs, self.cell.step)
            prepared = self.cell.prepare_loop(params)

            def recur(inner, x):
                return inner_step(prepared, self._masked(inner, state.recurrent_mask), x)

            ys, inner = masked_scan(recur, state.cell, xp, lengths, unroll=options.unroll, remat=options.remat)
        return ys, state._replace(cell=inner)


class StackState(NamedTuple):
    layers: tuple  # one state per layer
    masks: tuple   # dropout masks [b, output of layer i] between layers; () without dropout


@frozen
class Stack(Cell):
    """Deep RNN: layer i+1 reads the output sequence of layer i.

        y^0_t = x_t
        y^i_t = D_i(layer_i(y^{i-1})_t) (+ y^{i-1}_t  if i > residual_from)      # GNMT residuals (Wu et al. 2016)

    ``D_i`` is variational dropout with rate ``dropout`` between layers (not after the
    last, as in ``torch.nn.LSTM``). ``residual_from=k`` adds residual connections to
    every layer after index k (GNMT: ``residual_from=1``, from the third layer on);
    None for none. Layers may be ``Bidirectional``; then ``step`` is unavailable.
    State: ``StackState(layers, masks)``.
    """

    layers: tuple[Cell, ...]
    dropout: float = 0.0
    residual_from: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))
        if not self.layers or not all(isinstance(c, Cell) for c in self.layers):
            raise ValueError("Stack.layers must be a non-empty sequence of seqjax cells")
        check_rate(self, "dropout")
        for i, (below, above) in enumerate(zip(self.layers, self.layers[1:])):
            if above.input_size != below.output_dim:
                raise ValueError(f"Stack.layers[{i + 1}].input_size is {above.input_size}, but layer {i} outputs {below.output_dim}")
            if self._residual(i + 1) and above.output_dim != below.output_dim:
                raise ValueError(f"Stack.layers[{i + 1}] has a residual connection but maps {below.output_dim} -> {above.output_dim}")

    input_size = property(lambda self: self.layers[0].input_size)
    hidden_size = property(lambda self: self.layers[-1].hidden_size)
    output_dim = property(lambda self: self.layers[-1].output_dim)

    def _residual(self, i: int) -> bool:
        return self.residual_from is not None and i > self.residual_from

    def init(self, key: PRNGKey) -> Params:
        return tuple(layer.init(k) for layer, k in zip(self.layers, jax.random.split(key, len(self.layers))))

    def initial_state(self, batch_size=None, dtype=jnp.float32, *, key=None) -> State:
        n = len(self.layers)
        keys = list(jax.random.split(key, 2 * n)) if key is not None else [None] * (2 * n)
        states = tuple(layer.initial_state(batch_size, dtype, key=k) for layer, k in zip(self.layers, keys[:n]))
        masks = () if self.dropout == 0.0 else tuple(
            dropout_mask(k, self.dropout, _mask_shape(batch_size, layer.output_dim), dtype)
            for layer, k in zip(self.layers[:-1], keys[n:]))
        return StackState(states, masks)

    def _between(self, i: int, state: State, x: Array, y: Array) -> Array:
        """Dropout after layer i (not the last), then the residual connection into layer i's output."""
        if self.dropout > 0.0 and i < len(self.layers) - 1:
            y = y * state.masks[i]
        return y + x if self._residual(i) else y

    def prepare_loop(self, params: Params) -> Params:
        """Each layer's own ``prepare_loop``."""
        return tuple(layer.prepare_loop(p) for layer, p in zip(self.layers, params))

    def final_output(self, state: State) -> Array:
        """The last layer's."""
        return self.layers[-1].final_output(state.layers[-1])

    def step(self, params: Params, state: State, x: Array) -> tuple[State, Array]:
        new_states = []
        for i, (layer, p, s) in enumerate(zip(self.layers, params, state.layers)):
            s, y = layer.step(p, s, x)
            new_states.append(s)
            x = self._between(i, state, x, y)
        return state._replace(layers=tuple(new_states)), x

    def scan(self, params, state, xs, lengths, *, options=DEFAULT):
        new_states = []
        for i, (layer, p, s) in enumerate(zip(self.layers, params, state.layers)):
            ys, s = layer.scan(p, s, xs, lengths, options=options)
            new_states.append(s)
            xs = self._between(i, state, xs, ys)
            if lengths is not None and self._residual(i):  # the residual would leak padding inputs
                xs = jnp.where(valid_steps(xs, lengths)[..., None], xs, 0)
        return xs, state._replace(layers=tuple(new_states))


class BidirectionalState(NamedTuple):
    forward: State
    backward: State


@frozen
class Bidirectional(Cell):
    """Two cells over one sequence, one forwards and one backwards (within each sequence's length):

        y_t = merge(forward(x_1..x_t), backward(x_T..x_t)),   merge = concat [f; b] or sum f + b

    ``backward`` defaults to a copy of ``forward``'s hyperparameters (its own parameters).
    Needs the whole sequence, so it has no ``step``; use it through ``unroll`` or in a ``Stack``.
    Params: ``{"forward": ..., "backward": ...}``; state: ``BidirectionalState``.
    """

    forward: Cell
    backward: Cell | None = None
    merge: str = "concat"

    def __post_init__(self):
        if self.backward is None:
            object.__setattr__(self, "backward", self.forward)
        if self.merge not in ("concat", "sum"):
            raise ValueError(f"Bidirectional.merge must be 'concat' or 'sum', got {self.merge!r}")
        if self.backward.input_size != self.forward.input_size:
            raise ValueError("Bidirectional.forward and .backward must have the same input_size")
        if self.merge == "sum" and self.backward.output_dim != self.forward.output_dim:
            raise ValueError("Bidirectional with merge='sum' needs forward and backward of equal output size")

    input_size = property(lambda self: self.forward.input_size)
    hidden_size = property(lambda self: self.forward.hidden_size)

    @property
    def output_dim(self) -> int:
        f, b = self.forward.output_dim, self.backward.output_dim
        return f + b if self.merge == "concat" else f

    def init(self, key: PRNGKey) -> Params:
        kf, kb = jax.random.split(key)
        return {"forward": self.forward.init(kf), "backward": self.backward.init(kb)}

    def initial_state(self, batch_size=None, dtype=jnp.float32, *, key=None) -> State:
        kf, kb = jax.random.split(key) if key is not None else (None, None)
        return BidirectionalState(self.forward.initial_state(batch_size, dtype, key=kf),
                                  self.backward.initial_state(batch_size, dtype, key=kb))

    def final_output(self, state: State) -> Array:
        """``[forward; backward]`` (or their sum): each direction's final vector; the backward one has read
        the whole sequence, from its end, so this, not ``ys``' last step, summarises the sentence."""
        forward, backward = self.forward.final_output(state.forward), self.backward.final_output(state.backward)
        return jnp.concatenate([forward, backward], -1) if self.merge == "concat" else forward + backward

    def step(self, params, state, x):
        raise TypeError("Bidirectional needs the whole sequence and has no step(); run it with seqjax.unroll")

    def scan(self, params, state, xs, lengths, *, options=DEFAULT):
        yf, sf = run(self.forward, params["forward"], state.forward, xs, lengths, options=options)
        yb, sb = run(self.backward, params["backward"], state.backward, xs, lengths, reverse=True, options=options)
        ys = jnp.concatenate([yf, yb], axis=-1) if self.merge == "concat" else yf + yb
        return ys, BidirectionalState(sf, sb)
