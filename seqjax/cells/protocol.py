"""The Cell protocol: a frozen dataclass of hyperparameters and three pure functions.

A cell holds no arrays, so it is hashable and can be a static argument of ``jit``::

    cell = seqjax.LSTM(input_size=8, hidden_size=16)
    params = cell.init(key)                       # pytree of arrays
    state = cell.initial_state(batch_size=4)      # pytree of arrays
    state, y = cell.step(params, state, x)        # x: [b, d] -> y: [b, h]

``step`` is split into ``project`` (the part that does not depend on the state,
e.g. the input projection ``x @ W_x + b`` of all gates) and ``recur`` (the part
inside the recurrence). ``step(p, s, x) == recur(p, s, project(p, x))`` always
holds, so the readable per-step path and the fast path of ``unroll`` (which
projects all time steps with one large matmul before the scan) share one
parameter tree and give the same numbers.

Conventions:
  * weights are ``[in, out]`` and applied as ``x @ w``, so every leading axis is a
    batch axis;
  * the first field of every state is the vector fed back into the recurrence
    (``h`` for most cells); recurrent dropout acts on it;
  * the computation runs in the dtype of the input; ``unroll`` casts float
    parameters to it (bfloat16 compute over float32 parameters is one cast).
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from typing import Callable, NamedTuple, Protocol, runtime_checkable

import jax
import jax.numpy as jnp

from seqjax.kernels.options import DEFAULT, ScanOptions
from seqjax.layers.dense import uniform_init
from seqjax.core.masking import is_constant, masked_scan
from seqjax.core.types import Array, DType, Params, PRNGKey, State


class RNNState(NamedTuple):
    """State of cells that carry a single vector ``h`` of shape ``[b, h]``."""

    h: Array


class LSTMState(NamedTuple):
    """State of LSTM-family cells: output ``h`` and cell (memory) state ``c``, each ``[b, h]``."""

    h: Array
    c: Array


def dense_params(key: PRNGKey, input_size: int, hidden_size: int, width: int, dtype: DType) -> dict[str, Array]:
    """``wx [d, width]``, ``wh [h, width]`` and ``b [width]`` for fused-gate cells."""
    kx, kh, kb = jax.random.split(key, 3)
    return {
        "wx": uniform_init(kx, (input_size, width), hidden_size, dtype),
        "wh": uniform_init(kh, (hidden_size, width), hidden_size, dtype),
        "b": uniform_init(kb, (width,), hidden_size, dtype),
    }


def cast_params(params: Params, dtype: DType) -> Params:
    """Casts floating leaves to ``dtype`` (the compute dtype); gradients flow back to the originals."""

    def cast(p):
        return p.astype(dtype) if jnp.issubdtype(p.dtype, jnp.floating) and p.dtype != dtype else p

    return jax.tree_util.tree_map(cast, params)


def split_columns(params: Params, key: str, at: int) -> tuple[Array, Array]:
    """``(params[key][:, :at], params[key][:, at:])``, or the pair ``Cell.prepare_loop`` stored
    under ``key + "_split"`` before a loop."""
    if key + "_split" in params:
        return params[key + "_split"]
    w = params[key]
    return w[:, :at], w[:, at:]


class Cell:
    """Base class of all cells. Subclasses are frozen dataclasses of hyperparameters.

    Subclasses implement ``init``, ``initial_state`` and either ``step`` or the pair
    ``project``/``recur``. They may override ``scan`` (the time-major sequence
    loop used by ``seqjax.unroll``) with a faster algorithm that gives the same
    numbers, e.g. the parallel scan of MinGRU, ``prepare_loop`` when their step slices a
    weight, and ``final_output`` when their state's first field is not the summary vector.
    ``RecurrentCell`` below is the interface written out.
    """

    input_size: int
    hidden_size: int

    @property
    def output_dim(self) -> int:
        """Size of the output ``y_t`` of ``step`` (the hidden size for most cells)."""
        return self.hidden_size

    def init(self, key: PRNGKey) -> Params:
        raise NotImplementedError

    def initial_state(self, batch_size: int | None = None, dtype: DType = jnp.float32, *, key: PRNGKey | None = None) -> State:
        """Zero state of shape ``[b, h]`` (or ``[h]`` when ``batch_size`` is None).

        ``key`` is accepted by every cell and used only by stochastic wrappers
        (dropout), which sample their per-sequence masks here.
        """
        shape = (self.hidden_size,) if batch_size is None else (batch_size, self.hidden_size)
        return RNNState(jnp.zeros(shape, dtype))

    def project(self, params: Params, x: Array) -> Array:
        """State-independent part of ``step``; ``x`` may have any leading axes."""
        return x

    def recur(self, params: Params, state: State, x: Array) -> tuple[State, Array]:
        raise NotImplementedError

    def step(self, params: Params, state: State, x: Array) -> tuple[State, Array]:
        """One time step: ``x [b, d] -> (state, y [b, o])``."""
        return self.recur(params, state, self.project(params, x))

    def prepare_loop(self, params: Params) -> Params:
        """``params`` as ``step`` reads them inside a loop over time, computed once before the loop.
        XLA does not hoist a slice of a weight out of a ``lax.scan`` body, so a cell whose step
        slices ``wh`` adds the slices here (``split_columns``); the default adds nothing. ``step``
        accepts either tree and gives the same numbers; ``scan`` and ``stepper`` prepare for you."""
        return params

    def loop_params(self, params: Params) -> Params:
        """Deprecated name of ``prepare_loop`` (one release)."""
        warnings.warn("Cell.loop_params is now Cell.prepare_loop (or Cell.stepper for a loop's step function)", DeprecationWarning, stacklevel=2)
        return self.prepare_loop(params)

    def stepper(self, params: Params) -> Callable[[State, Array], tuple[State, Array]]:
        """The step function of a loop over time, ``(state, x) -> (state, y)``, with ``prepare_loop``
        applied once: call it before the loop (``lax.scan``, a sampler's ``while_loop``)."""
        return functools.partial(self.step, self.prepare_loop(params))

    def final_output(self, state: State) -> Array:
        """The vector that summarises a sequence from the state after its last step (``[b, o]``):
        the state's first field (``h``); wrappers say what theirs is (``Bidirectional``: both
        directions' final vectors, ``Stack``: the last layer's)."""
        return state[0]

    def scan(self, params: Params, state: State, xs: Array, lengths: Array | None, *, options: ScanOptions = DEFAULT) -> tuple[Array, State]:
        """Runs the cell over time-major ``xs [t, b, d]``; see ``seqjax.core.masking.masked_scan``."""
        params = self.prepare_loop(params)
        if options.resolved().hoist:
            return masked_scan(functools.partial(self.recur, params), state, self.project(params, xs), lengths, unroll=options.unroll, remat=options.remat)
        return masked_scan(functools.partial(self.step, params), state, xs, lengths, unroll=options.unroll, remat=options.remat)

    def check_state(self, state: State, batch_size: int, dtype: DType = jnp.float32, key: PRNGKey | None = None) -> None:
        """Raises ValueError unless ``state`` has the tree and shapes of ``initial_state(batch_size)``
        (``unroll`` calls it on a given ``initial_state``; cells whose state holds per-batch data of
        their own shape, such as ``AttentionDecoder``'s memory, check it themselves)."""
        want = jax.eval_shape(functools.partial(self.initial_state, batch_size, dtype, key=key))
        got_flat, got_def = jax.tree_util.tree_flatten(state)
        want_flat, want_def = jax.tree_util.tree_flatten(want)
        if got_def != want_def or any(tuple(jnp.shape(g)) != tuple(w.shape) for g, w in zip(got_flat, want_flat)):
            raise ValueError(
                f"initial_state must match {type(self).__name__}.initial_state({batch_size}): expected shapes "
                f"{jax.tree_util.tree_map(lambda s: s.shape, want)}, got {jax.tree_util.tree_map(jnp.shape, state)}"
            )

    def param_shapes(self) -> Params:
        """The parameter tree as ``jax.ShapeDtypeStruct`` leaves, without allocating."""
        return _param_shapes(self)


@runtime_checkable
class RecurrentCell(Protocol):
    """What every cell offers (``Cell`` implements it; a cell written from scratch, e.g. around an
    Equinox or Flax NNX module, may implement it directly and ``unroll`` runs it):

    - ``init(key) -> params``: a pytree of arrays;
    - ``initial_state(batch_size, dtype, key=None) -> state``: a pytree, ``[b, ...]`` leaves;
    - ``step(params, state, x [b, d]) -> (state, y [b, o])``: one time step;
    - ``prepare_loop(params) -> params``: what ``step`` reads inside a loop, computed once before it;
    - ``stepper(params) -> (state, x) -> (state, y)``: the prepared step a loop calls;
    - ``scan(params, state, xs [t, b, d], lengths, options=) -> (ys [t, b, o], state)``: the whole
      loop over time, on the fastest path ``options`` allows (``seqjax.kernels.options``);
    - ``final_output(state) -> [b, o]``: the summary vector a many-to-one model pools;
    - ``input_size``, ``hidden_size`` and ``output_dim``.

    What a model needs from a state it asks for through these (and ``state_vectors`` below, for
    the vectors an encoder hands a decoder), never by taking the state apart.
    """

    input_size: int
    hidden_size: int

    @property
    def output_dim(self) -> int: ...

    def init(self, key: PRNGKey) -> Params: ...

    def initial_state(self, batch_size: int | None = None, dtype: DType = jnp.float32, *, key: PRNGKey | None = None) -> State: ...

    def step(self, params: Params, state: State, x: Array) -> tuple[State, Array]: ...

    def prepare_loop(self, params: Params) -> Params: ...

    def stepper(self, params: Params) -> Callable[[State, Array], tuple[State, Array]]: ...

    def scan(self, params: Params, state: State, xs: Array, lengths: Array | None, *, options: ScanOptions = ...) -> tuple[Array, State]: ...

    def final_output(self, state: State) -> Array: ...


@functools.lru_cache(maxsize=256)
def _param_shapes(cell: Cell) -> Params:
    return jax.eval_shape(cell.init, jax.random.key(0))


def frozen(cls):
    """``dataclasses.dataclass(frozen=True)``: cells are immutable and hashable."""
    return dataclasses.dataclass(frozen=True)(cls)


# --- what models read from a state (a bridge from an encoder to a decoder) ---

MASK_FIELDS = ("masks", "input_mask", "recurrent_mask")  # dropout masks of Stack / VariationalDropout states


def state_vectors(state: State) -> list[tuple[str, Array]]:
    """The recurrent vectors of a state (not its dropout masks, not its ``Constant`` memory), with their paths."""
    flat, _ = jax.tree_util.tree_flatten_with_path(state, is_leaf=is_constant)
    return [(jax.tree_util.keystr(path), x) for path, x in flat
            if not is_constant(x) and not any(getattr(p, "name", None) in MASK_FIELDS for p in path)]


def replace_state_vectors(state: State, values: list[Array]) -> State:
    """``state`` with its recurrent vectors (``state_vectors``' order) replaced by ``values``."""
    flat, treedef = jax.tree_util.tree_flatten_with_path(state, is_leaf=is_constant)
    it = iter(values)
    leaves = [x if is_constant(x) or any(getattr(p, "name", None) in MASK_FIELDS for p in path) else next(it)
              for path, x in flat]
    return jax.tree_util.tree_unflatten(treedef, leaves)


def state_batch(state: State) -> int:
    """The batch size of a state (its first leaf's leading axis)."""
    return jax.tree_util.tree_leaves(state)[0].shape[0]
