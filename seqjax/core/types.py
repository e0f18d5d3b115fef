"""Type aliases and the shape legend used in every docstring and comment.

Shape letters:
  b  batch size                 t  number of time steps (sequence length)
  d  input feature size         h  hidden (state) size
  o  output size                g  number of gates (3 for GRU, 4 for LSTM)
  k  number of stored patterns (Hopfield)

Layouts: ``seqjax.unroll`` takes batch-major ``[b, t, d]`` arrays and swaps to
time-major ``[t, b, d]`` once, at the boundary; everything below it (``Cell.scan``)
is time-major, as ``jax.lax.scan`` wants.
"""

from typing import Any

import jax

Array = jax.Array
PRNGKey = jax.Array
Params = Any  # a pytree of arrays (dicts of named arrays in seqjax)
State = Any   # a pytree of arrays, usually a NamedTuple with named fields
DType = Any


def path_string(path) -> str:
    """A tree path as ``"decoder/cell/wx"``: how checkpoints, ``freeze`` and ``max_norm`` name parameters."""
    parts = []
    for entry in path:
        for attr in ("key", "idx", "name"):
            if hasattr(entry, attr):
                parts.append(str(getattr(entry, attr)))
                break
    return "/".join(parts)
