"""An attention decoder that is itself a cell: any cell, reading an encoder memory at every step.

Because it is a cell, the one ``unroll`` runs teacher-forced training over a whole target
sequence and ``step`` runs generation one token at a time (``seqjax.decoding``), with the
same parameters and the same numbers (tests check ``unroll`` against a loop of ``step``).

The memory is per batch, not a hyperparameter: ``start`` puts it into the decoder's state
(as a ``Constant``, which no step changes and ``unroll``'s length mask never touches)::

    decoder = AttentionDecoder(GRU(embed + 2 * hidden, hidden), AdditiveAttention(hidden, 2 * hidden, hidden))
    params = decoder.init(key)
    state = decoder.start(params, memory, src_lengths)            # memory [b, s, 2·hidden]
    ys, state = seqjax.unroll(decoder, params, tgt_embedded, lengths=tgt_lengths, initial_state=state)
    state, y = decoder.step(params, state, x)                     # one generation step

Two arrangements (``style``):

  "bahdanau"  (Bahdanau et al. 2015; GNMT's s_t = f(y_{i−1}, x_t)): the query is the cell's
              previous output, the context joins the input:
                  a_i, p_i = attend(y_{i−1}, memory)
                  state_i, y_i = cell(state_{i−1}, [x_i; a_i])
                  output [y_i; a_i]
  "luong"     (Luong et al. 2015): the query is the cell's new output, then an attentional layer:
                  state_i, y_i = cell(state_{i−1}, x_i)            ([x_i; ỹ_{i−1}] with input_feeding)
                  a_i, p_i = attend(y_i, memory)
                  ỹ_i = tanh(W_c [a_i; y_i])                        output ỹ_i

The wrapped cell's ``input_size`` must be the input size plus what is concatenated to it
(the memory size for "bahdanau", ``attention_layer_size`` with input feeding).
With ``return_weights`` every step outputs ``AttentionOutput(y, weights)``, so ``unroll``
returns each step's attention weights ``[b, t, s]`` for plots.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from seqjax.attention.scores import ATTENTIONS, Memory
from seqjax.cells.protocol import Cell, frozen
from seqjax.core.compiled import staged_check
from seqjax.core.checks import check_choice
from seqjax.layers.dense import dense, uniform_init
from seqjax.core.masking import Constant, sequence_mask
from seqjax.core.types import Array, DType, Params, PRNGKey, State


class AttentionState(NamedTuple):
    cell: State          # the wrapped cell's state
    feed: Array          # [b, q]: "bahdanau": the cell's previous output (the next query); "luong": ỹ_{i−1}
    weights: Array       # [b, s]: the last step's attention weights
    memory: Constant     # Constant(Memory(values [b, s, m], keys [b, s, k], mask [b, s]))


class AttentionOutput(NamedTuple):
    y: Array             # [b, o]
    weights: Array       # [b, s]


@frozen
class AttentionDecoder(Cell):
    """``cell`` with ``attention`` over a memory (see the module docstring for the equations).

    Params: ``{"cell": ..., "attention": ...}``, plus ``"combine": {"w": [m + h, l]}`` (W_c) for
    "luong". State: ``AttentionState``, made by ``start``.
    """

    cell: Cell
    attention: object  # AdditiveAttention | LuongAttention
    style: str = "bahdanau"
    input_feeding: bool = False
    attention_layer_size: int | None = None  # "luong": the size of ỹ (default: the cell's output size)
    return_weights: bool = False
    param_dtype: DType = jnp.float32

    def __post_init__(self):
        check_choice(self, "style", ("bahdanau", "luong"))
        if not isinstance(self.cell, Cell):
            raise ValueError(f"AttentionDecoder.cell must be a seqjax cell, got {type(self.cell).__name__}")
        if not isinstance(self.attention, ATTENTIONS):
            raise ValueError(f"AttentionDecoder.attention must be one of {[a.__name__ for a in ATTENTIONS]}, "
                             f"got {type(self.attention).__name__}")
        if self.input_feeding and self.style != "luong":
            raise ValueError("AttentionDecoder.input_feeding is Luong's: it needs style='luong'")
        if self.attention.query_size != self.query_size:
            raise ValueError(f"AttentionDecoder: attention.query_size is {self.attention.query_size}, but the query "
                             f"(the cell's output) has size {self.query_size}")
        if self.input_size <= 0:
            raise ValueError(f"AttentionDecoder: cell.input_size ({self.cell.input_size}) must exceed what is concatenated "
                             f"to the input ({self.cell.input_size - self.input_size}): the input itself needs features")

    @property
    def memory_size(self) -> int:
        return self.attention.memory_size

    @property
    def query_size(self) -> int:
        return self.cell.output_dim

    @property
    def combined_size(self) -> int:
        return self.attention_layer_size or self.cell.output_dim

    @property
    def input_size(self) -> int:
        extra = self.memory_size if self.style == "bahdanau" else (self.combined_size if self.input_feeding else 0)
        return self.cell.input_size - extra

    hidden_size = property(lambda self: self.cell.hidden_size)

    @property
    def output_dim(self) -> int:
        return self.cell.output_dim + self.memory_size if self.style == "bahdanau" else self.combined_size

    @property
    def feed_size(self) -> int:
        return self.query_size if self.style == "bahdanau" else self.combined_size

    def init(self, key: PRNGKey) -> Params:
        kc, ka, kw = jax.random.split(key, 3)
        params = {"cell": self.cell.init(kc), "attention": self.attention.init(ka)}
        if self.style == "luong":
            fan = self.memory_size + self.cell.output_dim
            params["combine"] = {"w": uniform_init(kw, (fan, self.combined_size), fan, self.param_dtype)}
        return params

    def initial_state(self, batch_size=None, dtype=jnp.float32, *, key=None) -> State:
        raise TypeError("AttentionDecoder's state holds the encoder memory it attends over: make it with "
                        "decoder.start(params, memory, lengths) and pass it as unroll(..., initial_state=...)")

    def start(self, params: Params, memory: Array, lengths: Array | None = None, *, cell_state: State | None = None,
              feed: Array | None = None, key: PRNGKey | None = None) -> AttentionState:
        """The decoder's initial state over ``memory [b, s, m]`` (encoder outputs; ``lengths [b]``
        marks the real source positions). ``cell_state`` defaults to the cell's zero state and
        ``feed`` (the first query for "bahdanau", ỹ_0 for "luong") to zeros; a bridge from the
        encoder gives them instead. ``key`` samples the cell's dropout masks."""
        memory = jnp.asarray(memory)
        if memory.ndim != 3 or memory.shape[-1] != self.memory_size:
            raise ValueError(f"memory must have shape [batch, source_length, {self.memory_size}] (the attention's "
                             f"memory_size), got {tuple(memory.shape)}")
        b, s = memory.shape[:2]
        if lengths is None:
            mask = jnp.ones((b, s), bool)
        else:
            lengths = jnp.asarray(lengths)
            if lengths.shape != (b,) or not jnp.issubdtype(lengths.dtype, jnp.integer):
                raise ValueError(f"lengths must be an int array of shape [{b}], got {lengths.dtype} {tuple(lengths.shape)}")
            if not isinstance(lengths, jax.core.Tracer):
                values = np.asarray(lengths)
                if values.size and (values.min() < 1 or values.max() > s):
                    empty = " (an empty source sentence has nothing to attend to)" if values.min() < 1 else ""
                    raise ValueError(f"lengths must lie in [1, {s}] (the source axis of memory), got values in "
                                     f"[{values.min()}, {values.max()}]{empty}")
            else:
                staged_check(lambda: (lengths.min() >= 1) & (lengths.max() <= s), f"lengths must lie in [1, {s}] (the source axis "
                             "of memory), got values in [{low}, {high}]", low=lengths.min, high=lengths.max)
            mask = sequence_mask(lengths, s)
        keys = self.attention.keys(params["attention"], memory)
        if cell_state is None:
            cell_state = self.cell.initial_state(b, memory.dtype, key=key)
        if feed is None:
            feed = jnp.zeros((b, self.feed_size), memory.dtype)
        elif feed.shape != (b, self.feed_size):
            raise ValueError(f"feed must have shape [{b}, {self.feed_size}], got {tuple(feed.shape)}")
        return AttentionState(cell_state, feed.astype(memory.dtype), jnp.zeros((b, s), memory.dtype), Constant(Memory(memory, keys, mask)))

    def check_state(self, state: State, batch_size: int, dtype: DType, key: PRNGKey | None = None) -> None:
        if not isinstance(state, AttentionState):
            raise ValueError(f"initial_state of an AttentionDecoder must be the AttentionState that decoder.start(...) "
                             f"returns, got {type(state).__name__}")
        self.cell.check_state(state.cell, batch_size, dtype, key)
        values = state.memory.value.values
        if values.shape[0] != batch_size or values.shape[-1] != self.memory_size:
            raise ValueError(f"initial_state.memory has shape {tuple(values.shape)}, expected [{batch_size}, source_length, "
                             f"{self.memory_size}]: a memory of another batch?")

    def prepare_loop(self, params: Params) -> Params:
        return {**params, "cell": self.cell.prepare_loop(params["cell"])}

    def final_output(self, state: State) -> Array:
        """The attentional vector fed to the next step (its cell's output for Bahdanau's style)."""
        return state.feed

    def recur(self, params: Params, state: State, x: Array) -> tuple[State, Array]:
        memory = state.memory.value
        attend = lambda query: self.attention(params["attention"], query, memory.keys, memory.values, memory.mask)  # noqa: E731
        if self.style == "bahdanau":
            context, weights = attend(state.feed)
            inner, y = self.cell.step(params["cell"], state.cell, jnp.concatenate([x, context.astype(x.dtype)], -1))
            feed, out = y, jnp.concatenate([y, context.astype(y.dtype)], -1)
        else:
            inner, y = self.cell.step(params["cell"], state.cell, jnp.concatenate([x, state.feed], -1) if self.input_feeding else x)
            context, weights = attend(y)
            out = jnp.tanh(dense(jnp.concatenate([context.astype(y.dtype), y], -1), params["combine"]["w"].astype(y.dtype)))
            feed = out
        new = AttentionState(inner, feed, weights.astype(state.weights.dtype), state.memory)
        return new, (AttentionOutput(out, weights) if self.return_weights else out)
