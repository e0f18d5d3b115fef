"""Public model methods compile once per shape, and their value checks still raise.

``@compiled`` on a model method (``logits``, ``loss``, ``predict``, ...) makes an eager call run a
program compiled for the model, the arguments that are not arrays (flags, ``None``, options) and
the shapes and dtypes of the arrays: the first call with a new shape compiles, every later one runs
the program (a small transformer LM's ``logits`` on 2 CPU cores: 0.6 s, then 3.8 ms a call, against
1.9 s and 21 ms op by op; ``python -m benchmarks.first_call``), as a Flax or Equinox user gets from
``nnx.jit`` / ``eqx.filter_jit``. Inside a user's own ``jit``, ``grad`` or ``vmap`` (any
tracer among the arguments) the method runs as written, traced into the caller's program.

An eager call checks values as well as shapes: token ids inside the vocabulary, lengths inside
the time axis, labels inside the classes. Those checks are written once, where the values are
read (``staged_check``): on concrete arrays they raise at once; inside a compiled method they are
``jax.experimental.checkify`` checks, raised as a ``ValueError`` (checkify's ``JaxRuntimeError``)
when the call returns; inside any other trace they cost nothing and the traced code keeps its
documented behaviour (a NaN loss and the row counted as ``invalid``).

Each distinct non-array argument value is a separate program (a float ``sampling_ratio`` changed
every call recompiles every call; pass it as an array to avoid that). ``compilations()`` counts
the programs compiled methods have compiled.
"""

from __future__ import annotations

import contextvars
import functools
import os
from typing import Any, Callable

import jax
import numpy as np
from jax.experimental import checkify

# SEQJAX_OP_BY_OP=1: every method runs as written, one operation at a time (prints inside a method
# show values; value checks raise where they are) -- what jax.disable_jit() also gives, process-wide.
OP_BY_OP = os.environ.get("SEQJAX_OP_BY_OP", "0") not in ("", "0")
_CHECKING = contextvars.ContextVar("seqjax_staged_checks", default=False)
_ARRAYS = (jax.Array, np.ndarray, np.generic)


def staged_check(ok: Callable[[], Any], message: str, **values: Callable[[], Any]) -> None:
    """Inside a compiled model method: ``checkify.check(ok(), message, **values)`` (``message`` formats the
    values with ``{name}``); anywhere else nothing. Call it where an eager check on concrete values
    would raise and a traced one cannot."""
    if _CHECKING.get():
        checkify.check(ok(), message, **{name: value() for name, value in values.items()})


def compiled(method: Callable) -> Callable:
    """The method, compiled once per (model, non-array arguments, array shapes and dtypes); see the module doc."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        leaves, treedef = jax.tree_util.tree_flatten((args, kwargs))
        if OP_BY_OP or _CHECKING.get() or any(isinstance(x, jax.core.Tracer) for x in leaves):
            return method(self, *args, **kwargs)  # inside a trace: part of the caller's program
        arrays = tuple(i for i, x in enumerate(leaves) if isinstance(x, _ARRAYS))
        static = tuple((i, x) for i, x in enumerate(leaves) if not isinstance(x, _ARRAYS))
        try:
            program = _program(method, self, treedef, arrays, static)
        except TypeError:  # an argument (or the model) that cannot be hashed: run as written
            return method(self, *args, **kwargs)
        error, out = program([leaves[i] for i in arrays])
        error.throw()
        return out

    wrapper.__doc__ = (method.__doc__ or "").rstrip() + NOTE
    wrapper.compiled = True
    return wrapper


NOTE = ("\n\n        Called eagerly, this method compiles once per shape (``seqjax.core.compiled``); inside your own"
        "\n        ``jit``, ``grad`` or ``vmap`` it is traced as written.")


_TRACES = [0]  # programs traced (and so compiled) by compiled methods: each new (model, arguments, shapes) adds one


@functools.lru_cache(maxsize=512)
def _program(method, model, treedef, arrays: tuple[int, ...], static: tuple):
    def run(values):
        _TRACES[0] += 1
        leaves = [None] * (len(arrays) + len(static))
        for i, value in zip(arrays, values):
            leaves[i] = value
        for i, value in static:
            leaves[i] = value
        args, kwargs = jax.tree_util.tree_unflatten(treedef, leaves)
        token = _CHECKING.set(True)
        try:
            return method(model, *args, **kwargs)
        finally:
            _CHECKING.reset(token)

    return jax.jit(checkify.checkify(run, errors=checkify.user_checks))


def compilations() -> int:
    """How many programs the ``@compiled`` methods have compiled: one per (model, non-array arguments,
    array shapes and dtypes) seen, on its first call."""
    return _TRACES[0]


def clear() -> None:
    """Forgets every compiled program (``jax.clear_caches`` frees the executables too); the count stays."""
    _program.cache_clear()
