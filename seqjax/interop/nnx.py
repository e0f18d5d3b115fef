"""seqjax cells inside Flax NNX models: ``Recurrent`` holds a cell's parameters as ``nnx.Param`` leaves.

    from flax import nnx
    from seqjax.interop.nnx import Recurrent

    class Tagger(nnx.Module):
        def __init__(self, rngs):
            self.rnn = Recurrent(seqjax.Bidirectional(seqjax.LSTM(32, 64)), rngs=rngs)
            self.out = nnx.Linear(128, 10, rngs=rngs)

        def __call__(self, xs, lengths):
            ys, _ = self.rnn(xs, lengths=lengths)       # seqjax.unroll with the module's params
            return self.out(ys)

    model = Tagger(nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
    grads = nnx.grad(loss_fn)(model)                    # the cell's gradients arrive like any layer's
    optimizer.update(model, grads)

The cell (a frozen dataclass) is static; its parameter tree becomes a tree of ``nnx.Param``
(registered with ``nnx.data``), so ``nnx.state``, ``nnx.split``/``merge``, optimizers and
checkpointing see it. ``params`` returns the plain tree, e.g. for ``seqjax.to_torch``.
"""

from __future__ import annotations

import jax
from flax import nnx

from seqjax.sequences.unroll import unroll


class Recurrent(nnx.Module):
    def __init__(self, cell, *, rngs: nnx.Rngs, params=None):
        """``cell`` initialised from ``rngs.params()``, or given ``params`` (e.g. from ``from_torch``)."""
        self.cell = cell
        self.weights = nnx.data(jax.tree_util.tree_map(nnx.Param, cell.init(rngs.params()) if params is None else params))

    @property
    def params(self):
        """The cell's parameter tree as plain arrays."""
        return jax.tree_util.tree_map(lambda p: p[...], self.weights, is_leaf=lambda x: isinstance(x, nnx.Param))

    def __call__(self, xs, **unroll_options):
        """``seqjax.unroll(cell, params, xs, **unroll_options)``: ``(ys, final_state)``."""
        return unroll(self.cell, self.params, xs, **unroll_options)

    def step(self, state, x):
        """One step, for generation: ``(new_state, y)``."""
        return self.cell.step(self.params, state, x)
