"""seqjax cells inside Equinox models: ``Recurrent`` is an ``eqx.Module`` whose fields are the cell
(static) and its parameter tree (trainable arrays).

    import equinox as eqx
    from seqjax.interop.equinox import Recurrent

    rnn = Recurrent(seqjax.GRU(16, 32), key=jax.random.key(0))
    ys, state = rnn(xs, lengths=lengths)                 # seqjax.unroll with the module's params
    grads = eqx.filter_grad(loss_fn)(rnn)                # a Recurrent of gradients, like any eqx.Module
    rnn = eqx.apply_updates(rnn, updates)

The cell is a frozen, hashable dataclass, so it is a static field; ``params`` is a plain pytree of
arrays that ``eqx.filter`` / ``eqx.is_array`` select for training.
"""

from __future__ import annotations

import equinox as eqx

from seqjax.sequences.unroll import unroll


class Recurrent(eqx.Module):
    cell: object = eqx.field(static=True)
    params: dict | tuple

    def __init__(self, cell, *, key=None, params=None):
        """``cell`` initialised from ``key``, or given ``params`` (e.g. from ``from_torch``)."""
        if (key is None) == (params is None):
            raise ValueError("Recurrent needs key= (to initialise the cell) or params=, not both")
        self.cell = cell
        self.params = cell.init(key) if params is None else params

    def __call__(self, xs, **unroll_options):
        """``seqjax.unroll(cell, params, xs, **unroll_options)``: ``(ys, final_state)``."""
        return unroll(self.cell, self.params, xs, **unroll_options)

    def step(self, state, x):
        """One step, for generation: ``(new_state, y)``."""
        return self.cell.step(self.params, state, x)
